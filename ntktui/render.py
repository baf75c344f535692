"""The one renderer: explicit plot descriptions turned into text.

The CLI prints the text; the dashboard shows the same text in a widget, so a plot looks the same
in both. A plot is drawn on a grid of text cells:

    title
    legend (one or more lines, never on the data)
    y tick labels │ braille canvas (2 × 4 dots a cell) │
                  └──┬────────┬────────┬──────────────┘
                     x tick labels
    y label                  x label

Every series has its own colour and its own marker (placed along its line, or at every point of
a short or scatter series), so series stay apart without colour (pipes, NO_COLOR) and where two
colours look alike. Ticks sit at whole cells, evenly spaced, on multiples of a 1-2-2.5-5 step (so
0 is a tick whenever an axis crosses it), and only inside the frame. Log axes draw log10 of the
values on a linear grid, labelled at whole decades, or at round values (10, 20, 50) when they
span fewer than three decades.

`View` holds what the dashboard changes without recomputing: log or linear axes, a window on the
x range, hidden series, numbered legend entries (the keys that hide them).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
RESET = "\x1b[0m"

# Series colours, never the frame's (the terminal's default foreground) nor the reference lines'
# grey. 256 colours: twelve hues of the xterm colour cube, ordered so that neighbours differ most.
COLORS_256 = (45, 214, 83, 207, 227, 75, 203, 141, 122, 136, 154, 218)
# 16 colours: the six hues and their bright forms (ANSI codes), then the markers tell them apart.
COLORS_16 = (36, 33, 32, 35, 31, 34, 96, 93, 92, 95, 91, 94)
GREY_256, GREY_16 = 244, 90
# One marker a series, in the same order (the first is the series' glyph in the legend too).
MARKERS = ("•", "+", "x", "o", "*", "#", "%", "@", "^", "=", "&", "$")
MARKER_GAP = 12  # cells between two markers along a line (with colour; without, closer)
MARKER_GAP_PLAIN = 7
DEFAULT_HEIGHT = 20


@dataclass(frozen=True)
class Series:
    label: str
    x: Sequence[float]
    y: Sequence[float]
    scatter: bool = False
    dashed: bool = False  # an earlier run laid over the current one (the dashboard's comparison)


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


@dataclass(frozen=True)
class View:
    """How to show a Plot (the dashboard's keys change it; the CLI uses the Plot as declared)."""

    log_x: bool | None = None  # None: as the Plot says
    log_y: bool | None = None
    window: tuple[float, float] = (0.0, 1.0)  # the shown part of the x range, as fractions
    hidden: frozenset[int] = frozenset()  # indices of series not drawn
    numbered: bool = False  # legend entries numbered 1, 2, … (keys that hide them)

    def logs(self, plot: Plot) -> tuple[bool, bool]:
        return (plot.log_x if self.log_x is None else self.log_x,
                plot.log_y if self.log_y is None else self.log_y)


PLAIN = View()


def use_color() -> bool:
    return "NO_COLOR" not in os.environ


def color_depth() -> int:
    """16 where the terminal has only the standard colours (as Rich detects it), else 256."""
    try:
        from rich.console import Console

        system = Console().color_system
    except Exception:  # noqa: BLE001 - detection is a nicety
        return 256
    return 16 if system in ("standard", "windows") else 256


# --- axes ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Axis:
    """A linear map from values to cell positions (cell centres are whole numbers, 0 … n − 1;
    the rows of a y axis count from the bottom), with ticks at whole cells."""

    origin: float  # value at position 0
    per_cell: float  # value per cell
    n: int
    ticks: tuple[float, ...]
    labels: tuple[str, ...]

    def position(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values, dtype=np.float64) - self.origin) / self.per_cell

    def tick_cells(self) -> list[int]:
        return [int(round((t - self.origin) / self.per_cell)) for t in self.ticks]


