"""The one renderer: explicit plot descriptions turned into text by plotext.

The CLI prints the text; the dashboard shows the same text in a widget, so a plot looks the same
in both. plotext keeps global state, so every build holds a lock (the dashboard renders from
worker threads).

Log axes: plotext 5's own log scale takes log10 of the stored data on every build and fails on a
second one, so log plots store log10 of the values on a linear axis and label the ticks 10^k.
"""

from __future__ import annotations

import math
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

_LOCK = threading.Lock()
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
COLORS = ("cyan", "orange", "green", "magenta", "red", "blue", "yellow", "gray")
# Without colour, series are told apart by their marker instead.
MONO_MARKERS = ("•", "+", "x", "o", "*", "#", "~", "^")


@dataclass(frozen=True)
class Series:
    label: str
    x: Sequence[float]
    y: Sequence[float]
    scatter: bool = False


@dataclass(frozen=True)
class Plot:
    title: str
    xlabel: str
    ylabel: str
    series: Sequence[Series]
    log_x: bool = False
    log_y: bool = False
    hlines: Sequence[tuple[float, str]] = ()  # (value, label), e.g. a round-off floor
    ylim: tuple[float, float] | None = None
    height: int | None = None  # preferred rows (the CLI's default is 20)


@dataclass(frozen=True)
class ImageGrid:
    """Small images side by side (2-D principal components), one row of panels per group."""

    title: str
    rows: Sequence[tuple[str, Sequence[np.ndarray]]]  # (row label, images)
    panel_titles: Sequence[str] = field(default_factory=tuple)


def use_color() -> bool:
    return "NO_COLOR" not in os.environ


def _finite_log10(values, enabled: bool):
    arr = np.asarray(values, dtype=np.float64)
    if not enabled:
        return arr
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log10(arr)
    return out


def _log_ticks(lo: float, hi: float, max_ticks: int = 8):
    """Tick positions (in log10 units) at whole decades, thinned to at most max_ticks; a range of
    under two decades also gets ticks at 2× and 5× so that it has more than one label."""
    first, last = math.floor(lo), math.ceil(hi)
    if hi - lo < 2:
        values = [m * 10.0**d for d in range(first, last + 1) for m in (1, 2, 5)]
        inside = [v for v in values if lo - 1e-9 <= math.log10(v) <= hi + 1e-9]
        if len(inside) >= 2:
            return [math.log10(v) for v in inside], [_mantissa_label(v) for v in inside]
    decades = list(range(first, last + 1))
    if hi - lo < 1 and sum(lo - 1e-9 <= d <= hi + 1e-9 for d in decades) < 2:
        # under one decade with at most one 1-2-5 value inside: evenly spaced, labelled values
        ticks = [lo + (hi - lo) * i / 3 for i in range(4)] if hi > lo else [lo]
        return ticks, [f"{10.0 ** t:.3g}" for t in ticks]
    step = max(1, math.ceil(len(decades) / max_ticks))
    decades = decades[::step]
    return decades, [_decade_label(d) for d in decades]


def _mantissa_label(v: float) -> str:
    return f"{v:g}" if 1e-2 <= v <= 1e4 else f"{v:.0e}".replace("e+0", "e").replace("e-0", "e-")


def _decade_label(d: int) -> str:
    if -2 <= d <= 3:
        return f"{10.0 ** d:g}"
    return f"1e{d}"


def _integral(values) -> bool:
    arr = np.asarray(values, dtype=np.float64)
    return arr.size > 0 and bool(np.all(arr == np.round(arr)))


