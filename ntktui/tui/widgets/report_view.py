"""A Report's blocks, in order: plots (PlotView), tables (TableBlock) and notes, in a column that
scrolls from the keyboard. Plots take the room the terminal gives (taller on a tall terminal) and
stand side by side where it is wide enough. A partial Report of the same shape updates the
widgets in place, so a table fills row by row without the view jumping.

A table wider than the view keeps its first column in view, wraps its column names onto two
lines if that makes it fit, and otherwise says how many columns lie to the side and how to
scroll to them."""

from __future__ import annotations

import re

from rich.text import Text
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from ntktui.tui.widgets.plot_view import PLOT_ROWS, PlotView

CLI_HEIGHT = 20  # render.DEFAULT_HEIGHT (render imports numpy: not before the first screen)

MIN_PANEL = 56  # columns a plot needs to stand beside another
MAX_PLOT_ROWS = 40
SHOW_BELOW = 3  # rows under a plot that fills the view, to show that more follows


class TableBlock(Vertical):
    """A report Table: its title, a DataTable of the formatted values, and a hint when columns
    lie beyond the right edge."""

    DEFAULT_CSS = """
    TableBlock { height: auto; margin: 1 0 0 0; }
    TableBlock > .title { text-style: bold; }
    TableBlock > DataTable { height: auto; max-height: 40; }
    TableBlock > DataTable:focus { background: $boost; }
    TableBlock > .more { color: $warning; height: auto; }
    """

    def __init__(self, table, **kwargs):
        super().__init__(**kwargs)
        self.table = table
        self._wrapped = False

    def compose(self):
        yield Static(self.table.title, classes="title", markup=False)
        yield Static(classes="more", markup=False)  # above the rows: seen before scrolling
        yield DataTable(show_cursor=False, zebra_stripes=True, fixed_columns=1)

    def on_mount(self) -> None:
        grid = self.query_one(DataTable)
        self.watch(grid, "scroll_x", lambda _: self._hint(), init=False)
        self._fill()

    def on_resize(self) -> None:
        if self._needs_wrap() != self._wrapped:
            self._fill()
        else:
            self.call_after_refresh(self._hint)

    def update(self, table) -> None:
        self.table = table
        self.query_one(".title", Static).update(Text(table.title))
        self._fill()

    def _cells(self) -> list[list[str]]:
        from ntktui.output import fmt

        return [[compact(fmt(v)) for v in row] for row in self.table.rows]

    def _natural_width(self, labels, cells) -> int:
        widths = [max([_label_width(c)] + [len(r[i]) for r in cells if i < len(r)])
                  for i, c in enumerate(labels)]
        return sum(w + 2 for w in widths)

    def _available(self) -> int:
        width = self.size.width or (self.app.size.width - 4)
        return max(20, width)

    def _needs_wrap(self) -> bool:
        cells = self._cells()
        return self._natural_width(self.table.columns, cells) > self._available()

    def _fill(self) -> None:
        grid = self.query_one(DataTable)
        cells = self._cells()
        self._wrapped = self._natural_width(self.table.columns, cells) > self._available()
        labels = [wrap_label(c) if self._wrapped else c for c in self.table.columns]
        grid.clear(columns=True)
        grid.header_height = max(len(str(label).split("\n")) for label in labels) if labels else 1
        grid.add_columns(*(Text(str(label)) for label in labels))
        grid.add_rows(cells)
        self.call_after_refresh(self._hint)

    def hidden_columns(self) -> list[str]:
        """The columns (by name) that lie beyond the right edge of the view."""
        grid = self.query_one(DataTable)
        if not grid.size.width:
            return []
        x, hidden = -grid.scroll_x, []
        for i, column in enumerate(grid.ordered_columns):
            x += column.get_render_width(grid)
            if x > grid.size.width and i >= grid.fixed_columns:
                hidden.append(self.table.columns[i])
        return hidden

    def _hint(self) -> None:
        # Called after a refresh: by then a newer report may have replaced this block and its
        # children are gone (seen when a cancelled run's table was redrawn during an export).
        more, grids = self.query(".more"), self.query(DataTable)
        if not self.is_attached or not more or not grids:
            return
        more, grid = more.first(Static), grids.first()
        hidden = self.hidden_columns()
        left = grid.scroll_x > 0
        if not hidden and not left:
            more.update("")
            more.display = False
            return
        parts = []
        if hidden:
            names = ", ".join(hidden[:4]) + (", …" if len(hidden) > 4 else "")
            parts.append(f"→ {len(hidden)} more column{'s' if len(hidden) > 1 else ''} to the "
                         f"right ({names})")
        if left:
            parts.append("← more to the left")
        parts.append("tab to the table, then ←/→ scroll it")
        more.update("; ".join(parts))
        more.display = True

    def cells(self) -> list[list[str]]:
        """What the table shows, cell by cell, as text."""
        grid = self.query_one(DataTable)
        return [[str(c) for c in grid.get_row_at(i)] for i in range(grid.row_count)]


def compact(text: str) -> str:
    """A number as the CLI prints it, its exponent without sign or leading zeros: "2.255e+05" →
    "2.255e5", "1.2e-07" → "1.2e-7" (two columns fewer per number in a wide table)."""
    return _EXPONENT.sub(lambda m: "e" + ("-" if m.group(1) == "-" else "") + m.group(2), text)