_MANTISSAS = (1.0, 2.0, 2.5, 5.0)
# How far (in cells) data may reach past the outer cells' edges; it is drawn on the edge dot,
# a quarter of a cell (one braille dot row) from where it belongs at most.
SLACK = 0.25


def _steps(span: float, integer: bool, log: bool):
    """Candidate tick steps from small to large (1-2-2.5-5 × 10^k; whole decades on log axes)."""
    if log:
        yield from (1, 2, 3, 4, 5, 10, 20, 50, 100)
        return
    mag = 10.0 ** math.floor(math.log10(span)) if span > 0 else 1.0
    for e in (mag / 100, mag / 10, mag, mag * 10):
        for m in _MANTISSAS:
            step = m * e
            if integer and (step < 1 or step != round(step)):
                continue
            if log and (m == 2.5 or step > 1 and step != round(step)):
                continue
            yield step


def axis(lo: float, hi: float, n: int, min_gap: int, label_fn, integer: bool = False,
         log: bool = False, label_gap: int | None = None, prefer_gap: int = 0,
         target_gap: int = 3) -> Axis:
    """Ticks at multiples of a step, whole cells apart (at least `min_gap`, or the widest label
    plus `label_gap` columns when that is given; `prefer_gap` if it costs little room), the data
    filling the cells as far as whole cells per step allow. Every tick lies inside [0, n − 1]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi <= lo:
        pad = 0.5 if log else 1.0 if integer or lo == 0 else abs(lo) * 0.1
        lo, hi = lo - pad, hi + pad
    span = hi - lo
    if log and span < LOG_DECADES:
        found = _round_log_axis(lo, hi, n, min_gap, label_gap)
        if found is not None:
            return found
    eps = 1e-9
    best = None
    for step in _steps(span, integer, log):
        first = math.ceil(lo / step - eps) * step
        last = math.floor(hi / step + eps) * step
        count = int(round((last - first) / step)) + 1 if last >= first else 0
        labels = [label_fn(first + i * step, step) for i in range(count)] or [label_fn(lo, step)]
        gap = min_gap if label_gap is None else max(min_gap, max(map(len, labels)) + label_gap)
        if span / step * gap > n - 1 + gap:  # too many ticks for the cells
            continue
        for per_step in range(n - 1, gap - 1, -1):  # the widest spacing that fits the data
            per_cell = step / per_step
            before = math.ceil((first - lo) / per_cell - 0.5 - SLACK - eps)  # cells before `first`
            if before + (hi - first) / per_cell <= n - 0.5 + SLACK + eps:
                break
        else:
            continue
        origin = first - before * per_cell
        ticks = [first + i * step for i in range(count)]
        ticks = [t for t in ticks if -0.5 <= (t - origin) / per_cell <= n - 0.5]
        used = span / per_cell / max(n, 1)
        crowded = 0.12 if per_step < prefer_gap else 0.0
        target = max(2, n // max(target_gap, gap))  # about one tick every target_gap cells
        sparse = 0.1 if len(ticks) == 2 and target >= 3 else 0.0
        score = (len(ticks) >= 2,
                 round(used - crowded - sparse - 0.04 * abs(len(ticks) - target), 4), len(ticks))
        if best is None or score > best[0]:
            best = (score, Axis(origin, per_cell, n, tuple(ticks),
                                tuple(label_fn(t, step) for t in ticks)))
    if best is None:  # not even two cells between ticks: one tick at the middle
        per_cell = span / max(n - 1, 1)
        mid = (lo + hi) / 2
        return Axis(lo, per_cell, n, (mid,), (label_fn(mid, span),))
    return best[1]


LOG_DECADES = 3  # a log axis spanning fewer decades is labelled at round values (10, 20, 50)


def _round_log_axis(lo: float, hi: float, n: int, min_gap: int, label_gap: int | None):
    """A log axis over a few decades: ticks at round values (1-2-5 per decade, or a linear
    1-2-2.5-5 step within a decade), each at its nearest cell. Round labels matter more here
    than even spacing, which such ticks cannot have; the most ticks whose labels keep their
    gap; None if fewer than two fit."""
    per_cell = (hi - lo) / max(n - 1, 1)
    a, b = 10.0 ** lo, 10.0 ** hi
    decades = range(math.floor(lo) - 1, math.ceil(hi) + 1)
    tries = [[m * 10.0 ** d for d in decades for m in group]
             for group in ((1,), (1, 5), (1, 2, 5), (1, 2, 3, 5))]
    for step in _steps(b - a, False, False):
        first, last = math.ceil(a / step - 1e-9), math.floor(b / step + 1e-9)
        if 0 < last - first < 40:
            tries.append([step * k for k in range(first, last + 1)])
    best = None
    for values in tries:
        values = [v for v in values if v > 0 and a * (1 - 1e-9) <= v <= b * (1 + 1e-9)]
        if len(values) < 2:
            continue
        cells = [round((math.log10(v) - lo) / per_cell) for v in values]
        labels = [_value_label(v) for v in values]
        gap = min_gap if label_gap is None else max(min_gap, max(map(len, labels)) + label_gap)
        if any(c2 - c1 < gap for c1, c2 in zip(cells, cells[1:])):
            continue
        if best is None or len(values) > len(best[0]):
            best = (values, labels)
    if best is None:
        return None
    values, labels = best
    return Axis(lo, per_cell, n, tuple(math.log10(v) for v in values), tuple(labels))


def _value_label(v: float) -> str:
    if 1e-3 <= abs(v) < 1e5:
        return f"{v:.4g}"
    mant, exp = f"{v:.3e}".split("e")
    mant = mant.rstrip("0").rstrip(".")
    return f"{mant}e{int(exp)}"


def _number_label(v: float, step: float) -> str:
    if abs(v) < step * 1e-6:
        return "0"
    big = max(abs(v), step)
    if big >= 1e5 or step < 1e-3:
        text = f"{v:.{_sig(v, step)}e}"
        mant, exp = text.split("e")
        if "." in mant:
            mant = mant.rstrip("0").rstrip(".")
        return f"{mant}e{int(exp)}"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9) + (1 if _mantissa(step) == 2.5 else 0))
    return f"{v:.{decimals}f}"


def _mantissa(step: float) -> float:
    return round(step / 10.0 ** math.floor(math.log10(step) + 1e-9), 6)


def _sig(v: float, step: float) -> int:
    """Digits after the point of a mantissa so that ticks one step apart read differently."""
    if v == 0:
        return 0
    return max(0, min(3, math.floor(math.log10(abs(v)) + 1e-9) - math.floor(math.log10(step)
                                                                               + 1e-9)))


def _log_label(v: float, step: float) -> str:
    """A tick on a log axis (v is log10 of the value)."""
    if abs(v - round(v)) < 1e-9:
        d = int(round(v))
        return f"{10.0 ** d:g}" if -2 <= d <= 3 else f"1e{d}"
    value = 10.0 ** v  # between decades: three digits, so that the label is the tick's value
    return f"{value:.3g}" if 1e-2 <= value < 1e4 else f"{value:.2e}".replace("e+0", "e").replace(
        "e-0", "e-").replace("e+", "e")


# --- the canvas ---------------------------------------------------------------------------------

# Braille dot bits by (column in the cell, row in the cell from the top).
_DOT = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))


class _Canvas:
    def __init__(self, cols: int, rows: int):
        self.cols, self.rows = cols, rows
        self.bits = np.zeros((rows, cols), dtype=np.int32)
        self.owner = np.full((rows, cols), -1, dtype=np.int32)  # series index; -2: a reference
        self.glyph: dict[tuple[int, int], tuple[str, int]] = {}  # markers and reference lines

    def dots(self, sx: np.ndarray, sy: np.ndarray, owner: int) -> None:
        """Dots at sub-cell positions (sx in 0 … 2·cols − 1, sy in 0 … 4·rows − 1 from the top)."""
        inside = (sx >= 0) & (sx < 2 * self.cols) & (sy >= 0) & (sy < 4 * self.rows)
        sx, sy = sx[inside], sy[inside]
        if not sx.size:
            return
        cx, cy = sx // 2, sy // 4
        bits = np.array(_DOT, dtype=np.int32)[sx % 2, sy % 4]
        np.bitwise_or.at(self.bits, (cy, cx), bits)
        self.owner[cy, cx] = owner

    def put(self, col: int, row: int, glyph: str, owner: int) -> None:
        if 0 <= col < self.cols and 0 <= row < self.rows:
            self.glyph[(row, col)] = (glyph, owner)

    def lines(self, paint) -> list[str]:
        """The canvas as text: markers over braille dots over reference lines, each run of
        cells of one series painted once."""
        out = []
        for r in range(self.rows):
            cells = []
            for c in range(self.cols):
                found = self.glyph.get((r, c))
                if found is not None and found[1] >= 0:
                    cells.append(found)
                elif self.bits[r, c]:
                    cells.append((chr(0x2800 + int(self.bits[r, c])), int(self.owner[r, c])))
                elif found is not None:
                    cells.append(found)
                else:
                    cells.append((" ", -1))
            text, run, owner = [], "", None
            for ch, who in cells:
                if who != owner and run:
                    text.append(paint(run, owner))
                    run = ""
                run, owner = run + ch, who
            text.append(paint(run, owner))
            out.append("".join(text))
        return out


# --- the plot -----------------------------------------------------------------------------------


def _values(values, log: bool) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if not log:
        return arr
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(arr > 0, np.log10(np.where(arr > 0, arr, 1.0)), np.nan)


def _integral(values) -> bool:
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return arr.size > 0 and bool(np.all(arr == np.round(arr)))


@dataclass
class _Prepared:
    index: int
    series: Series
    x: np.ndarray
    y: np.ndarray
    style: int  # colour and marker


def _standard_rgb(ansi: int) -> tuple[int, int, int]:
    """The RGB that Rich's downgrade to 16 colours maps back to exactly this ANSI colour."""
    from rich._palettes import STANDARD_PALETTE

    return STANDARD_PALETTE[ansi - 30 if ansi < 90 else ansi - 82]