def _integer_ticks(lo: float, hi: float, count: int = 6) -> list[int]:
    """Whole-number ticks at a 1-2-5 step covering [lo, hi]."""
    span = max(hi - lo, 1.0)
    raw = span / (count - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    step = max(1, int(step))
    first = int(math.ceil(lo / step) * step)
    ticks = list(range(first, int(hi) + 1, step))
    return sorted(set([int(lo)] + ticks))


def render(plot: Plot, width: int | None = None, height: int | None = None,
           color: bool | None = None) -> str:
    """The plot as text (ANSI-coloured unless colour is off)."""
    import plotext as plt

    color = use_color() if color is None else color
    with _LOCK:
        plt.clf()
        plt.plotsize(width or _default_width(), height or 20)
        plt.title(plot.title)
        plt.xlabel(plot.xlabel)
        plt.ylabel(plot.ylabel)
        ylo, yhi = math.inf, -math.inf
        xlo, xhi = math.inf, -math.inf
        for i, s in enumerate(plot.series):
            x = _finite_log10(s.x, plot.log_x)
            y = _finite_log10(s.y, plot.log_y)
            keep = np.isfinite(x) & np.isfinite(y)
            if not keep.any():
                continue
            x, y = x[keep], y[keep]
            ylo, yhi = min(ylo, y.min()), max(yhi, y.max())
            xlo, xhi = min(xlo, x.min()), max(xhi, x.max())
            draw = plt.scatter if s.scatter else plt.plot
            if color:
                marker = "dot" if s.scatter else "braille"
            else:
                marker = MONO_MARKERS[i % len(MONO_MARKERS)]
            draw(x.tolist(), y.tolist(), label=s.label, color=COLORS[i % len(COLORS)], marker=marker)
        for value, label in plot.hlines:
            v = math.log10(value) if plot.log_y and value > 0 else value
            if math.isfinite(v):
                plt.hline(v, "gray")
                ylo, yhi = min(ylo, v), max(yhi, v)
        if plot.ylim is not None:
            lo, hi = (math.log10(v) for v in plot.ylim) if plot.log_y else plot.ylim
            plt.ylim(lo, hi)
            ylo, yhi = lo, hi
        if plot.log_y and math.isfinite(ylo):
            plt.yticks(*_log_ticks(ylo, yhi))
        if plot.log_x and math.isfinite(xlo):
            plt.xticks(*_log_ticks(xlo, xhi))
        elif math.isfinite(xlo) and all(_integral(s.x) for s in plot.series):
            ticks = _integer_ticks(xlo, xhi)
            plt.xticks(ticks, [str(t) for t in ticks])
        if not color:
            plt.clc()
        else:
            plt.theme("pro")
        text = plt.build()
    # plotext still writes reset (and series colour) codes after clc(): plain text is plain
    return text if color else _ANSI.sub("", text)


_SHADES = " .:-=+*#%@"
_GAP = 2  # columns between panels


def render_images(grid: ImageGrid, width: int | None = None, color: bool | None = None) -> str:
    """Images as rows of small heat maps, drawn directly (no plotext): with colour each text cell
    is an upper-half block "▀" whose foreground is one pixel row and background the next, so pixels
    come out square; without colour, a shade ramp averaged over row pairs. Values map to a
    diverging blue–white–red scale symmetric about zero, each image on its own scale (a principal
    component's sign and size are arbitrary)."""
    color = use_color() if color is None else color
    width = width or _default_width()
    ncols = max((len(images) for _, images in grid.rows), default=0)
    lines = [grid.title]
    for r, (label, images) in enumerate(grid.rows):
        if not images:
            continue
        panel = _panel_width(images, width, ncols)
        titles = (list(grid.panel_titles) if grid.panel_titles
                  else [str(c) for c in range(1, len(images) + 1)])
        lines.append(label)
        lines.append((" " * _GAP).join(t[:panel].ljust(panel) for t in titles[:len(images)]))
        panels = [_panel_lines(_resample(np.asarray(img, dtype=np.float64), panel), color)
                  for img in images]
        height = max(len(p) for p in panels)
        for k in range(height):
            lines.append((" " * _GAP).join(p[k] if k < len(p) else " " * panel for p in panels))
    return "\n".join(lines)


def _panel_width(images, width: int, ncols: int) -> int:
    """One column per pixel, shrunk until the panels fit the width."""
    native = max(np.asarray(img).shape[1] for img in images)
    fit = (width - _GAP * (ncols - 1)) // max(ncols, 1)
    return max(4, min(native, fit))


def _resample(img: np.ndarray, cols: int) -> np.ndarray:
    """Nearest-neighbour resampling to `cols` columns, keeping the aspect ratio."""
    h, w = img.shape
    rows = max(2, round(h * cols / w))
    ri = np.minimum((np.arange(rows) * h / rows).astype(int), h - 1)
    ci = np.minimum((np.arange(cols) * w / cols).astype(int), w - 1)
    return img[np.ix_(ri, ci)]


def _normalise(img: np.ndarray) -> np.ndarray:
    """Values in [−1, 1], zero kept at zero; non-finite pixels as zero."""
    img = np.where(np.isfinite(img), img, 0.0)
    peak = np.abs(img).max()
    return img / peak if peak > 0 else img


def _rgb(v: float) -> tuple[int, int, int]:
    """Blue (−1) through white (0) to red (+1)."""
    fade = round(255 * (1 - abs(v)))
    return (255, fade, fade) if v >= 0 else (fade, fade, 255)


def _panel_lines(img: np.ndarray, color: bool) -> list[str]:
    v = _normalise(img)
    if v.shape[0] % 2:
        v = np.vstack([v, v[-1:]])  # an odd last row is drawn twice
    lines = []
    for top, bottom in zip(v[0::2], v[1::2]):
        if color:
            cells = []
            for a, b in zip(top, bottom):
                (r1, g1, b1), (r2, g2, b2) = _rgb(a), _rgb(b)
                cells.append(f"\x1b[38;2;{r1};{g1};{b1}m\x1b[48;2;{r2};{g2};{b2}m▀")
            lines.append("".join(cells) + "\x1b[0m")
        else:
            level = ((top + bottom) / 2 + 1) / 2  # [−1, 1] → [0, 1]
            idx = np.clip((level * (len(_SHADES) - 1)).round().astype(int), 0, len(_SHADES) - 1)
            lines.append("".join(_SHADES[k] for k in idx))
    return lines


def _default_width() -> int:
    try:
        cols = os.get_terminal_size().columns
    except OSError:
        cols = 100
    return max(40, min(cols, 120))
