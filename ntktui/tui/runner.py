"""How an analysis running in a worker thread talks to the dashboard: a Progress that posts
messages (post_message does not block the worker) and raises Cancelled between chunks once the
worker is cancelled."""

from __future__ import annotations

import time

from textual.message import Message

from ntktui.report import Cancelled, Progress

# Progress ticks without new data are posted at most this often (each redraws the status line).
TICK_S = 0.1


class Progressed(Message):
    """`done` of `total` steps of stage `label`; `partial` is the Report so far (or None)."""

    def __init__(self, run: int, label: str, done: int, total: int, partial=None):
        super().__init__()
        self.run, self.label, self.done, self.total, self.partial = run, label, done, total, partial


class Stopped(Message):
    """Run `run`'s thread has returned: finished, failed or stopped after a cancel."""

    def __init__(self, run: int):
        super().__init__()
        self.run = run


class TuiProgress(Progress):
    def __init__(self, target, worker, run: int):
        self.target, self.worker, self.run = target, worker, run
        self.label, self.done, self.total = "", 0, 0
        self._posted = 0.0

    def _check(self) -> None:
        if self.worker.is_cancelled:
            raise Cancelled()

    def begin(self, label: str, total: int) -> None:
        self._check()
        self.label, self.done, self.total = label, 0, total
        self._post(None)

    def step(self, n: int = 1, partial=None) -> None:
        self._check()
        self.done += n
        if partial is not None or self.done >= self.total or \
                time.monotonic() - self._posted >= TICK_S:
            self._post(partial)

    def _post(self, partial) -> None:
        self._posted = time.monotonic()
        self.target.post_message(Progressed(self.run, self.label, self.done, self.total, partial))