def _palette(color: bool, depth: int):
    colors = COLORS_16 if depth == 16 else COLORS_256
    grey = GREY_16 if depth == 16 else GREY_256

    def sgr(c: int) -> str:
        if depth == 16:
            # As RGB, not as an ANSI code: a Textual app maps ANSI codes through its theme's
            # colours before it downgrades them, and two of them may then meet.
            r, g, b = _standard_rgb(c)
            return f"\x1b[38;2;{r};{g};{b}m"
        return f"\x1b[38;5;{c}m"

    def code(owner: int) -> str:
        return sgr(grey if owner == -2 else colors[owner % len(colors)])

    def paint(text: str, owner: int) -> str:
        if not color or owner == -1 or not text.strip():
            return text
        return code(owner) + text + RESET

    return paint


def styles(plot: Plot) -> list[int]:
    """Each series' colour and marker (an index into both): its own, except that an earlier
    run's series (dashed, labelled "LABEL (TAG)") takes the one of the series it repeats."""
    solid = {s.label: i for i, s in enumerate(plot.series) if not s.dashed}
    out = []
    for i, s in enumerate(plot.series):
        main, _ = split_tag(s.label) if s.dashed else (s.label, "")
        out.append(solid.get(main, i) if s.dashed else i)
    return out


def split_tag(label: str) -> tuple[str, str]:
    """"relu s=32 (width 64)" → ("relu s=32", " (width 64)")."""
    if label.endswith(")") and " (" in label:
        cut = label.rindex(" (")
        return label[:cut], label[cut:]
    return label, ""


