"""Figures (ntktui.figures): the matplotlib renderer draws the Report's own numbers, --save writes
SVG, PNG and PDF before which it checks everything, `ntk run --out` saves the figures, a Report
shows itself as HTML, and without matplotlib --save is one error line."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from ntktui import figures  # noqa: E402
from ntktui.render import ImageGrid, Plot, Series, legend_entries  # noqa: E402
from ntktui.report import Note, Report, Table, compute  # noqa: E402

from conftest import assert_one_line_error  # noqa: E402

PNG_MAGIC, PDF_MAGIC = b"\x89PNG\r\n\x1a\n", b"%PDF-"
SPECTRUM = ("spectrum", "--act", "relu", "--act", "sinc", "--width", "64")


def svg_series(svg: str) -> dict[int, np.ndarray]:
    """The vertices of each series' line in a saved SVG (the group matplotlib writes for an
    artist with gid series-I), as an (n, 2) array of SVG coordinates."""
    out = {}
    for match in re.finditer(r'<g id="series-(\d+)">\s*<path d="([^"]*)"', svg):
        numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", match.group(2))]
        out[int(match.group(1))] = np.array(numbers).reshape(-1, 2)
    return out


def affine_residual(a: np.ndarray, b: np.ndarray) -> float:
    """Largest deviation of b from the best affine map of a (SVG points are written to 1e-6)."""
    design = np.column_stack([a, np.ones_like(a)])
    coef, *_ = np.linalg.lstsq(design, b, rcond=None)
    return float(np.abs(design @ coef - b).max())


@pytest.fixture(scope="module")
def spectrum_report():
    return compute("spectrum", act=["relu", "sinc"], width=64)


def test_spectrum_figure_carries_the_numbers_of_json(ntk, tmp_path, spectrum_report):
    """The done-when of issue 17: `ntk spectrum --act relu --act sinc --width 64 --save fig.svg`
    writes a figure whose curves are the --json numbers: one line per series, in the SVG with
    its points on the log axis, and in the matplotlib artists with the values themselves."""
    path = tmp_path / "fig.svg"
    r = ntk(*SPECTRUM, "--json", "--save", str(path))
    assert r.code == 0, r.err
    assert r.err == f"saved {path}\n"
    payload = r.json()
    results = payload["results"]
    assert [x["activation"] for x in results] == ["relu", "sinc"]

    svg = path.read_text(encoding="utf-8")
    plot = spectrum_report.plots()[0]
    for text in (plot.title, plot.xlabel, plot.ylabel):
        assert text in svg
    drawn = svg_series(svg)
    assert sorted(drawn) == [0, 1]  # one drawn line per series
    for i, res in enumerate(results):
        y = np.array([v for v in res["normalized"] if v is not None])
        k = np.array([j + 1 for j, v in enumerate(res["normalized"]) if v is not None])
        pts = drawn[i]
        assert len(pts) == len(y)  # every point, none simplified away
        assert affine_residual(k, pts[:, 0]) < 1e-3  # x linear
        assert affine_residual(np.log10(y), pts[:, 1]) < 1e-3  # y on a real log axis

    fig = figures.figure(plot)
    ax = fig.axes[0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("linear", "log")
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == (plot.title, plot.xlabel,
                                                                   plot.ylabel)
    lines = [ln for ln in ax.get_lines() if (ln.get_gid() or "").startswith("series-")]
    assert len(lines) == 2
    for line, res in zip(lines, results):
        kept = [(j + 1, v) for j, v in enumerate(res["normalized"]) if v is not None]
        np.testing.assert_allclose(line.get_xdata(), [j for j, _ in kept], rtol=0, atol=0)
        np.testing.assert_allclose(line.get_ydata(), [v for _, v in kept], rtol=1e-15)
    assert len({ln.get_color() for ln in lines}) == len({ln.get_marker() for ln in lines}) == 2


def test_report_shows_itself_in_jupyter(spectrum_report):
    from html import escape

    page = spectrum_report._repr_html_()
    assert page.count("<svg") == len(spectrum_report.plots()) == 1
    assert page.count("<table") == len(spectrum_report.tables())
    assert spectrum_report.plots()[0].title in page
    for table in spectrum_report.tables():
        assert table.title in page and all(f"<th>{escape(c)}</th>" in page for c in table.columns)
    assert len(spectrum_report.figures()) == 1


def test_png_and_pdf_are_valid_files(tmp_path, spectrum_report):
    for fmt, magic in (("png", PNG_MAGIC), ("pdf", PDF_MAGIC)):
        (written,) = spectrum_report.save_figures(tmp_path / f"fig.{fmt}")
        data = Path(written).read_bytes()
        assert data.startswith(magic), data[:8]
        assert (b"%%EOF" in data[-32:]) if fmt == "pdf" else data.endswith(b"IEND\xaeB`\x82")
    assert sorted(os.listdir(tmp_path)) == ["fig.pdf", "fig.png"]  # no temporary file left


def test_image_grid_holds_the_components_and_several_plots_are_numbered(ntk, tmp_path):
    """An image-grid analysis (2-D components) saves one panel per image with the payload's
    pixels; an analysis with three plots (spline) saves FILE-1 … FILE-3."""
    args = dict(two_d=True, side=6, width=24, count=3, seed=3)
    report = compute("components", **args)
    (grid,) = [b for b in report.blocks if isinstance(b, ImageGrid)]
    fig = figures.figure(grid)
    images = [im for ax in fig.axes for im in ax.get_images()]
    expected = [img for res in report.payload["results"] for img in res["components"]]
    expected += list(report.payload["dst"])
    assert len(images) == len(expected) == 9
    for im, want in zip(images, expected):
        np.testing.assert_array_equal(np.asarray(im.get_array()), np.asarray(want))
        lo, hi = im.get_clim()
        assert lo == -hi == -np.abs(want).max()  # its own scale, symmetric about zero

    r = ntk("components", "--2d", "--side", "6", "--width", "24", "--count", "3", "--seed", "3",
            "--save", str(tmp_path / "grid.svg"), "--quiet")
    assert r.code == 0, r.err
    assert r.err == ""  # --quiet: no "saved" line
    svg = (tmp_path / "grid.svg").read_text(encoding="utf-8")
    assert svg.count("<image xlink:href=") == 9 and grid.title.split("  ")[0] in svg

    r = ntk("spline", "--size", "16", "--columns", "4,8", "--save", str(tmp_path / "s.png"))
    assert r.code == 0, r.err
    names = sorted(p.name for p in tmp_path.glob("s*.png"))
    assert names == ["s-1.png", "s-2.png", "s-3.png"]
    assert all((tmp_path / n).read_bytes().startswith(PNG_MAGIC) for n in names)
    assert r.err == "saved " + ", ".join(str(tmp_path / n) for n in names) + "\n"


def test_save_is_refused_before_any_work(ntk, tmp_path):
    bad = ntk("spectrum", "--width", "8", "--save", str(tmp_path / "fig.jpg"))
    assert_one_line_error(bad, "--save", ".svg, .png or .pdf")
    missing = ntk("spectrum", "--width", "8", "--save", str(tmp_path / "no" / "fig.svg"))
    assert_one_line_error(missing, "--save", "does not exist")
    (tmp_path / "figs.svg").mkdir()
    folder = ntk("mask", "--width", "8", "--save", str(tmp_path / "figs.svg"))
    assert_one_line_error(folder, "--save", "is a directory")
    assert [p.name for p in tmp_path.iterdir()] == ["figs.svg"]


def test_run_out_writes_the_figures(ntk, tmp_path):
    out = tmp_path / "run"
    r = ntk("run", "seed002-conditioning", "--quick", "--out", str(out))
    assert r.code == 0, r.err
    assert (out / "plot.txt").read_text().count("┌") == 1  # the text's plots, one frame each
    assert (out / "figure.svg").read_bytes().startswith(b"<?xml")
    assert (out / "figure.png").read_bytes().startswith(PNG_MAGIC)
    assert "figure.svg, figure.png in" in r.err and "pip install" not in r.err


# One more kind of plot here (angles against depth with its limits as reference lines); every
# bundled preset is checked by scripts/figures-check (a minute: too slow for the suite).
@pytest.mark.parametrize("name", ["seed002-separation"])
def test_presets_export_their_figures(tmp_path, name):
    from ntktui import presets
    from ntktui.report import SILENT

    p = presets.load(name)
    report = p.study.analyse(SILENT, **p.arguments(quick=True))
    shown = [b for b in report.blocks if isinstance(b, (Plot, ImageGrid))]
    written = figures.save(report, tmp_path / "f.svg")
    assert len(written) == len(shown) >= 1
    for path, block in zip(written, shown):
        assert block.title.split("  ")[0] in Path(path).read_text(encoding="utf-8")


def test_without_matplotlib_save_is_one_error_line_and_help_never_loads_it(tmp_path):
    """In a fresh interpreter: `ntk --help` and a command without --save never import
    matplotlib; with its import failing, --save is one line (exit 2) and `ntk run --out` saves
    the rest and says how to get the figures."""
    script = f"""
