"""The lines under the header: what runs, how far it is, how long it has taken, which run it is
and at which sizes (quick or full); a long message wraps rather than being cut."""

from __future__ import annotations

import time
from typing import Callable

from rich.text import Text
from textual.widgets import Static

BAR = 16


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine { height: auto; max-height: 4; width: 1fr; background: $boost; padding: 0 1; }
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, **kwargs):
        super().__init__(**kwargs)
        self.clock = clock  # injectable: tests and snapshots freeze it
        self.state = "idle"  # idle, running, cancelling, done, cancelled, failed
        self.label, self.done, self.total = "", 0, 0
        self.started = self.finished = None
        self.message = ""
        self.run = ""  # "run 3"
        self.mode = ""  # "quick sizes" or "full sizes"

    def on_mount(self) -> None:
        self.set_interval(0.5, self._tick)
        self._draw()

    def start(self, run: str = "") -> None:
        self.state, self.label, self.done, self.total = "running", "starting", 0, 0
        self.started, self.finished, self.message, self.run = self.clock(), None, "", run
        self._draw()

    def set_mode(self, quick: bool) -> None:
        self.mode = "quick sizes" if quick else "full sizes"
        self._draw()

    def progress(self, label: str, done: int, total: int) -> None:
        self.label, self.done, self.total = label, done, total
        self._draw()

    def stop(self, state: str, message: str = "") -> None:
        self.state, self.message = state, message
        if state == "done" and self.total:
            self.done = self.total  # a finished run is whole, whatever its last tick said
        if state != "cancelling":
            self.finished = self.clock()
        self._draw()

    def show_message(self, message: str) -> None:
        self.message = message
        self._draw()

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        end = self.finished if self.finished is not None else self.clock()
        return end - self.started

    def _tick(self) -> None:
        if self.state in ("running", "cancelling"):
            self._draw()

    def _draw(self) -> None:
        style = {"running": "bold yellow", "cancelling": "bold magenta", "done": "bold green",
                 "cancelled": "bold magenta", "failed": "bold red"}.get(self.state, "dim")
        text = Text(self.state, style=style)
        if self.total:
            filled = round(BAR * self.done / self.total)
            text.append(f"  {self.label} ")
            text.append("█" * filled + "░" * (BAR - filled), style="cyan")
            text.append(f" {self.done}/{self.total}")
        elif self.state == "running":
            text.append(f"  {self.label}")
        if self.started is not None:
            text.append(f"  {self.elapsed:.1f} s")
        tags = " · ".join(t for t in (self.run, self.mode) if t)
        if tags:
            text.append(f"  {tags}", style="bold")
        if self.message:
            text.append(f"  {self.message}", style="dim" if self.state != "failed" else "red")
        self.update(text)