def marker(index: int) -> str:
    return MARKERS[index % len(MARKERS)]


def legend_entries(plot: Plot, view: View = PLAIN) -> list[tuple[int, int, str, str]]:
    """(series index, or −1 for a note and −2 for a reference line; its style; sample glyphs;
    label) in legend order. Words that end every series' label ("s=32") are said once, after
    the entries; an earlier run keeps its tag ("relu (width 64)")."""
    parts = [split_tag(s.label) if s.dashed else (s.label, "") for s in plot.series]
    common = _common_suffix([main for main, _ in parts]) if len(parts) > 1 else ""
    out = []
    for i, (s, style, (main, tag)) in enumerate(zip(plot.series, styles(plot), parts)):
        label = (main[: len(main) - len(common)] if common else main) + tag
        sample = ("╌" if s.dashed else "") + marker(style)
        out.append((i, style, sample, label + (" (hidden)" if i in view.hidden else "")))
    if common:
        out.append((-1, -1, "", f"(all{common})"))
    seen = set()
    for _, label in plot.hlines:
        if label and label not in seen:
            seen.add(label)
            out.append((-2, -2, "┄┄", label))
    return out


def _common_suffix(labels: list[str]) -> str:
    """The whole words (with their leading space) that every label ends with, if each label
    keeps at least one word of its own."""
    words = [label.split(" ") for label in labels]
    n = 0
    while all(len(w) > n + 1 for w in words) and len({w[-1 - n] for w in words}) == 1:
        n += 1
    if n == 0:
        return ""
    return " " + " ".join(words[0][len(words[0]) - n:])


