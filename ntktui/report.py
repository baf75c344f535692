"""An analysis's result as explicit data, shared by the CLI and the dashboard.

Every analysis (ntktui.studies) has `analyse(progress, **values) -> Report`: the numbers
(`payload`, exactly what `--json` prints) and what a person looks at (`blocks`: plots, image grids,
tables and notes, in order). Its parameters are keyword-only with no defaults: they are declared
once, as Params in the study's module, and every front end fills them in from there. The CLI
prints the blocks (`output.printable`), the dashboard shows them in widgets, and export writes
both, so no front end computes anything of its own. In Python and Jupyter a Report shows itself
as HTML (its figures and tables) and `report.figures()` gives one matplotlib figure per plot
(ntktui.figures, the optional extra `ntktui[figures]`).

Long analyses call `progress.step(partial=...)` between chunks of work with the Report of the
work finished so far: the CLI draws a progress bar and, on Ctrl-C, prints the last partial Report;
the dashboard fills its panels row by row and raises `Cancelled` from `step` when the user
cancels. A running XLA program cannot be interrupted, so a chunk is the unit of cancellation.

This module imports nothing heavy: the dashboard and `--help` load it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, Union

if TYPE_CHECKING:  # render imports numpy; this module stays light for --help
    from ntktui.render import ImageGrid, Plot


@dataclass(frozen=True)
class Table:
    """Rows of raw values (numbers, strings, None for "—"); each front end formats them."""

    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]


@dataclass(frozen=True)
class Note:
    """A line of text between blocks (rich markup: "[dim]…[/dim]")."""

    text: str


Block = Union["Plot", "ImageGrid", Table, Note]


@dataclass(frozen=True)
class Control:
    """A parameter the dashboard can change at once, without redoing the expensive part (the GD
    step η and the step count T of the mask curves): a key press multiplies or divides it by
    `factor` within [lo, hi]; `Report.adjust(name=value)` returns the redrawn Report."""

    name: str  # analyse()'s keyword, e.g. "eta"
    label: str  # as shown: "η·σ₁²"
    value: float
    lo: float
    hi: float
    factor: float
    integer: bool = False
    # A view of the same results (which band, checkpoint or network is shown in detail), not a
    # parameter: it changes what is shown, never the run's settings or its command line.
    view: bool = False

    def moved(self, direction: int) -> float:
        """The value one key press away (direction −1 or +1), kept inside [lo, hi]."""
        value = self.value * self.factor ** direction
        if self.integer:
            value = float(round(value))
            if value == self.value:
                value += direction
        return min(self.hi, max(self.lo, value))


@dataclass(frozen=True)
class Report:
    payload: Mapping[str, Any]
    blocks: Sequence[Block]
    complete: bool = True
    controls: Sequence[Control] = ()
    # adjust(**{control.name: value}) → a new Report, cheap (no compilation, no large work).
    adjust: Callable[..., "Report"] | None = field(default=None, compare=False)

    def plots(self) -> list["Plot"]:
        from ntktui.render import Plot

        return [b for b in self.blocks if isinstance(b, Plot)]

    def tables(self) -> list[Table]:
        return [b for b in self.blocks if isinstance(b, Table)]

    def figures(self) -> list:
        """One matplotlib Figure per plot or image grid, in order (ntktui.figures; needs
        `pip install 'ntktui[figures]'`)."""
        from ntktui.figures import figures

        return figures(self)

    def save_figures(self, path) -> list[str]:
        """The figures as PATH.svg|.png|.pdf (several: PATH-1.svg, PATH-2.svg, …); the paths."""
        from ntktui.figures import save

        return save(self, path)

    def _repr_html_(self) -> str:
        """Jupyter shows a Report as its figures (inline SVG), tables and notes."""
        from ntktui.figures import html

        return html(self)

    def interrupted(self, note: str) -> "Report":
        """This partial Report marked as stopped early (its payload says "interrupted": true)."""
        return replace(self, payload={**self.payload, "interrupted": True},
                       blocks=(*self.blocks, Note(f"[yellow]{note}[/yellow]")), complete=False)


class Cancelled(Exception):
    """Raised by a front end's Progress.step to stop an analysis between chunks."""


class Progress:
    """What an analysis tells the front end while it works. This base class ignores it all (for
    tests and scripts); the CLI's draws a bar, the dashboard's posts messages."""

    def begin(self, label: str, total: int) -> None:
        """Work in `total` equal steps is starting (called again for a second stage)."""

    def step(self, n: int = 1, partial: Report | None = None) -> None:
        """`n` steps are done; `partial` is the Report so far. May raise Cancelled."""


SILENT = Progress()


def compute(name: str, progress: Progress | None = None, **params) -> Report:
    """Run an analysis from Python: `compute("spectrum", act=["relu"], width=64)`. Parameters
    are read by their declared Params (as in a preset: Python values or text); those not given
    take their defaults."""
    from ntktui import studies

    study = studies.get(name)
    return study.analyse(progress or SILENT, **study.values(params))
