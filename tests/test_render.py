"""The one plot renderer (ntktui.render), read back from its text: every series its own colour
(never the frame's or the reference lines') and its own marker, the legend above the frame and
never on the data, tick labels inside the frame at evenly spaced whole rows and columns with 0
on an axis that crosses it, and the dashboard's View (log/linear, x window, hidden series)."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import numpy as np
import pytest

from ntktui.render import (COLORS_16, COLORS_256, GREY_16, GREY_256, MARKERS, SLACK, Plot, Series,
                           View,
                           axis, render, _log_label, _number_label, _standard_rgb)

ANSI = re.compile(r"\x1b\[[0-9;]*m")
CODE = re.compile(r"\x1b\[([0-9;]*)m([^\x1b]*)")


def plain(text: str) -> str:
    return ANSI.sub("", text)


def frame(text: str):
    """(legend and title lines, canvas rows, y labels by canvas row, x tick columns, the line of
    x labels) of a plain rendering."""
    lines = plain(text).split("\n")
    top = next(i for i, line in enumerate(lines) if "┌" in line)
    bottom = next(i for i, line in enumerate(lines) if "└" in line)
    left = lines[top].index("┌")
    canvas = [line[left + 1: line.rindex("│")] for line in lines[top + 1: bottom]]
    ylabels = {r: line[:left].strip() for r, line in enumerate(lines[top + 1: bottom])
               if line[left] == "┤"}
    xticks = [i - left - 1 for i, ch in enumerate(lines[bottom]) if ch == "┬"]
    return lines[:top], canvas, ylabels, xticks, lines[bottom + 1]


def many(n: int, points: int = 60) -> Plot:
    x = np.arange(1, points + 1)
    return Plot("many", "k", "v", [Series(f"s{i}", x, np.cos(x / 9 + i) + 3 * i)
                                   for i in range(n)])


def legend_codes(text: str, n: int) -> list[str]:
    """The colour code painted on each series' legend sample (its marker), in order."""
    head = text.split("┌")[0]
    found = {}
    for code, chunk in CODE.findall(head):
        for ch in chunk.strip():
            if ch in MARKERS and ch not in found:
                found[ch] = code
    return [found[MARKERS[i]] for i in range(n)]


@pytest.mark.parametrize("depth,palette,grey", [(256, COLORS_256, GREY_256), (16, COLORS_16, GREY_16)])
def test_ten_series_get_ten_colours_never_the_frames_and_ten_markers(depth, palette, grey):
    text = render(many(10), width=100, height=30, color=True, depth=depth)
    codes = legend_codes(text, 10)
    assert len(set(codes)) == 10  # ten distinct colours
    grey_code = f"38;5;{grey}" if depth == 256 else "38;2;%d;%d;%d" % _standard_rgb(grey)
    assert grey_code not in codes and "0" not in codes and "" not in codes
    if depth == 16:  # still ten after a 16-colour terminal's downgrade, none the frame's white
        from rich.color import Color, ColorSystem

        numbers = {Color.from_rgb(*map(int, c.split(";")[2:])).downgrade(
            ColorSystem.STANDARD).number for c in codes}
        assert len(numbers) == 10 and not numbers & {0, 7, 8, 15}
    # the frame and tick labels carry no colour: they are drawn in the terminal's foreground
    for line in text.split("\n"):
        for code, chunk in CODE.findall(line):
            if any(ch in "┌┐└┘┤┬│─" for ch in chunk) and code not in ("0",):
                assert code == grey_code, (code, chunk)  # only a reference line is grey
    # and ten distinct markers, each drawn on the data
    _, canvas, _, _, _ = frame(text)
    drawn = set("".join(canvas))
    assert set(MARKERS[:10]) <= drawn
    assert len(set(palette)) == len(palette) == len(MARKERS) >= 10


def test_without_colour_each_series_has_its_own_marker_and_no_codes():
    text = render(many(4), width=80, height=20, color=False)
    assert "\x1b" not in text
    legend, canvas, _, _, _ = frame(text)
    for i in range(4):
        assert f"{MARKERS[i]} s{i}" in " ".join(legend)
        assert sum(row.count(MARKERS[i]) for row in canvas) >= 3  # along its line, not once


def test_the_legend_sits_above_the_frame_and_the_data_shows_under_it():
    # sinc's plateau at 1 for k ≤ 32 (seed003-fig3): the top-left corner is data, not legend
    k = np.arange(1, 65)
    plateau = np.where(k <= 32, 1.0, 1e-8)
    other = 10.0 ** (-k / 8)
    plot = Plot("p", "k", "σ", [Series(f"series number {i}", k, other * (i + 1) / 8)
                                for i in range(7)] + [Series("sinc s=32", k, plateau)],
                log_y=True, hlines=[(1e-12, "round-off floor")])
    text = render(plot, width=80, height=24, color=False)
    legend, canvas, ylabels, _, _ = frame(text)
    assert "sinc" in " ".join(legend) and "round-off floor" in " ".join(legend)
    top = min(r for r, row in enumerate(canvas) if row.strip())
    width_32 = int(len(canvas[0]) * 32 / 64)
    plateau_row = canvas[top][: width_32 - 2]
    assert sum(ch != " " for ch in plateau_row) >= 0.9 * len(plateau_row)  # the plateau is drawn
    assert not any(word in row for row in canvas for word in ("series", "sinc", "round", "s="))


