"""Request rate per player (and per address before sign-in), and failed token checks per
address: token buckets.

Each key has a bucket of `burst` tokens refilled at `rate` a second; a request takes one
(for failed token checks: each failure takes one, and `wait` tells without taking whether
the address may try now). Buckets that have refilled completely are forgotten, so memory
follows active callers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sweep_every: float = 60.0,
    ) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._sweep_every = sweep_every
        self._last_sweep = clock()

    def take(self, key: str) -> float:
        """0.0 when allowed, else the seconds to wait before the next request."""
        if self.rate <= 0:  # no limit configured
            return 0.0
        now = self._clock()
        if now - self._last_sweep > self._sweep_every:
            self._sweep(now)
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens - 1.0, now)
        return 0.0

    def wait(self, key: str) -> float:
        """Like `take`, without taking: 0.0 when one could be taken now."""
        if self.rate <= 0:
            return 0.0
        entry = self._buckets.get(key)
        if entry is None:
            return 0.0
        tokens, at = entry
        tokens = min(self.burst, tokens + (self._clock() - at) * self.rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def _sweep(self, now: float) -> None:
        full = [
            k for k, (t, at) in self._buckets.items() if t + (now - at) * self.rate >= self.burst
        ]
        for k in full:
            del self._buckets[k]
        self._last_sweep = now

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after_header(seconds: float) -> str:
    """Retry-After takes whole seconds; round up so a client that obeys it gets through."""
    return str(max(1, math.ceil(seconds)))
