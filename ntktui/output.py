"""What every command writes: one JSON object on stdout (--json), or a plot and a table.

Diagnostics and progress go to stderr so that stdout stays data.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Iterable, Sequence

import numpy as np


def to_jsonable(obj):
    """numpy arrays and scalars as plain JSON; non-finite floats as null."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    return obj


def resolved_list(values, keep) -> list:
    """Floats, with None where `keep` is False (values below the round-off floor are not results)."""
    return [float(v) if ok else None for v, ok in zip(values, keep)]


def emit_json(payload: dict) -> None:
    sys.stdout.write(json.dumps(to_jsonable(payload)) + "\n")
    sys.stdout.flush()


def write_json_atomic(path: str, payload: dict) -> None:
    """Replace `path` with the payload in one step (a temporary file renamed over it), so an
    interrupted run leaves either the previous complete file or the new one, never half of one."""
    import os
    import tempfile

    from ntktui.errors import UserError

    target = os.path.abspath(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".ntk-", suffix=".json", dir=os.path.dirname(target))
        with os.fdopen(fd, "w") as fh:
            json.dump(to_jsonable(payload), fh, indent=1)
            fh.write("\n")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a result file is an ordinary file
        os.replace(tmp, target)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None


def stdout_console():
    from rich.console import Console

    return Console()


def stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def show(*blocks) -> None:
    """Print plot text (str with ANSI) and rich renderables or markup strings to stdout, in order."""
    from rich.text import Text

    console = stdout_console()
    for block in blocks:
        if isinstance(block, str) and ("\x1b[" in block or "\n" in block):
            console.print(Text.from_ansi(block), soft_wrap=True)
        else:
            console.print(block)


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence]):
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for i, col in enumerate(columns):
        t.add_column(col, justify="left" if i == 0 else "right")
    for row in rows:
        t.add_row(*(fmt(v) for v in row))
    return t


def fmt(value) -> str:
    """Numbers as a person reads them in a table."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    f = float(value)
    if not math.isfinite(f):
        return "—"
    if f != 0 and (abs(f) >= 1e5 or abs(f) < 1e-3):
        return f"{f:.3e}"
    return f"{f:.4g}"


# ---------------------------------------------------------------------------------------------
# Reports (ntktui.report): how the CLI prints an analysis and how export writes one.

INTERRUPTED = "interrupted: the rows above are the finished ones"


class CliProgress:
    """The CLI's Progress (ntktui.report): a rich bar on stderr when it is a terminal, and the
    last partial Report, printed if Ctrl-C stops the analysis."""

    def __init__(self, enabled: bool | None = None):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.partial = None
        self._bar = self._task = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def begin(self, label: str, total: int) -> None:
        if not self.enabled:
            return
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn)

        if self._bar is None:
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=stderr_console(), transient=True)
            self._bar.start()
        elif self._task is not None:
            self._bar.remove_task(self._task)
        self._task = self._bar.add_task(label, total=total)

    def step(self, n: int = 1, partial=None) -> None:
        if partial is not None:
            self.partial = partial
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, n)


def deliver(study, values: dict, as_json: bool, plot_width: int | None = None) -> None:
    """A study's command: its analysis with a progress bar, then its JSON or its plots and tables.
    On Ctrl-C the work finished so far is printed (marked interrupted) before the exit."""
    report, interrupted = analysed(study, values)
    emit_report(report, as_json, plot_width)
    if interrupted:
        raise KeyboardInterrupt


def analysed(study, values: dict):
    """(Report, interrupted): the study's analysis under a CLI progress bar. On Ctrl-C, the
    last partial Report marked interrupted (or KeyboardInterrupt again if nothing finished)."""
    progress = CliProgress()
    try:
        with progress:
            return study.analyse(progress, **values), False
    except KeyboardInterrupt:
        partial = progress.partial
        if partial is None:
            raise
        note = INTERRUPTED if partial.blocks else "interrupted before anything finished"
        return partial.interrupted(note), True


def emit_report(report, as_json: bool, plot_width: int | None = None) -> None:
    if as_json:
        emit_json(dict(report.payload))
    else:
        show(*printable(report, plot_width))


def printable(report, width: int | None = None, color: bool | None = None) -> list:
    """The Report's blocks as show() takes them: plot text, rich tables and markup lines."""
    from ntktui.render import ImageGrid, Plot, render, render_images
    from ntktui.report import Note, Table

    out = []
    for block in report.blocks:
        if isinstance(block, Plot):
            out.append(render(block, width=width, height=block.height, color=color))
        elif isinstance(block, ImageGrid):
            out.append(render_images(block, width=width, color=color))
        elif isinstance(block, Table):
            out.append(table(block.title, block.columns, block.rows))
        elif isinstance(block, Note):
            out.append(block.text)
        else:
            raise TypeError(f"not a report block: {type(block).__name__}")
    return out


def report_text(report, width: int = 100) -> str:
    """The Report as plain text, exactly as `NO_COLOR=1 ntk … ` prints it (for saved files)."""
    import io

    from rich.console import Console
    from rich.text import Text

    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None, force_terminal=False,
                      no_color=True, highlight=False)
    for block in printable(report, width, color=False):
        if isinstance(block, str) and "\n" in block:
            console.print(Text.from_ansi(block), soft_wrap=True)
        else:
            console.print(block)
    return buf.getvalue()
