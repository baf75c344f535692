"""Figures of a Report for papers and notebooks: the third renderer of its blocks, beside the
terminal's text (render.py) and the dashboard's widgets, drawing the same data with matplotlib.

    figure(block)            a matplotlib Figure of one Plot or ImageGrid (None for a table, a note)
    figures(report)          one Figure per plot or image grid of the Report, in order
    save(report, "f.svg")    the figures as files: one plot → f.svg; several → f-1.svg, f-2.svg, …
                             (.svg, .png or .pdf, each written atomically); returns the paths
    html(report)             the Report as HTML: figures as inline SVG, tables as HTML tables, notes
                             as text (Report._repr_html_: a Report shows itself in Jupyter)

A line plot has the Plot's series (each with its own colour from the Okabe–Ito palette, which
stays distinct for the common colour-vision deficiencies, and its own marker), its title and axis
labels, real log axes where the Plot says log, its reference lines (round-off floors, limits) as
grey dotted lines, the x and y ranges the terminal shows (render.limits) and the terminal's legend
entries, placed outside the axes. An image grid is one panel per image on a blue–white–red scale
symmetric about zero, each image on its own scale (as in the terminal: a principal component's
sign and size are arbitrary).

matplotlib is an optional extra (`pip install 'ntktui[figures]'`), imported only inside the
functions that draw, so `ntk --help` and every command without --save never load it. Figures are
made with matplotlib.figure.Figure on the Agg canvas, never with pyplot: no global figure state,
no GUI backend, safe in the dashboard's worker threads.
"""

from __future__ import annotations

import importlib.util
import os
import textwrap
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Sequence

from ntktui.errors import UserError

if TYPE_CHECKING:  # matplotlib is optional; nothing here imports it at load time
    from matplotlib.figure import Figure

    from ntktui.report import Report

FORMATS = ("svg", "png", "pdf")
INSTALL = "pip install 'ntktui[figures]'"
MISSING = f"figures need matplotlib, which is not installed: {INSTALL}"

# Okabe & Ito (2008), ordered so that neighbours differ most; yellow, faint on white, comes last.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
# One marker a series, as the terminal gives each series its own glyph (render.MARKERS: twelve).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
REFERENCE = "#737373"  # grey of reference lines, never a series' colour
IMAGE_MAP = "RdBu_r"  # blue (−) through white (0) to red (+), as the terminal's images
PNG_DPI = 200
LINE_SIZE = (7.2, 4.0)  # inches: a plot and the legend at its right
PANEL = 1.25  # inches a side for an image panel
MINOR_DECADES = 6  # log axes spanning more decades have no minor ticks
MARKED_POINTS = 25  # series with at most this many points are marked at every point

STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.grid": True,
    "grid.color": "#e5e5e5",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.5,
    "lines.markersize": 4.5,
    "svg.fonttype": "none",  # text stays text: searchable and editable in the SVG
    "pdf.fonttype": 42,  # TrueType fonts in the PDF, editable in a drawing program
    "image.interpolation": "nearest",  # one pixel is one value, as in the terminal
    "path.simplify": False,  # every point of a series is in the file, none merged away
}


def available() -> bool:
    """Whether matplotlib can be imported (without importing it)."""
    try:
        return importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):  # a broken or blocked installation
        return False


def require() -> None:
    """One UserError saying how to get matplotlib, where it is missing."""
    if not available():
        raise UserError(MISSING)


def file_format(path: str) -> str:
    """"svg", "png" or "pdf", from the file's suffix; a UserError for any other."""
    suffix = os.path.splitext(str(path))[1].lower().lstrip(".")
    if suffix not in FORMATS:
        raise UserError(f"{path}: a figure is saved as .svg, .png or .pdf (the suffix says which)")
    return suffix