@pytest.mark.parametrize("height", [11, 12, 14, 17, 20, 24, 33, 40])
@pytest.mark.parametrize("log", [False, True])
def test_tick_labels_are_inside_the_frame_and_evenly_spaced(height, log):
    x = np.linspace(1, 300, 200)
    y = 10.0 ** np.linspace(-13, 6, 200) if log else np.sin(x / 30) * 0.12
    text = render(Plot("t", "x", "y", [Series("a", x, y), Series("b", x, y / 2)], log_y=log),
                  width=80, height=height, color=False)
    lines = plain(text).split("\n")
    assert len(lines) == height and max(len(line) for line in lines) <= 80
    _, canvas, ylabels, xticks, xlabels = frame(text)
    rows = sorted(ylabels)
    assert len(rows) >= 2 and all(0 <= r < len(canvas) for r in rows)  # inside the frame
    assert len({b - a for a, b in zip(rows, rows[1:])}) == 1  # evenly spaced rows
    assert len({b - a for a, b in zip(xticks, xticks[1:])}) <= 1 and len(xticks) >= 2
    values = [float(ylabels[r].replace("1e", "1e")) for r in rows]
    steps = {round(math.log10(b / a) if log else a - b, 9) for a, b in zip(values, values[1:])}
    assert len(steps) == 1  # labels one step apart
    if not log:
        assert "0" in ylabels.values()  # the axis crosses zero: 0 is a tick


def test_a_six_row_symmetric_plot_has_zero_and_even_ticks():
    x = np.linspace(-1, 1, 100)
    plot = Plot("PC 1", "x", "u", [Series("PC 1", x, 0.13 * np.sin(3 * x))], height=11)
    _, canvas, ylabels, _, _ = frame(render(plot, width=60, color=False))
    rows = sorted(ylabels)
    assert "0" in ylabels.values() and len({b - a for a, b in zip(rows, rows[1:])}) == 1
    assert {ylabels[rows[0]], ylabels[rows[-1]]} == {"0.1", "-0.1"}


@pytest.mark.parametrize("seed", range(40))
def test_axes_put_every_value_and_tick_inside_their_cells(seed):
    rng = np.random.default_rng(seed)
    lo = float(rng.uniform(-1e3, 1e3)) * 10.0 ** rng.integers(-6, 6)
    span = abs(lo) * float(rng.uniform(1e-3, 5)) + 1e-9
    n = int(rng.integers(3, 120))
    a = axis(lo, lo + span, n, 2, _number_label)
    cells = a.position(np.array([lo, lo + span]))
    assert -0.5 - SLACK - 1e-6 <= cells[0] and cells[1] <= n - 0.5 + SLACK + 1e-6
    ticks = a.tick_cells()
    assert all(0 <= t < n for t in ticks)
    assert len({b - c for c, b in zip(ticks, ticks[1:])}) <= 1


def test_log_labels_name_decades():
    assert [_log_label(d, 1) for d in (-14, -2, 0, 3, 6)] == ["1e-14", "0.01", "1", "1000", "1e6"]


def test_the_view_switches_axes_windows_and_hides_series():
    k = np.arange(1, 101)
    plot = Plot("p", "k", "v", [Series("first", k, 1.0 / k), Series("second", k, 2.0 / k)],
                log_y=True)
    log_labels = set(frame(render(plot, 80, 20, color=False))[2].values())
    linear = frame(render(plot, 80, 20, color=False, view=View(log_y=False)))[2].values()
    assert "0.01" in log_labels or "1" in log_labels
    assert "1.0" in linear or "2" in linear or "0.5" in linear and log_labels != set(linear)
    zoomed = frame(render(plot, 80, 20, color=False, view=View(window=(0.0, 0.25))))[4]
    assert max(int(t) for t in zoomed.split()) <= 26  # x labels inside the first quarter
    hidden = render(plot, 80, 20, color=False, view=View(hidden=frozenset({1}), numbered=True))
    legend, canvas, _, _, _ = frame(hidden)
    assert "2 + second (hidden)" in " ".join(legend) and "1 • first" in " ".join(legend)
    assert "+" not in "".join(canvas)


def test_an_earlier_run_is_drawn_dashed_in_the_colour_of_the_series_it_repeats():
    k = np.arange(1, 50)
    plot = Plot("p", "k", "v", [Series("relu s=1", k, 1.0 / k), Series("tanh s=1", k, 3.0 / k),
                                Series("relu s=1 (width 64)", k, 1.5 / k, dashed=True)],
                log_y=True)
    text = render(plot, 80, 20, color=True, depth=256)
    legend, canvas, _, _, _ = frame(text)
    assert "╌• relu (width 64)" in " ".join(legend) and "(all s=1)" in " ".join(legend)
    codes = {chunk.strip(): code for code, chunk in CODE.findall(text.split("┌")[0])
             if chunk.strip() in ("•", "+", "╌•")}
    assert codes["╌•"] == codes["•"] != codes["+"]  # paired by colour, told apart by the dashes
    solid = render(Plot("p", "k", "v", plot.series[:1]), 80, 20, color=False)
    dashed = render(Plot("p", "k", "v", [replace(plot.series[0], dashed=True)]), 80, 20,
                    color=False)
    dots = [sum(ch not in " •" for row in frame(t)[1] for ch in row) for t in (solid, dashed)]
    assert dots[1] < dots[0]  # a dashed line leaves gaps


def test_the_cli_prints_distinguishable_series_without_colour(ntk, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    r = ntk("spectrum", "--act", "heaviside", "--act", "tanh", "--act", "relu", "--act", "sinc",
            "--width", "64", "--plot-width", "80")
    assert r.code == 0, r.err
    plot = r.out.split("Spectrum")[0]
    legend, canvas, _, _, _ = frame(plot)
    text = " ".join(legend)
    for i, name in enumerate(("heaviside", "tanh", "relu", "sinc")):
        assert f"{MARKERS[i]} {name}" in text
        assert any(MARKERS[i] in row for row in canvas), name
    assert "\x1b" not in r.out
