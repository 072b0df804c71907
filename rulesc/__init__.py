"""rulesc: compile game rules into a server-authoritative backend."""

__version__ = "0.1.0"