import json, sys
from ntktui.cli import main
codes = [main(['--help']), main(['run', 'seed002-conditioning', '--quick', '--json'])]
loaded = 'matplotlib' in sys.modules
sys.modules['matplotlib'] = None  # its import fails from here on
sys.stderr.write('--\\n')
codes.append(main(['spectrum', '--width', '8', '--save', {str(tmp_path / 'f.svg')!r}]))
sys.stderr.write('--\\n')
codes.append(main(['run', 'seed002-conditioning', '--quick', '--out', {str(tmp_path / 'o')!r}]))
from ntktui.render import Plot, Series
from ntktui.report import Report, Table
page = Report({{}}, [Plot('p', 'x', 'y', [Series('a', [0, 1], [0, 1])]), Table('t', ['c'], [[1]])])
sys.stderr.write('--\\n' + json.dumps([codes, loaded, page._repr_html_()]) + '\\n')
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=120)
    _, save_err, run_err, result = done.stderr.split("--\n")
    codes, loaded, page = json.loads(result)
    assert not loaded
    assert "<svg" not in page and "<table" in page and "pip install 'ntktui[figures]'" in page
    assert codes == [0, 0, 2, 0], done.stderr
    assert save_err == ("ntk: error: --save needs matplotlib, which is not installed: "
                        "pip install 'ntktui[figures]'\n")
    assert not (tmp_path / "f.svg").exists()
    assert run_err.splitlines()[-1] == ("no figures saved: pip install 'ntktui[figures]' to save "
                                        "them too")
    assert sorted(os.listdir(tmp_path / "o")) == ["arrays.npz", "plot.txt", "preset.toml",
                                                  "result.json"]