def _legend_lines(plot: Plot, view: View, width: int, paint, max_lines: int) -> list[str]:
    entries = legend_entries(plot, view)
    if not entries or (len(plot.series) == 1 and not plot.hlines and not view.numbered):
        return []  # one series: the title and axes say what it is
    lines = []
    for limit in (60, 24, 16, 10):
        lines, current, used = [], "", 0
        for i, style, sample, label in entries:
            text = label if len(label) <= limit else label[: limit - 1] + "…"
            number = f"{i + 1} " if view.numbered and i >= 0 else ""
            size = len(number) + len(sample) + (1 if sample else 0) + len(text)
            owner = -1 if i in view.hidden else style
            piece = number + (paint(sample, owner) + " " if sample else "") + text
            if used and used + 2 + size > width:
                lines.append(current)
                current, used = "", 0
            current += ("  " if used else "") + piece
            used += (2 if used else 0) + size
        lines.append(current)
        if len(lines) <= max_lines:
            return lines
    return lines[:max_lines]


def _laid_out(plot: Plot, view: View):
    """What is drawn and where: the series as plotted (log10 of the values on log axes, each cut
    to its shorter coordinate), the visible ones, the x and y ranges and the reference lines, all
    in plotted coordinates. The text renderer and the figure renderer (ntktui.figures) both
    take their ranges from here, so the two show the same window on the data."""
    log_x, log_y = view.logs(plot)
    drawn = []
    for i, (s, style) in enumerate(zip(plot.series, styles(plot))):
        x, y = _values(s.x, log_x), _values(s.y, log_y)
        n = min(x.size, y.size)
        drawn.append(_Prepared(i, s, x[:n], y[:n], style))
    visible = [d for d in drawn if d.index not in view.hidden]

    # x range: every series (hidden ones too, so that hiding one does not move the axis), then
    # the window; y range: what is visible inside that window.
    xs = np.concatenate([d.x[np.isfinite(d.x) & np.isfinite(d.y)] for d in drawn] or [np.zeros(0)])
    xlo, xhi = (float(xs.min()), float(xs.max())) if xs.size else (0.0, 1.0)
    a, b = view.window
    if (a, b) != (0.0, 1.0) and xhi > xlo:
        xlo, xhi = xlo + a * (xhi - xlo), xlo + b * (xhi - xlo)
    ys = [d.y[(d.x >= xlo) & (d.x <= xhi) & np.isfinite(d.y)] for d in visible]
    ys = np.concatenate(ys or [np.zeros(0)])
    refs = [_values([v], log_y)[0] for v, _ in plot.hlines]
    refs = [v for v in refs if math.isfinite(v)]
    if plot.ylim is not None and log_y == plot.log_y:
        ylo, yhi = (float(v) for v in _values(plot.ylim, log_y))
    elif ys.size:
        ylo, yhi = float(ys.min()), float(ys.max())
        if refs:  # a reference line shows where it lies if it is near the data
            near = [v for v in refs if ylo - (yhi - ylo + 1) <= v <= yhi + (yhi - ylo + 1)]
            ylo, yhi = min([ylo, *near]), max([yhi, *near])
    elif refs:
        ylo, yhi = min(refs), max(refs)
    else:
        ylo, yhi = 0.0, 1.0
    return drawn, visible, (xlo, xhi), (ylo, yhi), refs


