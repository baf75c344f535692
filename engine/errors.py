"""Errors the engine raises for inputs it refuses. Front ends turn them into one-line messages."""


class EngineError(ValueError):
    """A request the engine refuses, with a message fit to show the user as it is."""


class InsufficientMemory(EngineError):
    """The matrices a request needs would not fit in the memory available."""

    def __init__(self, what: str, needed: int, available: int, hint: str = ""):
        self.needed = needed
        self.available = available
        super().__init__(
            f"{what} would need {format_bytes(needed)} but only {format_bytes(available)} is "
            f"available{hint}"
        )


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")