def numbered(path: str, count: int) -> list[str]:
    """The files of `count` figures: PATH itself for one; PATH-1.EXT, PATH-2.EXT, … for several."""
    if count == 1:
        return [str(path)]
    stem, ext = os.path.splitext(str(path))
    return [f"{stem}-{i}{ext}" for i in range(1, count + 1)]


_DRAWING = threading.RLock()


@contextmanager
def _style():
    """The house style, for drawing and saving alike (fonts are chosen when a figure is saved).
    matplotlib's settings are global: one thread draws at a time (the dashboard exports in a
    worker thread), so that each restores the settings it found."""
    try:
        import matplotlib
    except ImportError:
        raise UserError(MISSING) from None
    with _DRAWING, matplotlib.rc_context(STYLE):
        yield


def _new_figure(size) -> "Figure":
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)  # Agg, whatever backend the session has chosen
    return fig


# --- line plots ---------------------------------------------------------------------------------


def _plain(text: str) -> str:
    """Rich markup ("[dim]…[/dim]") as plain text."""
    from rich.text import Text

    return Text.from_markup(text).plain


def _wrapped(title: str, width: int = 80) -> str:
    return "\n".join(textwrap.wrap(title, width)) or title


def _padded(lo: float, hi: float, log: bool) -> tuple[float, float]:
    """The range with a 3 % margin (in the plotted coordinate), widened where it is one value."""
    import math

    if log:
        lo, hi = math.log10(lo), math.log10(hi)
    if hi <= lo:
        pad = 0.5 if log else (abs(lo) * 0.1 or 1.0)
        lo, hi = lo - pad, hi + pad
    margin = 0.03 * (hi - lo)
    lo, hi = lo - margin, hi + margin
    return (10.0 ** lo, 10.0 ** hi) if log else (lo, hi)


def _line_style(style: int, dashed: bool) -> dict:
    """Colour, marker and line style of the series drawn with the terminal's style `style` (an
    earlier run's series takes the style of the one it repeats, dashed)."""
    lap = style // len(PALETTE)  # past eight series the colours repeat; the line style differs
    linestyle = "--" if dashed else ("-", "-.", ":")[lap % 3]
    return dict(color=PALETTE[style % len(PALETTE)], marker=MARKERS[style % len(MARKERS)],
                linestyle=linestyle)


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _decade_label(value: float, _pos=None) -> str:
    """10ⁿ for a whole decade; other values (a locator's choice between decades) as numbers."""
    import math

    from ntktui.render import _value_label

    exponent = math.log10(value) if value > 0 else math.nan
    if math.isfinite(exponent) and abs(exponent - round(exponent)) < 1e-9:
        return "10" + str(int(round(exponent))).translate(_SUPERSCRIPT)
    return _value_label(value)


def _ticks(axis, log: bool, lo: float, hi: float, values) -> None:
    """Ticks as the terminal chooses them: whole numbers on an axis of whole numbers; on a log
    axis spanning fewer than three decades, round values (1, 2, 5 × 10^k) labelled as numbers."""
    import math

    from matplotlib.ticker import (FuncFormatter, LogLocator, MaxNLocator, NullFormatter,
                                   NullLocator)

    from ntktui.render import LOG_DECADES, _integral, _value_label

    if log:
        decades = math.log10(hi / lo) if lo > 0 and hi > 0 else 0.0
        if decades < LOG_DECADES:
            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(FuncFormatter(lambda v, _: _value_label(v)))
            axis.set_minor_formatter(NullFormatter())
        else:  # whole decades as 10ⁿ in plain text (mathtext labels are slow to lay out)
            axis.set_major_formatter(FuncFormatter(_decade_label))
            axis.set_minor_formatter(NullFormatter())
            if decades > MINOR_DECADES:  # minor ticks would be a smear
                axis.set_minor_locator(NullLocator())
    elif values and all(_integral(v) for v in values):
        axis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))


