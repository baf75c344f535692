"""A Plot or ImageGrid drawn by the one renderer (ntktui.render) at the widget's own size, so
it looks as it does in the CLI and redraws on resize."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

PLOT_ROWS = 17  # fits under the header, status line and footer of a 24-row terminal


class PlotView(Widget):
    DEFAULT_CSS = """
    PlotView { width: 1fr; height: auto; }
    """

    def __init__(self, plot, **kwargs):
        super().__init__(**kwargs)
        self._plot = plot
        self._cache: tuple | None = None  # (plot, width, height, text)

    @property
    def plot(self):
        return self._plot

    @plot.setter
    def plot(self, plot) -> None:
        self._plot = plot
        self._cache = None
        self.refresh(layout=True)

    def get_content_height(self, container, viewport, width: int) -> int:
        from ntktui.render import ImageGrid

        if isinstance(self._plot, ImageGrid):
            return self._text(width, 0).count("\n") + 1
        return self._plot.height or PLOT_ROWS

    def render(self):
        size = self.content_size
        if size.width < 10 or size.height < 3:
            return ""
        return Text.from_ansi(self._text(size.width, size.height))

    def _text(self, width: int, height: int) -> str:
        from ntktui.render import ImageGrid, render, render_images

        key = (id(self._plot), width, height)
        if self._cache is None or self._cache[:3] != key:
            if isinstance(self._plot, ImageGrid):
                text = render_images(self._plot, width=width)
            else:
                text = render(self._plot, width=width, height=height)
            self._cache = (*key, text)
        return self._cache[3]