# --- the renderer on plots made here (no engine) -----------------------------------------------


def test_style_legend_outside_reference_lines_and_ranges():
    """Twelve series (each its own colour-and-marker pair; the first eight colours distinct), an
    earlier run dashed in its series' style, a scatter series, a reference line on the axis and
    one far below it; the legend lies outside the axes and says what the terminal's says."""
    x = np.arange(1, 41, dtype=float)
    series = [Series(f"s{i} tag", x, np.exp(-x / (i + 2))) for i in range(12)]
    series.append(Series("s0 tag (earlier)", x, np.exp(-x / 3) * 0.9, dashed=True))
    series.append(Series("pts tag", [2.0, 5.0, 9.0], [0.5, 0.2, 0.1], scatter=True))
    plot = Plot("twelve", "k", "v", series, log_y=True,
                hlines=[(1e-3, "line on the axis"), (1e-300, "floor")])
    fig = figures.figure(plot)
    ax = fig.axes[0]
    lines = {ln.get_gid(): ln for ln in ax.get_lines()}
    styles = [(lines[f"series-{i}"].get_color(), lines[f"series-{i}"].get_marker(),
               lines[f"series-{i}"].get_linestyle()) for i in range(12)]
    assert len(set(styles)) == 12 and len({c for c, _, _ in styles[:8]}) == 8
    assert {c for c, _, _ in styles[:8]} == set(figures.PALETTE)
    earlier = lines["series-12"]
    assert (earlier.get_color(), earlier.get_marker(), earlier.get_linestyle()) == \
        (styles[0][0], styles[0][1], "--")
    assert lines["series-13"].get_linestyle() == "None"  # a scatter: markers only

    lo, hi = ax.get_ylim()
    assert lo < 1e-3 < hi and lo > 1e-100  # the far floor does not stretch the axis
    (legend,) = fig.legends
    labels = [t.get_text() for t in legend.get_texts()]
    terminal = [label for i, _, _, label in legend_entries(plot) if i != -1]
    assert labels[:-1] == terminal[:-1] and labels[-1].startswith("floor (1e-300, off the axis")
    assert legend.get_title().get_text() == "(all tag)"
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))


def test_short_log_axis_has_round_ticks_and_ylim_is_kept():
    plot = Plot("mask", "k", "m", [Series("a", [1, 2, 5, 10, 50], [1.0, 0.9, 0.5, 0.1, 0.0])],
                log_x=True, ylim=(-0.02, 1.02))
    ax = figures.figure(plot).axes[0]
    nonpositive = Plot("gap", "x", "y", [Series("a", [1, 2, 3], [1.0, -1.0, 0.5])], log_y=True)
    buf = io.StringIO()
    figures.write(figures.figure(nonpositive), buf, "svg")
    (d,) = re.findall(r'<g id="series-0">\s*<path d="([^"]*)"', buf.getvalue())
    assert d.count("M") == 2 and "L" not in d  # a gap at −1, as in the terminal (not clipped)
    assert ax.get_xscale() == "log" and ax.get_ylim() == (-0.02, 1.02)
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks == [1, 2, 5, 10, 20, 50]
    assert figures.figure(Table("t", ["a"], [[1]])) is None
    assert figures.figure(Note("n")) is None


def test_partial_report_says_so_and_file_names():
    plot = Plot("p", "x", "y", [Series("a", [0, 1], [0, 1])])
    report = Report({}, [plot, plot], complete=False)
    texts = [t.get_text() for fig in figures.figures(report) for t in fig.texts]
    assert texts == ["interrupted: a partial result"] * 2
    assert "interrupted" in report._repr_html_()
    assert figures.numbered("a/f.svg", 1) == ["a/f.svg"]
    assert figures.numbered("a/f.svg", 2) == ["a/f-1.svg", "a/f-2.svg"]
    assert figures.save(Report({}, [Note("nothing to draw")]), "x.svg") == []