def line_figure(plot) -> "Figure":
    """A Plot as a figure: its series, labels, log axes, reference lines and ranges."""
    import numpy as np

    from ntktui.render import legend_entries, limits, styles

    fig = _new_figure(LINE_SIZE)
    ax = fig.add_subplot()
    ax.set_title(_wrapped(plot.title))
    ax.set_xlabel(plot.xlabel)
    ax.set_ylabel(plot.ylabel)
    if plot.log_x:  # values ≤ 0 leave a gap, as in the terminal (not clipped to the bottom)
        ax.set_xscale("log", nonpositive="mask")
    if plot.log_y:
        ax.set_yscale("log", nonpositive="mask")
    (xlo, xhi), (ylo, yhi) = limits(plot)

    handles = {}
    for i, (s, style) in enumerate(zip(plot.series, styles(plot))):
        x = np.asarray(s.x, dtype=np.float64)
        y = np.asarray(s.y, dtype=np.float64)
        n = min(x.size, y.size)
        look = _line_style(style, s.dashed)
        if s.scatter:
            look["linestyle"] = "none"
        elif n > MARKED_POINTS:  # markers spaced along the line, staggered between series
            look["markevery"] = (0.015 * (style % 6), 0.1)
        (line,) = ax.plot(x[:n], y[:n], zorder=3 if not s.dashed else 2, **look)
        line.set_gid(f"series-{i}")
        handles[i] = line

    for k, (value, label) in enumerate(plot.hlines):
        if plot.log_y and not value > 0:
            continue  # no place on a log axis (the terminal leaves it out too)
        line = ax.axhline(value, color=REFERENCE, linestyle=":", linewidth=1.2, zorder=1)
        line.set_gid(f"reference-{k}")
        handles.setdefault(("ref", label), line)

    ax.set_xlim(*_padded(xlo, xhi, plot.log_x))
    ax.set_ylim(*((ylo, yhi) if plot.ylim is not None else _padded(ylo, yhi, plot.log_y)))
    _ticks(ax.xaxis, plot.log_x, xlo, xhi, [s.x for s in plot.series])
    _ticks(ax.yaxis, plot.log_y, ylo, yhi, [s.y for s in plot.series])

    if len(plot.series) > 1 or plot.hlines:  # one series: the title and axes say what it is
        shown, labels, title = [], [], None
        for i, _, _, label in legend_entries(plot):
            if i >= 0:
                shown.append(handles[i])
                labels.append(label)
            elif i == -1:
                title = label  # "(all s=32)": words every series' label ends with
            elif ("ref", label) in handles:
                line = handles[("ref", label)]
                value = line.get_ydata()[0]
                bottom, top = ax.get_ylim()
                outside = not min(bottom, top) <= value <= max(bottom, top)
                shown.append(line)
                labels.append(f"{label} ({value:.3g}, off the axis)" if outside else label)
        fig.legend(shown, labels, title=title, loc="outside right upper", frameon=False,
                   alignment="left")
    return fig


# --- image grids --------------------------------------------------------------------------------


def image_figure(grid) -> "Figure":
    """An ImageGrid as a figure: one row of panels per group, titled by the row's label."""
    import numpy as np

    rows = [(label, images) for label, images in grid.rows if len(images)]
    ncols = max((len(images) for _, images in rows), default=1)
    fig = _new_figure((max(PANEL * ncols + 0.4, 4.0), (PANEL + 0.55) * len(rows) + 0.5))
    fig.suptitle(_wrapped(grid.title, 12 * ncols + 20))
    subfigs = fig.subfigures(len(rows), 1, squeeze=False)[:, 0] if rows else []
    for r, (sub, (label, images)) in enumerate(zip(subfigs, rows)):
        sub.suptitle(label, x=0.01, ha="left", fontsize=9)
        axes = sub.subplots(1, ncols, squeeze=False)[0]
        titles = (list(grid.panel_titles) if grid.panel_titles
                  else [str(c) for c in range(1, len(images) + 1)])
        for c, ax in enumerate(axes):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if c >= len(images):
                ax.set_axis_off()
                continue
            img = np.asarray(images[c], dtype=np.float64)
            finite = img[np.isfinite(img)]
            peak = float(np.abs(finite).max()) if finite.size else 0.0
            peak = peak or 1.0
            shown = ax.imshow(np.ma.masked_invalid(img), cmap=IMAGE_MAP, vmin=-peak, vmax=peak)
            shown.set_gid(f"image-{r}-{c}")
            if c < len(titles):
                ax.set_title(titles[c], fontsize=8)
            for spine in ax.spines.values():
                spine.set_visible(True)
                spine.set_color("#bdbdbd")
    return fig