_EXPONENT = re.compile(r"(?<=\d)e([+-])0*(\d+)$")


def _label_width(label: str) -> int:
    return max(len(line) for line in str(label).split("\n"))


def wrap_label(label: str) -> str:
    """A column name on two lines where it has a natural break: "abrelu(3,1)" → "abrelu" /
    "(3,1)", "relu 1°" → "relu" / "1°"."""
    text = str(label)
    if len(text) <= 6:
        return text
    for sep in (" ", "("):
        cut = text.find(sep, 1)
        if cut > 0:
            head, tail = text[:cut], text[cut:].strip()
            return f"{head}\n{tail}"
    return text


class ReportView(VerticalScroll, can_focus=True):
    DEFAULT_CSS = """
    ReportView { height: 1fr; padding: 0 1; }
    ReportView > .note { height: auto; }
    ReportView > .panels { height: auto; }
    ReportView > .panels > PlotView { width: 1fr; margin-right: 1; }
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.report = None
        self.views: dict = {}  # plot index → render.View
        self._widgets: list = []  # one widget per block, in block order
        self._per_row = 1

    # --- layout ---

    def per_row(self) -> int:
        width = self.size.width or self.app.size.width
        return max(1, min(3, width // MIN_PANEL))

    def plot_rows(self, preferred: int | None) -> int:
        """A plot's rows: the view's height less a few rows (so that what follows shows), between
        the preferred height and MAX_PLOT_ROWS; a small plot (preferred under the CLI's 20
        rows) grows in proportion."""
        height = self.size.height or (self.app.size.height - 5)
        base = max(12, min(MAX_PLOT_ROWS, height - SHOW_BELOW)) if height else PLOT_ROWS
        if preferred:
            return max(preferred, min(base, round(preferred * base / CLI_HEIGHT)))
        return base

    def on_resize(self) -> None:
        if self.report is None:
            return
        if self.per_row() != self._per_row:
            self.call_later(self._rebuild)
            return
        for widget, block in zip(self._widgets, self.report.blocks):
            if isinstance(widget, PlotView):
                widget.rows = self.plot_rows(getattr(block, "height", None))

    async def _rebuild(self) -> None:
        if self.report is not None:
            report, self.report = self.report, None
            await self.show(report, self.views)

    # --- content ---

    def plot_views(self) -> list[PlotView]:
        """The plots in order (index i is the Report's i-th plot)."""
        return [w for w in self._widgets if isinstance(w, PlotView)]

    async def show(self, report, views: dict | None = None) -> None:
        from ntktui.render import View

        old = self.report
        self.report = report
        self.views = dict(views or {})
        per_row = self.per_row()
        if old is not None and _shape(old) == _shape(report) and per_row == self._per_row:
            index = 0
            for widget, block in zip(self._widgets, report.blocks):
                _update(widget, block)
                if isinstance(widget, PlotView):
                    widget.view = self.views.get(index, View(numbered=True))
                    index += 1
            return
        self._per_row = per_row
        focused_plot = self._focused_plot_index()
        await self.remove_children()
        self._widgets = []
        children, row = [], []
        index = 0
        for block in report.blocks:
            widget = self._widget(block, index)
            if isinstance(widget, PlotView):
                index += 1
            self._widgets.append(widget)
            if isinstance(widget, PlotView) and per_row > 1:
                row.append(widget)
                if len(row) == per_row:
                    children.append(Horizontal(*row, classes="panels"))
                    row = []
                continue
            if row:
                children.append(Horizontal(*row, classes="panels") if len(row) > 1 else row[0])
                row = []
            children.append(widget)
        if row:
            children.append(Horizontal(*row, classes="panels") if len(row) > 1 else row[0])
        await self.mount_all(children)
        plots = self.plot_views()
        if focused_plot is not None and plots:
            plots[min(focused_plot, len(plots) - 1)].focus()

    def set_views(self, views: dict) -> None:
        from ntktui.render import View

        self.views = dict(views)
        for i, widget in enumerate(self.plot_views()):
            widget.view = self.views.get(i, View(numbered=True))

    def _focused_plot_index(self) -> int | None:
        focused = self.screen.focused if self.is_mounted else None
        plots = self.plot_views()
        return plots.index(focused) if focused in plots else None

    def _widget(self, block, index: int):
        from ntktui.render import View

        kind = _kind(block)
        if kind == "plot":
            return PlotView(block, rows=self.plot_rows(getattr(block, "height", None)),
                            view=self.views.get(index, View(numbered=True)))
        if kind == "table":
            return TableBlock(block)
        return Static(Text.from_markup(block.text), classes="note")

    async def clear(self) -> None:
        self.report = None
        self._widgets = []
        await self.remove_children()


def _kind(block) -> str:
    from ntktui.render import ImageGrid, Plot
    from ntktui.report import Note, Table

    for kind, cls in (("plot", Plot), ("plot", ImageGrid), ("table", Table), ("note", Note)):
        if isinstance(block, cls):
            return kind
    raise TypeError(f"not a report block: {type(block).__name__}")


def _shape(report) -> tuple[str, ...]:
    return tuple(_kind(b) for b in report.blocks)


def _update(widget, block) -> None:
    kind = _kind(block)
    if kind == "plot":
        widget.plot = block
    elif kind == "table":
        widget.update(block)
    else:
        widget.update(Text.from_markup(block.text))