def limits(plot: Plot, view: View | None = None) -> tuple[tuple[float, float], tuple[float, float]]:
    """The x and y ranges the text renderer draws, in data units (10^… of the plotted range on a
    log axis): the window a figure of the same plot shows."""
    view = view or PLAIN
    log_x, log_y = view.logs(plot)
    _, _, xr, yr, _ = _laid_out(plot, view)
    unlog = lambda r, log: tuple(10.0 ** v for v in r) if log else r  # noqa: E731
    return unlog(xr, log_x), unlog(yr, log_y)


def render(plot: Plot, width: int | None = None, height: int | None = None,
           color: bool | None = None, *, depth: int | None = None, view: View | None = None) -> str:
    """The plot as text, `width` × `height` cells (ANSI-coloured unless colour is off; `depth` 16
    or 256 colours, by default as the terminal reports)."""
    color = use_color() if color is None else color
    depth = (color_depth() if color else 256) if depth is None else depth
    view = view or PLAIN
    width = max(20, width or _default_width())
    height = max(8, height or plot.height or DEFAULT_HEIGHT)
    paint = _palette(color, depth)
    log_x, log_y = view.logs(plot)

    drawn, visible, (xlo, xhi), (ylo, yhi), refs = _laid_out(plot, view)

    title = [_fit(plot.title, width)] if plot.title else []
    legend = _legend_lines(plot, view, width, paint, max_lines=max(2, (height - 8) // 3))
    rows = max(3, height - len(title) - len(legend) - 4)
    y_int = not log_y and all(_integral(d.y) for d in visible) and bool(visible)
    yaxis = axis(ylo, yhi, rows, 2, _log_label if log_y else _number_label, integer=y_int,
                 log=log_y, prefer_gap=3 if rows >= 12 else 2, target_gap=4)
    ylw = max(len(t) for t in yaxis.labels)
    cols = max(4, width - ylw - 3)  # " ┤" left of the canvas, "│" right of it
    x_int = not log_x and all(_integral(d.x) for d in drawn) and bool(drawn)
    xaxis = axis(xlo, xhi, cols, 6, _log_label if log_x else _number_label, integer=x_int,
                 log=log_x, label_gap=3, target_gap=12)

    canvas = _Canvas(cols, rows)
    for v in refs:  # reference lines first: data is drawn over them
        row = rows - 1 - int(round(float(yaxis.position(np.array([v]))[0])))
        if 0 <= row < rows:
            for c in range(cols):
                canvas.put(c, row, "┄", -2)
    ordered = [d for d in visible if d.series.dashed] + [d for d in visible if not d.series.dashed]
    for d in ordered:
        _draw_series(canvas, d, xaxis, yaxis)
    for d in ordered:
        _draw_markers(canvas, d, xaxis, yaxis, MARKER_GAP if color else MARKER_GAP_PLAIN)

    out = list(title) + legend
    body = canvas.lines(paint)
    tick_rows = {rows - 1 - c: lab for c, lab in zip(yaxis.tick_cells(), yaxis.labels)}
    out.append(" " * ylw + " ┌" + "─" * cols + "┐")
    for r in range(rows):
        label = tick_rows.get(r)
        left = (label.rjust(ylw) + " ┤") if label is not None else " " * ylw + " │"
        out.append(left + body[r] + "│")
    bottom = ["─"] * cols
    for c in xaxis.tick_cells():
        if 0 <= c < cols:
            bottom[c] = "┬"
    out.append(" " * ylw + " └" + "".join(bottom) + "┘")
    out.append(_tick_line(xaxis, ylw + 2, width))
    out.append(_axis_labels(plot.ylabel, plot.xlabel, ylw + 2, cols, width))
    text = "\n".join(out)
    return text if color else _ANSI.sub("", text)


def _draw_series(canvas: _Canvas, d: _Prepared, xaxis: Axis, yaxis: Axis) -> None:
    """The series' line as braille dots: every segment between two finite points sampled once
    per dot it crosses (all segments at once), clipped to the canvas; dashed: three dots on,
    three off, along the whole line."""
    sx = _inward((xaxis.position(d.x) + 0.5) * 2, 2 * canvas.cols)
    sy = _inward((canvas.rows - 0.5 - yaxis.position(d.y)) * 4, 4 * canvas.rows)
    ok = np.isfinite(sx) & np.isfinite(sy)
    if d.series.scatter:
        return  # markers only (_draw_markers)
    lone = ok & ~np.concatenate([[False], ok[:-1]]) & ~np.concatenate([ok[1:], [False]])
    if lone.any():  # a finite point between gaps: one dot
        canvas.dots(np.floor(sx[lone]).astype(np.int64), np.floor(sy[lone]).astype(np.int64),
                    d.style)
    pair = ok[:-1] & ok[1:]
    if not pair.any():
        return
    x0, y0, x1, y1 = _clip_all(sx[:-1][pair], sy[:-1][pair], sx[1:][pair], sy[1:][pair],
                               2 * canvas.cols, 4 * canvas.rows)
    if not x0.size:
        return
    n = np.floor(np.maximum(np.abs(x1 - x0), np.abs(y1 - y0))).astype(np.int64) + 1
    starts = np.concatenate([[0], np.cumsum(n)[:-1]])
    seg = np.repeat(np.arange(n.size), n)
    step = np.arange(seg.size) - starts[seg]
    t = step / np.maximum(n[seg] - 1, 1)
    xs = np.floor(x0[seg] + (x1 - x0)[seg] * t).astype(np.int64)
    ys = np.floor(y0[seg] + (y1 - y0)[seg] * t).astype(np.int64)
    if d.series.dashed:
        keep = (np.arange(seg.size) // 3) % 2 == 0
        xs, ys = xs[keep], ys[keep]
    canvas.dots(xs, ys, d.style)


def _clip_all(x0, y0, x1, y1, xmax: float, ymax: float):
    """Liang–Barsky on arrays of segments: the parts inside [−1, xmax] × [−1, ymax] (segments
    wholly outside are dropped)."""
    dx, dy = x1 - x0, y1 - y0
    t0, t1 = np.zeros_like(x0), np.ones_like(x0)
    inside = np.ones(x0.shape, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        for p, q in ((-dx, x0 + 1), (dx, xmax - x0), (-dy, y0 + 1), (dy, ymax - y0)):
            r = q / p
            parallel = p == 0
            inside &= ~(parallel & (q < 0))
            t0 = np.where(~parallel & (p < 0), np.maximum(t0, r), t0)
            t1 = np.where(~parallel & (p > 0), np.minimum(t1, r), t1)
    inside &= t0 <= t1
    x0, y0, dx, dy, t0, t1 = (a[inside] for a in (x0, y0, dx, dy, t0, t1))
    return x0 + t0 * dx, y0 + t0 * dy, x0 + t1 * dx, y0 + t1 * dy


def _inward(v: np.ndarray, end: int) -> np.ndarray:
    """Sub-cell positions at most one dot past the canvas's outer edges (SLACK) moved onto the
    edge dot; farther ones (outside a zoomed window) are left to the clipping."""
    tol = 1.0 + 1e-6
    v = np.where((v >= end) & (v <= end + tol), end - 1e-6, v)
    return np.where((v < 0) & (v >= -tol), 0.0, v)


def _onto(cells: np.ndarray, n: int) -> np.ndarray:
    """Cell positions within SLACK of the outer cells moved onto them."""
    lo, hi = -0.5 - SLACK - 1e-6, n - 0.5 + SLACK + 1e-6
    inside = (cells >= lo) & (cells <= hi)
    return np.where(inside, np.clip(cells, 0, n - 1), cells)


def _draw_markers(canvas: _Canvas, d: _Prepared, xaxis: Axis, yaxis: Axis, gap: int) -> None:
    """The series' marker at each point of a scatter or a sparse series (points three or more
    columns apart), else every `gap` cells along the line (steep parts too), staggered from
    series to series so that the markers of neighbours do not coincide."""
    cx = xaxis.position(d.x)
    cy = yaxis.position(d.y)
    ok = np.isfinite(cx) & np.isfinite(cy)
    cx, cy = cx[ok], cy[ok]
    if not cx.size:
        return
    glyph = marker(d.style)
    cx = _onto(cx, canvas.cols)
    cy = _onto(cy, canvas.rows)
    cols = np.round(cx).astype(np.int64)
    if d.series.scatter or len(cols) * 3 <= cols.max() - cols.min() + 1:
        for c, y in zip(cols, cy):
            canvas.put(int(c), canvas.rows - 1 - int(round(y)), glyph, d.style)
        return
    # arc length in cells, a row counted as two columns (a cell is about twice as tall as wide)
    steps = np.hypot(np.diff(cx), 2 * np.diff(cy))
    arc = np.concatenate([[0.0], np.cumsum(steps)])
    offset = (d.index * 3 + 2) % gap
    for s in np.arange(offset, arc[-1] + 1e-9, gap):
        c = float(np.interp(s, arc, cx))
        y = float(np.interp(s, arc, cy))
        canvas.put(int(round(c)), canvas.rows - 1 - int(round(y)), glyph, d.style)


def _fit(text: str, width: int) -> str:
    if len(text) > width:
        return text[: width - 1] + "…"
    return text.center(width).rstrip()


def _tick_line(xaxis: Axis, left: int, width: int) -> str:
    """x tick labels centred under their ticks, shifted inward at the edges, never overlapping."""
    line = [" "] * width
    end = -1
    for c, label in zip(xaxis.tick_cells(), xaxis.labels):
        start = left + c - (len(label) - 1) // 2
        start = max(0, min(start, width - len(label)))
        if start <= end + 1:
            continue
        line[start: start + len(label)] = list(label)
        end = start + len(label) - 1
    return "".join(line).rstrip()


def _axis_labels(ylabel: str, xlabel: str, left: int, cols: int, width: int) -> str:
    x = xlabel[:cols]
    start = left + (cols - len(x)) // 2
    y = ylabel[: max(0, start - 1)]
    line = y.ljust(start) + x
    return line[:width].rstrip()


# --- images -------------------------------------------------------------------------------------

_SHADES = " .:-=+*#%@"
_GAP = 2  # columns between panels


def render_images(grid: ImageGrid, width: int | None = None, color: bool | None = None) -> str:
    """Images as rows of small heat maps, drawn directly: with colour each text cell is an
    upper-half block "▀" whose foreground is one pixel row and background the next, so pixels
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
