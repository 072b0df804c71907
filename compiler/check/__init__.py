"""The checker, as passes over the parsed rules (see driver.py for their order)."""

from .context import did_you_mean
from .driver import check_game
from .memo import ActionMemo
from .scenarios import EMPTY

__all__ = ["EMPTY", "ActionMemo", "check_game", "did_you_mean"]
