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


def result_payload(report, command: str | None = None) -> dict:
    """What every analysis's JSON and saved result.json hold: the payload, whether the run was
    interrupted (one key for every analysis), and its provenance."""
    from ntktui.provenance import provenance

    return {**report.payload, "interrupted": not report.complete,
            "provenance": provenance(command)}


def emit_json(payload: dict) -> None:
    sys.stdout.write(json.dumps(to_jsonable(payload)) + "\n")
    sys.stdout.flush()


def write_atomic(path: str, write, binary: bool = False) -> None:
    """Replace `path` in one step: `write(fh)` fills a temporary file beside it, renamed over it
    when complete, so an interrupted or failed write leaves the previous file (or none), never
    half of one."""
    import os
    import tempfile

    from ntktui.errors import UserError

    target = os.path.abspath(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".ntk-", dir=os.path.dirname(target))
        with os.fdopen(fd, "wb" if binary else "w") as fh:
            write(fh)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a result file is an ordinary file
        os.replace(tmp, target)
    except BaseException as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise


def write_json_atomic(path: str, payload: dict) -> None:
    def write(fh):
        json.dump(to_jsonable(payload), fh, indent=1)
        fh.write("\n")

    write_atomic(path, write)


def stdout_console(color: bool | None = None):
    """The console for data on stdout: colour as the terminal allows (None: off in a pipe and
    under NO_COLOR), forced on (--color) or off (--no-color)."""
    from rich.console import Console

    if color is None:
        return Console()
    if color:
        return Console(force_terminal=True)
    return Console(color_system=None, no_color=True)


def stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def show(*blocks, console=None) -> None:
    """Print plot text (str with ANSI) and rich renderables or markup strings, in order."""
    from rich.text import Text

    console = console or stdout_console()
    for block in blocks:
        if isinstance(block, str) and ("\x1b[" in block or "\n" in block):
            console.print(Text.from_ansi(block), soft_wrap=True)
        else:
            console.print(block)


def _is_number(value) -> bool:
    return value is None or (isinstance(value, (int, float, np.integer, np.floating))
                             and not isinstance(value, (bool, np.bool_)))


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence], width: int | None = None):
    """The rows as rich tables that fit `width` columns (all of them when None). Numbers are
    never cut or wrapped: a table too wide is split into several, each repeating the first
    column, titled "(columns 2–5 of 9)"; text columns may wrap."""
    from rich.cells import cell_len
    from rich.table import Table

    rows = [list(r) for r in rows]
    cells = [[fmt(v) for v in r] for r in rows]
    numeric = [i > 0 and all(_is_number(r[i]) or r[i] in ("below floor", "diverged")
                             for r in rows) for i in range(len(columns))]
    natural = [max([cell_len(str(c)), *(cell_len(r[i]) for r in cells)])
               for i, c in enumerate(columns)]
    need = [n if numeric[i] else min(n, 12) for i, n in enumerate(natural)]  # text may wrap

    groups = [list(range(1, len(columns)))]
    if width is not None and sum(w + 3 for w in need) + 1 > width and len(columns) > 2:
        groups, current, used = [], [], need[0] + 4
        for i in range(1, len(columns)):
            if current and used + need[i] + 3 > width:
                groups.append(current)
                current, used = [], need[0] + 4
            current.append(i)
            used += need[i] + 3
        groups.append(current)

    out = []
    for group in groups:
        span = (f"column {group[0] + 1}" if len(group) == 1 else
                f"columns {group[0] + 1}–{group[-1] + 1}")
        label = title if len(groups) == 1 else f"{title} ({span} of {len(columns)})"
        t = Table(title=label, title_justify="left")
        for i in (0, *group):
            t.add_column(columns[i], justify="left" if i == 0 else "right",
                         no_wrap=numeric[i], min_width=natural[i] if numeric[i] else None)
        for r in cells:
            t.add_row(*(r[i] for i in (0, *group)))
        out.append(t)
    return out


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


def deliver(study, values: dict, as_json: bool, plot_width: int | None = None,
            quiet: bool = False, color: bool | None = None, save: str | None = None) -> None:
    """A study's command: its analysis with a progress bar, then its JSON or its plots and tables,
    and its figures saved (--save FILE). On Ctrl-C the work finished so far is printed (marked
    interrupted) and saved before the exit."""
    report, interrupted = analysed(study, values, quiet)
    emit_report(report, as_json, plot_width, color)
    if save is not None:
        save_figures(report, save, quiet)
    if interrupted:
        raise KeyboardInterrupt


def save_figures(report, path: str, quiet: bool = False) -> list[str]:
    """--save FILE: the Report's figures (ntktui.figures), and a line on stderr naming them."""
    from ntktui.figures import save

    written = save(report, path)
    if not quiet:
        sys.stderr.write(f"saved {', '.join(written)}\n" if written else
                         f"no plots to save as {path}\n")
    return written


def analysed(study, values: dict, quiet: bool = False):
    """(Report, interrupted): the study's analysis under a CLI progress bar (none when quiet or
    stderr is not a terminal). On Ctrl-C, the last partial Report marked interrupted (or
    KeyboardInterrupt again if nothing finished)."""
    progress = CliProgress(enabled=False if quiet else None)
    try:
        with progress:
            return study.analyse(progress, **values), False
    except KeyboardInterrupt:
        partial = progress.partial
        if partial is None:
            raise
        note = INTERRUPTED if partial.blocks else "interrupted before anything finished"
        return partial.interrupted(note), True


def emit_report(report, as_json: bool, plot_width: int | None = None,
                color: bool | None = None) -> None:
    if as_json:
        emit_json(result_payload(report))
        return
    console = stdout_console(color)
    # Plots are drawn in colour exactly when the console shows it; without, each series gets
    # its own marker (the renderer's monochrome mode).
    show(*printable(report, plot_width, console.color_system is not None, console.width),
         console=console)


def printable(report, width: int | None = None, color: bool | None = None,
              table_width: int | None = None) -> list:
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
            out.extend(table(block.title, block.columns, block.rows, table_width or width))
        elif isinstance(block, Note):
            out.append(block.text)
        else:
            raise TypeError(f"not a report block: {type(block).__name__}")
    return out


def report_text(report, width: int = 100) -> str:
    """The Report as plain text, exactly as `NO_COLOR=1 ntk … ` prints it (for saved files)."""
    import io

    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None, force_terminal=False,
                      no_color=True, highlight=False)
    show(*printable(report, width, color=False), console=console)
    return buf.getvalue()
