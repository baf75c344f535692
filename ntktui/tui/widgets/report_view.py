"""A Report's blocks, in order: plots (PlotView), tables (TableBlock) and notes, in a column that
scrolls from the keyboard. A partial Report of the same shape updates the widgets in place, so
a table fills row by row without the view jumping."""

from __future__ import annotations

from rich.text import Text
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from ntktui.tui.widgets.plot_view import PlotView


class TableBlock(Vertical):
    """A report Table: its title and a DataTable of the formatted values."""

    DEFAULT_CSS = """
    TableBlock { height: auto; margin: 1 0 0 0; }
    TableBlock > .title { text-style: bold; }
    TableBlock > DataTable { height: auto; max-height: 40; }
    """

    def __init__(self, table, **kwargs):
        super().__init__(**kwargs)
        self.table = table

    def compose(self):
        yield Static(self.table.title, classes="title", markup=False)
        yield DataTable(show_cursor=False, zebra_stripes=True)

    def on_mount(self) -> None:
        self._fill()

    def update(self, table) -> None:
        self.table = table
        self.query_one(".title", Static).update(Text(table.title))
        self._fill()

    def _fill(self) -> None:
        from ntktui.output import fmt

        grid = self.query_one(DataTable)
        grid.clear(columns=True)
        grid.add_columns(*self.table.columns)
        grid.add_rows([[fmt(v) for v in row] for row in self.table.rows])

    def cells(self) -> list[list[str]]:
        """What the table shows, cell by cell, as text."""
        grid = self.query_one(DataTable)
        return [[str(c) for c in grid.get_row_at(i)] for i in range(grid.row_count)]


class ReportView(VerticalScroll, can_focus=True):
    DEFAULT_CSS = """
    ReportView { height: 1fr; padding: 0 1; }
    ReportView > .note { height: auto; }
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.report = None

    async def show(self, report) -> None:
        old = self.report
        self.report = report
        if old is not None and _shape(old) == _shape(report):
            for widget, block in zip(self.children, report.blocks):
                _update(widget, block)
            return
        await self.remove_children()
        await self.mount_all([_widget(b) for b in report.blocks])

    async def clear(self) -> None:
        self.report = None
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


def _widget(block):
    kind = _kind(block)
    if kind == "plot":
        return PlotView(block)
    if kind == "table":
        return TableBlock(block)
    return Static(Text.from_markup(block.text), classes="note")


def _update(widget, block) -> None:
    kind = _kind(block)
    if kind == "plot":
        widget.plot = block
    elif kind == "table":
        widget.update(block)
    else:
        widget.update(Text.from_markup(block.text))