# --- whole reports ------------------------------------------------------------------------------


def figure(block) -> "Figure | None":
    """The figure of one block of a Report: a Plot or an ImageGrid; None for a Table or a Note."""
    from ntktui.render import ImageGrid, Plot

    if isinstance(block, Plot):
        with _style():
            return line_figure(block)
    if isinstance(block, ImageGrid):
        with _style():
            return image_figure(block)
    return None


def figures(report: "Report") -> list["Figure"]:
    """One figure per plot or image grid of the Report, in the order of its blocks. A partial
    Report (stopped early) says so under each figure."""
    out = [f for f in (figure(b) for b in report.blocks) if f is not None]
    if not report.complete:
        for fig in out:
            fig.text(0.995, 0.005, "interrupted: a partial result", ha="right", va="bottom",
                     fontsize=7, color=REFERENCE)
    return out


def write(fig: "Figure", fh, fmt: str) -> None:
    """The figure into an open binary (or, for SVG, text) file, in the house style."""
    metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None}, "png": {}}[fmt]
    with _style():
        fig.savefig(fh, format=fmt, dpi=PNG_DPI if fmt == "png" else None, metadata=metadata)


def save(report: "Report", path: str | os.PathLike) -> list[str]:
    """Save the Report's figures as `path` (one figure) or PATH-1.EXT, PATH-2.EXT, … (several),
    in the format the suffix names; each file is written whole or not at all. Returns the paths
    written ([] for a Report without plots)."""
    from ntktui.output import write_atomic

    path = os.fspath(path)
    fmt = file_format(path)
    figs = figures(report)
    targets = numbered(path, len(figs))
    for fig, target in zip(figs, targets):
        write_atomic(target, lambda fh, fig=fig: write(fig, fh, fmt), binary=True)
    return targets


def svg_text(fig: "Figure") -> str:
    """The figure as an <svg> element (no XML prologue), to inline in HTML."""
    import io

    buf = io.StringIO()
    write(fig, buf, "svg")
    text = buf.getvalue()
    return text[text.index("<svg"):]


def html(report: "Report") -> str:
    """The Report as HTML, its blocks in order: figures as inline SVG (or one line saying how to
    get them), tables as HTML tables with the numbers as the terminal prints them, notes as text."""
    from html import escape

    from ntktui.output import fmt
    from ntktui.render import ImageGrid, Plot
    from ntktui.report import Note, Table

    parts, told = ['<div class="ntk-report">'], False
    if not report.complete:
        parts.append("<p><b>interrupted: a partial result</b></p>")
    for block in report.blocks:
        if isinstance(block, (Plot, ImageGrid)):
            if available():
                parts.append(f"<div>{svg_text(figure(block))}</div>")
            elif not told:
                parts.append(f"<p><i>{escape(MISSING, quote=False)}</i></p>")
                told = True
        elif isinstance(block, Table):
            parts.append(table_html(block.title, block.columns, block.rows, fmt))
        elif isinstance(block, Note):
            parts.append(f"<p>{escape(_plain(block.text), quote=False)}</p>")
    parts.append("</div>")
    return "\n".join(parts)


def table_html(title: str, columns: Sequence[str], rows, fmt) -> str:
    from html import escape

    head = "".join(f"<th>{escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(fmt(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return (f"<table><caption style=\"text-align:left\">{escape(title)}</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
