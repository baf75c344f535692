"""A Plot or ImageGrid drawn by the one renderer (ntktui.render) at the widget's own size, so it
looks as it does in the CLI and redraws on resize. A plot has a View (log axes, x window, hidden
series) that the study's keys change; the focused plot is the one they act on."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

PLOT_ROWS = 17  # fits under the header, status and command lines and footer of 24 rows


def color_depth(app) -> int:
    """16 in a terminal with the standard colours only, else 256 (the renderer's palettes),
    unless the app says (NtkApp(plot_colors=...): snapshots do)."""
    chosen = getattr(app, "plot_colors", None)
    if chosen in (16, 256):
        return chosen
    system = getattr(getattr(app, "console", None), "color_system", None)
    return 16 if system in ("standard", "windows") else 256


class PlotView(Widget, can_focus=True):
    DEFAULT_CSS = """
    PlotView { width: 1fr; height: auto; }
    PlotView:focus { background: $boost; }
    """

    def __init__(self, plot, rows: int = PLOT_ROWS, view=None, **kwargs):
        from ntktui.render import View  # numpy: not before the first screen

        super().__init__(**kwargs)
        self._plot = plot
        self._rows = rows
        self._view = view or View(numbered=True)
        self._cache: tuple | None = None  # (key, text)

    @property
    def plot(self):
        return self._plot

    @plot.setter
    def plot(self, plot) -> None:
        self._plot = plot
        self.refresh(layout=True)

    @property
    def view(self):
        """The render.View it is drawn with."""
        return self._view

    @view.setter
    def view(self, view) -> None:
        if view != self._view:
            self._view = view
            self.refresh(layout=True)

    @property
    def rows(self) -> int:
        return self._rows

    @rows.setter
    def rows(self, rows: int) -> None:
        if rows != self._rows:
            self._rows = rows
            self.refresh(layout=True)

    def get_content_height(self, container, viewport, width: int) -> int:
        from ntktui.render import ImageGrid

        if isinstance(self._plot, ImageGrid):
            return self._text(width, 0).count("\n") + 1
        return self._rows

    def render(self):
        size = self.content_size
        if size.width < 10 or size.height < 3:
            return ""
        return Text.from_ansi(self._text(size.width, size.height))

    def text(self) -> str:
        """What the widget shows, as plain text (tests)."""
        from ntktui.render import _ANSI

        size = self.content_size
        return _ANSI.sub("", self._text(size.width, size.height))

    def _text(self, width: int, height: int) -> str:
        from ntktui.render import ImageGrid, render, render_images

        color = not getattr(self.app, "no_color", False)
        depth = color_depth(self.app)
        key = (id(self._plot), width, height, self._view, color, depth)
        if self._cache is None or self._cache[0] != key:
            if isinstance(self._plot, ImageGrid):
                text = render_images(self._plot, width=width, color=color)
            else:
                text = render(self._plot, width=width, height=height, color=color, depth=depth,
                              view=self._view)
            self._cache = (key, text)
        return self._cache[1]
