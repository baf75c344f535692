"""The dashboard, driven by key presses in an 80 × 24 terminal (Textual's Pilot): the panels show
the numbers the CLI prints, the mask keys redraw at once, the λ_min table fills row by row, a
long sweep stops from the keyboard, failures are notifications and leave what is shown marked
stale, exports describe the run on screen and repeat it, plots change by key (log axes, zoom,
hidden series) and grow with the terminal, wide tables say what lies to the side, help lists
every key, studies keep their results and runs, and two runs compare on one plot.

Each test has its own user data folder (the history), so no test sees another's runs."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("textual")

from textual.app import App  # noqa: E402

from ntktui import presets  # noqa: E402
from ntktui.output import fmt  # noqa: E402
from ntktui.report import compute  # noqa: E402
from ntktui.tui.app import NtkApp  # noqa: E402
from ntktui.tui.runner import TuiProgress  # noqa: E402
from ntktui.tui.screens import BrowserScreen, ParamsScreen, StudyScreen  # noqa: E402
from ntktui.tui.widgets import PlotView, ReportView, TableBlock  # noqa: E402
from ntktui.tui.widgets.report_view import compact  # noqa: E402

SIZE = (80, 24)
HEAD = 'title = "T"\ndescription = "D."\npaper = "P"\n'


@pytest.fixture(autouse=True)
def own_data_folder(tmp_path, monkeypatch):
    """The history of runs lives in the user's data folder: one per test."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data"


def drive(app, script, size=SIZE):
    """Run the app headless at `size`, let `script(app, pilot)` press keys, return its result."""
    async def main():
        async with app.run_test(size=size) as pilot:
            return await script(app, pilot)

    return asyncio.run(main())


async def until(pilot, condition, timeout: float = 120.0):
    """Poll `condition` between event-loop turns. The timeout is only a safety net against a
    hang (generous, so a busy machine never trips it); no test depends on how long it takes."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError("timed out waiting for the dashboard")
        await pilot.pause(0.05)


def wait_for_cancel(worker) -> None:
    """In the analysis's thread: block until the run is cancelled (a safety net against a hang)."""
    deadline = time.monotonic() + 120
    while not worker.is_cancelled and time.monotonic() < deadline:
        threading.Event().wait(0.01)


@pytest.fixture
def hold_until_cancelled(monkeypatch):
    """hold_until_cancelled(n): the analysis's thread stops after its n-th progress step (n = 0:
    as it begins) until the run is cancelled, so a test's cancel always arrives while the
    analysis runs, whatever the machine's speed. The cancel then takes effect at the next
    check (the next step, after the chunk in flight)."""

    def arm(after_steps: int) -> None:
        begin, step = TuiProgress.begin, TuiProgress.step

        def held_begin(self, label, total):
            if after_steps == 0:
                wait_for_cancel(self.worker)
            begin(self, label, total)

        def held_step(self, n=1, partial=None):
            step(self, n, partial)
            if not n and partial is None:
                return  # a cancel point between a kernel's tiles, not a step of the analysis
            self.steps_seen = getattr(self, "steps_seen", 0) + 1
            if self.steps_seen == after_steps:
                wait_for_cancel(self.worker)

        monkeypatch.setattr(TuiProgress, "begin", held_begin)
        monkeypatch.setattr(TuiProgress, "step", held_step)

    return arm


def finished(app) -> bool:
    s = app.screen
    return isinstance(s, StudyScreen) and s.status.state in ("done", "failed", "cancelled")


def preset_file(tmp_path, name: str, command: str, params: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(HEAD + f'command = "{command}"\n[params]\n{params}', encoding="utf-8")
    return path


async def open_form(app, pilot) -> ParamsScreen:
    """Wait for the study's run to end, then press e: the parameter form."""
    await until(pilot, lambda: finished(app))
    await pilot.press("e")
    await pilot.pause()
    assert isinstance(app.screen, ParamsScreen)
    return app.screen


async def rerun_with_width_and_export(app, pilot, width: int, submit: str = "ctrl+s") -> None:
    """Edit the width in the form, rerun (submit key), wait for that run, then export it (x) and
    wait for the export's notification."""
    s = app.screen
    form = await open_form(app, pilot)
    form.query_one("#field-width").value = str(width)
    await pilot.press(submit)
    await until(pilot, lambda: finished(app) and s.report.payload["width"] == width)
    await pilot.press("x")
    await until(pilot, lambda: any(n.title == "exported" for n in app._notifications))


def palette_offers(app, text: str) -> bool:
    """The command palette is open and lists a command containing `text`."""
    from textual.command import CommandList

    lists = app.screen.query(CommandList)
    if not lists:
        return False
    found = lists.first()
    return any(text in str(found.get_option_at_index(i).prompt)
               for i in range(found.option_count))


def tables(app) -> dict[str, list[list[str]]]:
    return {t.table.title: t.cells() for t in app.screen.query(TableBlock)}


def without_timings(payload):
    """The analysis's own numbers: less timings, and less what the CLI adds when it emits them
    (provenance, the interrupted flag)."""
    return {k: v for k, v in payload.items() if k not in ("timings", "provenance", "interrupted")}


def command(screen) -> str:
    """The command line the study screen shows (in full, wrapped at the screen's width)."""
    return str(screen.query_one("#command").content)


def shown_text(widget) -> str:
    return str(widget.render())


# --- the browser -------------------------------------------------------------------------------

def test_browser_lists_every_preset_and_describes_the_highlighted_one():
    async def script(app, pilot):
        await pilot.pause()
        assert isinstance(app.screen, BrowserScreen)
        options = app.screen.query_one("#presets")
        listed = [options.get_option_at_index(i).id for i in range(options.option_count)]
        description = app.screen.query_one("#description")
        first = str(description.render())
        await pilot.press("down")
        second = str(description.render())
        return listed, first, second

    listed, first, second = drive(NtkApp(), script)
    from ntktui import studies

    assert listed == [*presets.bundled_names(), "heading:analyses",
                      *(f"analysis:{n}" for n in studies.names())]
    p0, p1 = presets.load(listed[0]), presets.load(listed[1])
    assert p0.title in first and "ntk " + p0.command in first
    assert p1.title in second and p1.paper in second


def test_a_preset_opens_from_the_command_palette(tmp_path):
    async def script(app, pilot):
        await pilot.pause()
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"seed003-fig3")
        await until(pilot, lambda: palette_offers(app, "Open seed003-fig3"))
        await pilot.press("enter")
        await until(pilot, lambda: finished(app))
        return app.screen.preset.name, app.screen.status.state, app.screen.report.payload

    name, state, payload = drive(NtkApp(quick=True), script)
    assert name == "seed003-fig3" and state == "done"
    p = presets.load("seed003-fig3")
    assert payload["width"] == p.quick["width"]


# --- panels show the CLI's numbers -------------------------------------------------------------

def test_spectrum_panel_shows_the_numbers_the_cli_prints(tmp_path, ntk):
    path = preset_file(tmp_path, "tiny", "spectrum", 'act = ["relu", "sinc"]\nwidth = 24\n')

    async def script(app, pilot):
        await until(pilot, lambda: finished(app))
        plot = app.screen.query_one(PlotView).plot
        return app.screen.status.state, app.screen.report.payload, tables(app), plot

    state, payload, shown, plot = drive(NtkApp(presets.load(str(path))), script)
    assert state == "done"
    cli = ntk("run", str(path), "--json")
    assert cli.code == 0
    assert without_timings(payload) == without_timings(cli.json())
    rows = shown["Spectrum"]
    for row, result in zip(rows, cli.json()["results"]):
        assert row[0] == result["activation"] and row[2] == compact(
            fmt(result["singular_values"][0]))
    # The plot draws σ_k/σ₁ above the floor, per activation, on a log axis.
    for series, result in zip(plot.series, cli.json()["results"]):
        kept = [v for v in result["normalized"] if v is not None]
        np.testing.assert_allclose(series.y, kept, rtol=1e-12)
    assert plot.log_y


def test_mask_keys_redraw_at_once_without_recomputing_the_spectrum(tmp_path, monkeypatch):
    import engine.shallow
    from engine import shrinkage

    calls = []
    spectrum = engine.shallow.spectrum

    def counted(*args, **kwargs):
        calls.append(args)
        return spectrum(*args, **kwargs)

    monkeypatch.setattr(engine.shallow, "spectrum", counted)
    path = preset_file(tmp_path, "mask", "mask", 'act = "relu"\nwidth = 32\neta = 1.0\n'
                       'steps = 100\nk = 4\n')

    async def script(app, pilot):
        await until(pilot, lambda: finished(app))
        s = app.screen
        before = s.report.payload
        await pilot.press("plus", "plus", "right_square_bracket")
        await pilot.pause()
        after = s.report.payload
        await pilot.press("minus")
        await pilot.pause()
        line = str(s.query_one("#controls").render())
        return before, after, s.report.payload, tables(app), line, command(s)

    before, after, last, shown, line, sub_title = drive(NtkApp(presets.load(str(path))), script)
    assert len(calls) == 1  # the spectrum was computed once; the keys only redraw the masks
    assert after["eta_relative"] == pytest.approx(1.5625) and after["steps"] == 200
    assert last["eta_relative"] == pytest.approx(1.25)
    sigma = np.array(before["singular_values"], dtype=float)
    s1 = sigma[0]
    expected = np.asarray(shrinkage.gd_mask(sigma, 1.5625 / s1**2, 200))
    shown_gd = np.array([np.nan if v is None else v for v in after["masks"]["gd"]])
    keep = ~np.isnan(shown_gd)
    np.testing.assert_allclose(shown_gd[keep], expected[keep], rtol=1e-12, atol=1e-15)
    # The table shows the new setting, and a larger ηT keeps at least as many components.
    gd_row = next(r for r in shown["Masks"] if r[0] == "gd")
    assert "T = 200" in gd_row[1]
    assert after["kept_above_half"]["gd"] >= before["kept_above_half"]["gd"]
    assert "η·σ₁² = 1.25" in line and "T = 200" in line
    assert "--eta 1.25" in sub_title and "--steps 200" in sub_title  # the command line shown


def test_lmin_table_fills_row_by_row_with_the_cli_numbers(tmp_path, ntk, monkeypatch):
    path = preset_file(tmp_path, "lmin", "lmin", 'act = ["cos", "relu"]\nsamples = "6,12"\n'
                       'hidden = "4N,16"\nn0 = 8\nsigma_w = 0.35\n')
    seen = []
    show = ReportView.show

    async def recording(self, report, views=None):
        await show(self, report, views)
        seen.append(len(report.tables()[0].rows))

    monkeypatch.setattr(ReportView, "show", recording)

    async def script(app, pilot):
        await until(pilot, lambda: finished(app))
        return app.screen.status.state, app.screen.report.payload, tables(app)

    state, payload, shown = drive(NtkApp(presets.load(str(path))), script)
    assert state == "done"
    assert seen[:4] == [1, 2, 3, 4]  # one more row in the panel after each network
    cli = ntk("run", str(path), "--json").json()
    assert payload["results"] == cli["results"]
    rows = shown["λ_min growth"]
    assert [(r[0], r[1]) for r in rows] == [("cos", "6"), ("cos", "12"), ("relu", "6"),
                                            ("relu", "12")]
    assert rows[1][2] == compact(fmt(cli["results"][0]["lambda_min"][1]))


# --- cancelling, failures, editing --------------------------------------------------------------

def test_a_long_sweep_is_cancelled_from_the_keyboard(tmp_path, hold_until_cancelled):
    # 30 networks; the analysis holds after its first row until c is pressed, then computes the
    # network in flight and stops at its next step: exactly one row stays.
    hold_until_cancelled(1)
    path = preset_file(tmp_path, "long", "lmin", 'act = ["cos", "relu"]\nsamples = "4:60:4"\n'
                       'hidden = "4N,16"\nn0 = 8\nsigma_w = 0.35\n')

    async def script(app, pilot):
        s = app.screen
        await until(pilot, lambda: s.report is not None and s.report.tables()[0].rows)
        assert s.running and s.status.state == "running"
        await pilot.press("c")
        await until(pilot, lambda: s.status.state == "cancelled")
        done, total = s.status.done, s.status.total
        rows = tables(app)["λ_min growth"]
        cancelled = (s.report.complete, s.thread_running, s.running)
        # The app is still up: r runs again; ctrl+c cancels that run too.
        await pilot.press("r")
        await pilot.pause()
        again = s.running
        await pilot.press("ctrl+c")
        await until(pilot, lambda: s.status.state == "cancelled" and not s.thread_running)
        return done, total, rows, cancelled, again, isinstance(app.screen, StudyScreen)

    done, total, rows, cancelled, again, still_up = drive(NtkApp(presets.load(str(path))), script)
    assert total == 30 and done == 1  # stopped after the chunk in flight, not the whole sweep
    assert len(rows) == done  # the finished rows stay in the panel
    assert cancelled == (False, False, False)  # partial, its thread has returned, not running
    assert again and still_up


def test_a_failed_run_is_a_notification_and_the_app_stays_up(tmp_path):
    """Values the form accepts but the computation refuses (relu1000 overflows at scale 32) fail
    the run: one error line, a "failed" status, the app up."""
    path = preset_file(tmp_path, "tiny", "spectrum", 'act = ["relu"]\nwidth = 8\n')

    async def script(app, pilot):
        s = app.screen
        form = await open_form(app, pilot)
        form.query_one("#field-act").value = "relu1000"
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is s and s.status.state == "failed")
        messages = [(n.message, n.severity) for n in app._notifications]
        return messages, type(app.screen).__name__, s.status.message

    messages, screen, status = drive(NtkApp(presets.load(str(path))), script)
    assert screen == "StudyScreen"
    assert any("overflowed" in m and sev == "error" and "\n" not in m for m, sev in messages)
    assert "overflowed" in status and "Traceback" not in status


def test_the_form_refuses_a_request_beyond_memory(tmp_path):
    path = preset_file(tmp_path, "tiny", "spectrum", 'act = ["relu"]\nwidth = 8\n')

    async def script(app, pilot):
        form = await open_form(app, pilot)
        form.query_one("#field-width").value = "10000000"
        await pilot.press("enter")
        await until(pilot, lambda: any("would need" in n.message for n in app._notifications))
        return type(app.screen).__name__

    assert drive(NtkApp(presets.load(str(path))), script) == "ParamsScreen"


def test_the_form_refuses_an_unknown_activation_and_marks_its_field(tmp_path):
    path = preset_file(tmp_path, "tiny", "spectrum", 'act = ["relu"]\nwidth = 8\n')

    async def script(app, pilot):
        form = await open_form(app, pilot)
        form.query_one("#field-act").value = "relu,nonsense"
        await pilot.press("enter")
        await until(pilot, lambda: any("nonsense" in n.message for n in app._notifications))
        field = form.query_one("#field-act")
        return type(app.screen).__name__, field.has_class("invalid"), field.has_focus

    screen, marked, focused = drive(NtkApp(presets.load(str(path))), script)
    assert screen == "ParamsScreen" and marked and focused


def test_the_form_refuses_a_malformed_value_and_reruns_with_edited_ones(tmp_path):
    path = preset_file(tmp_path, "tiny", "spectrum", 'act = ["relu"]\nwidth = 8\n')

    async def script(app, pilot):
        s = app.screen
        form = await open_form(app, pilot)
        form.query_one("#field-width").value = "eight"
        await pilot.press("ctrl+s")
        await pilot.pause()
        refused = isinstance(app.screen, ParamsScreen)
        notes = [n.message for n in app._notifications]
        form.query_one("#field-width").value = "12"
        await pilot.press("ctrl+s")
        await pilot.pause()
        await until(pilot, lambda: s.status.state == "done" and s.report.payload["width"] == 12)
        return refused, notes, s.overrides, command(s)

    refused, notes, overrides, sub_title = drive(NtkApp(presets.load(str(path))), script)
    assert refused and any("--width" in n and "eight" in n for n in notes)
    assert overrides == {"width": 12} and "--width 12" in sub_title


def test_quick_switches_sizes_and_runs_again():
    p = presets.load("seed003-fig3")
    full, quick = p.params["width"], p.quick["width"]
    assert full != quick

    async def script(app, pilot):
        s = app.screen
        await until(pilot, lambda: finished(app))
        first = s.report.payload["width"]
        await pilot.press("t")
        await pilot.pause()
        await until(pilot, lambda: finished(app) and s.report.payload["width"] != first)
        return first, s.report.payload["width"], s.quick, command(s) + " " + str(
            s.status.render())

    first, second, now_quick, sub_title = drive(NtkApp(p, quick=False), script)
    assert (first, second, now_quick) == (full, quick, True)
    assert f"--width {quick}" in sub_title and "quick sizes" in sub_title


# --- export -------------------------------------------------------------------------------------

def test_export_saves_the_panel_data_and_plot_text_and_the_preset_repeats_it(tmp_path, ntk):
    path = preset_file(tmp_path, "tiny", "spectrum", 'act = ["relu", "tanh"]\nwidth = 10\n')
    out = tmp_path / "exports"

    async def script(app, pilot):
        await rerun_with_width_and_export(app, pilot, 12)
        return app.screen.report.payload, [n.message for n in app._notifications]

    payload, notes = drive(NtkApp(presets.load(str(path)), export_dir=out), script)
    (folder,) = list(out.iterdir())
    assert folder.name.startswith("tiny-") and any(str(folder) in n for n in notes)
    assert sorted(f.name for f in folder.iterdir()) == ["arrays.npz", "figure.png", "figure.svg",
                                                       "plot.txt", "preset.toml", "result.json"]
    assert (folder / "figure.svg").read_text().count('<g id="series-') == 2  # relu and tanh
    saved = json.loads((folder / "result.json").read_text())
    assert without_timings(saved) == without_timings(json.loads(json.dumps(payload)))
    text = (folder / "plot.txt").read_text()
    assert "\x1b[" not in text and "Normalised singular values" in text and "Spectrum" in text
    arrays = np.load(folder / "arrays.npz")
    assert arrays["results.1.singular_values"].shape == (12,)
    # The saved preset holds the edited width: running it gives the same numbers.
    again = ntk("run", str(folder / "preset.toml"), "--json")
    assert again.code == 0, again.err
    assert without_timings(again.json()) == without_timings(saved)


# three apps, each with a third of the presets, so the test workers share them
@pytest.mark.parametrize("part", range(3))
def test_every_bundled_preset_opens_starts_and_cancels(hold_until_cancelled, part):
    """Each preset's study screen opens, its analysis starts in a worker, c stops it, and escape
    goes back to the browser (the full runs are tested through `ntk run` in test_presets). The
    analyses hold as they begin until c, so each one must end "cancelled"."""
    hold_until_cancelled(0)
    names = presets.bundled_names()[part::3]
    assert names

    async def script(app, pilot):
        states = {}
        for name in names:
            app.open_preset(name)
            await pilot.pause()
            s = app.screen
            assert isinstance(s, StudyScreen) and s.preset.name == name
            await until(pilot, lambda: s.running)
            await pilot.press("c")
            await until(pilot, lambda: finished(app) and not s.thread_running)
            states[name] = s.status.state
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, BrowserScreen)
        return states

    states = drive(NtkApp(quick=True), script)
    assert set(states) == set(names)
    assert all(state == "cancelled" for state in states.values()), states


def test_analyses_compute_from_python_with_the_command_defaults():
    report = compute("spectrum", act=["relu"], width=8)
    assert report.complete and report.payload["width"] == 8
    assert report.tables()[0].title == "Spectrum" and len(report.plots()) == 1


# --- plots: keys, sizes, side by side (issue 12, point 1) --------------------------------------

def test_plot_keys_switch_log_axes_zoom_and_hide_series(tmp_path):
    path = preset_file(tmp_path, "tiny", "spectrum", 'act = ["relu", "tanh"]\nwidth = 32\n')

    async def script(app, pilot):
        s = app.screen
        await until(pilot, lambda: finished(app))
        plot = s.query_one(PlotView)
        first = plot.text()
        await pilot.press("l")  # y axis: log → linear
        await pilot.pause()
        linear = (plot.view.logs(plot.plot), plot.text())
        await pilot.press("l", "z", "z")  # back to log; x range a quarter
        await pilot.pause()
        zoomed = (plot.view.window, plot.text())
        await pilot.press("full_stop")  # move the window right
        await pilot.pause()
        moved = plot.view.window
        await pilot.press("2")  # hide tanh
        await pilot.pause()
        hidden = (plot.view.hidden, plot.text())
        await pilot.press("a")  # everything as declared
        await pilot.pause()
        return first, linear, zoomed, moved, hidden, plot.view, plot.text()

    first, linear, zoomed, moved, hidden, view, last = drive(NtkApp(presets.load(str(path))),
                                                            script)
    assert linear[0] == (False, False) and "1e-" in first and "1e-" not in linear[1]
    assert zoomed[0] == (0.375, 0.625)  # a quarter of the x range, around its middle
    assert moved[0] > zoomed[0][0]
    assert hidden[0] == {1} and "2 + tanh (hidden)" in hidden[1]
    assert view.hidden == frozenset() and view.window == (0.0, 1.0) and view.log_y is None
    assert "1e-" in last and "(hidden)" not in last


def synthetic_report(plots: int = 2, columns: int = 8):
    from ntktui.render import Plot, Series
    from ntktui.report import Report, Table

    k = np.arange(1, 41)
    blocks = [Plot(f"plot {i}", "k", "v", [Series(f"s{j}", k, (j + 1) / k) for j in range(3)],
                   log_y=True) for i in range(plots)]
    names = ["linear", "abrelu(3,1)", "abrelu(2,1)", "relu", "abrelu(1,2)", "abrelu(1,3)", "abs",
             "sin", "cos", "erf", "gelu", "silu", "sinc", "tanh", "heaviside", "relu2"]
    cols = ["depth L", *names[: columns - 1]]
    # κ against depth: linear stays at the Gram matrix's 2e5, the others grow from 18
    # (at depth 1 every network has the Gram matrix's κ, 2.255e+05: nine characters each)
    rows = [[d, 2.255e5, *((2.255e5 if d == 1 else 55.2 + d * 0.7 + c)
                           for c in range(columns - 2))] for d in range(1, 6)]
    blocks.append(Table("κ against depth", cols, rows))
    return Report(payload={}, blocks=tuple(blocks))


class ReportApp(App):
    """Only a ReportView (with the dashboard's styles), showing a given Report."""

    CSS_PATH = NtkApp.CSS_PATH

    def __init__(self, report):
        super().__init__()
        self.report = report

    def compose(self):
        yield ReportView(id="report")

    async def show(self):
        await self.query_one(ReportView).show(self.report)


@pytest.mark.parametrize("size,per_row", [((80, 24), 1), ((120, 40), 2)])
def test_plots_grow_with_the_terminal_and_stand_side_by_side(size, per_row):
    async def script(app, pilot):
        await pilot.pause()
        await app.show()
        await pilot.pause()
        view = app.query_one(ReportView)
        plots = view.plot_views()
        return ([p.region for p in plots], view.size.height,
                [p.text().split("\n") for p in plots])

    regions, view_height, texts = drive(ReportApp(synthetic_report(2)), script, size=size)
    rows = {r.height for r in regions}
    assert len(rows) == 1 and rows.pop() >= view_height - 3  # the view's height, less a glimpse
    if per_row == 2:
        assert regions[0].y == regions[1].y and regions[1].x > regions[0].right - 1
    else:
        assert regions[1].y >= regions[0].bottom
    for text, region in zip(texts, regions):
        assert max(len(line) for line in text) <= region.width  # nothing wraps or is cut


# --- tables (point 2) ---------------------------------------------------------------------------

def test_a_wide_table_wraps_its_column_names_to_fit_80_columns():
    async def script(app, pilot):
        await pilot.pause()
        await app.show()
        await pilot.pause()
        block = app.query_one(TableBlock)
        await until(pilot, lambda: block.query_one(".more").display is False)
        from textual.widgets import DataTable

        grid = block.query_one(DataTable)
        return grid.header_height, block.hidden_columns(), grid.virtual_size.width, grid.size.width

    header, hidden, virtual, width = drive(ReportApp(synthetic_report(0, columns=8)), script)
    assert header == 2 and hidden == [] and virtual <= width  # κ against depth fits at 80


def test_a_table_wider_than_the_screen_says_what_lies_to_the_side_and_scrolls():
    async def script(app, pilot):
        from textual.widgets import DataTable

        await pilot.pause()
        await app.show()
        block = app.query_one(TableBlock)
        hint = block.query_one(".more")
        await until(pilot, lambda: hint.display and "more column" in str(hint.content))
        before = str(hint.content)
        grid = block.query_one(DataTable)
        grid.focus()
        await pilot.press("right", "right", "right")
        await until(pilot, lambda: grid.scroll_x > 0 and "to the left" in str(hint.content))
        first_cell = grid.get_row_at(0)[0]
        return before, str(hint.content), grid.fixed_columns, first_cell

    before, after, fixed, first = drive(ReportApp(synthetic_report(0, columns=16)), script)
    assert "→" in before and "tab to the table" in before and "relu2" in before or "…" in before
    assert "← more to the left" in after
    assert fixed == 1 and first == "1"  # the first column stays in view


# --- the form (point 3) -------------------------------------------------------------------------

def test_keys_typed_after_tab_in_one_burst_go_to_the_next_field(tmp_path):
    """A paste or a fast typist over SSH delivers keys in one read: the Tab must move the focus
    before the next keys are handed to a field."""
    from textual import events

    path = preset_file(tmp_path, "tiny", "spectrum", 'act = ["relu"]\nwidth = 8\n')

    async def script(app, pilot):
        form = await open_form(app, pilot)
        act = form.query_one("#field-act")
        act.focus()
        await pilot.pause()
        act.cursor_position = len(act.value)  # after "relu" (focus selects the text)
        act.selection = type(act.selection)(len(act.value), len(act.value))
        width = form.query_one("#field-width")
        width.value = ""
        for key, char in (("comma", ","), ("t", "t"), ("tab", "\t"), ("1", "1"), ("6", "6")):
            app.post_message(events.Key(key, char))  # all queued before any is handled
        await pilot.pause()
        await pilot.pause()
        return act.value, width.value, form.focused is width

    act, width, focused = drive(NtkApp(presets.load(str(path))), script)
    assert (act, width, focused) == ("relu,t", "16", True)


def test_a_failed_run_marks_what_is_shown_stale_and_export_writes_the_run_shown(tmp_path, ntk,
                                                                             monkeypatch):
    import engine.shallow
    from engine.errors import EngineError

    spectrum, failing = engine.shallow.spectrum, {"on": False}

    def refusing(*args, **kwargs):  # the engine refuses the second run's values
        if failing["on"]:
            raise EngineError("the engine refused these values")
        return spectrum(*args, **kwargs)

    monkeypatch.setattr(engine.shallow, "spectrum", refusing)
    path = preset_file(tmp_path, "tiny", "spectrum", 'act = ["relu"]\nwidth = 8\n')
    out = tmp_path / "exports"

    async def script(app, pilot):
        s = app.screen
        form = await open_form(app, pilot)
        form.query_one("#field-width").value = "12"
        failing["on"] = True
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is s and s.status.state == "failed")
        failing["on"] = False
        banner = s.query_one("#stale")
        stale = (banner.display, str(banner.content), s.view.has_class("stale"))
        await pilot.press("x")
        await until(pilot, lambda: any(n.title == "exported" for n in app._notifications))
        return stale, s.report.payload["width"], command(s)

    stale, width, line = drive(NtkApp(presets.load(str(path)), export_dir=out), script)
    assert stale[0] and stale[2] and "failed" in stale[1] and "run 1" in stale[1]
    assert width == 8 and "--width 12" in line  # shown: run 1; set: the failed value
    (folder,) = list(out.iterdir())
    saved = json.loads((folder / "result.json").read_text())
    assert saved["width"] == 8
    again = ntk("run", str(folder / "preset.toml"), "--json")
    assert again.code == 0, again.err
    assert without_timings(again.json()) == without_timings(saved)


# --- export (point 4) ---------------------------------------------------------------------------

def test_export_of_a_partial_run_is_marked_in_every_file_and_names_an_absolute_folder(
        tmp_path, monkeypatch, hold_until_cancelled):
    hold_until_cancelled(1)
    monkeypatch.chdir(tmp_path)
    path = preset_file(tmp_path, "long", "lmin", 'act = ["cos"]\nsamples = "4:40:4"\n'
                       'hidden = "4N,16"\nn0 = 8\nsigma_w = 0.35\n')

    async def script(app, pilot):
        s = app.screen
        await until(pilot, lambda: s.report is not None and s.report.tables()[0].rows)
        await pilot.press("c")
        await until(pilot, lambda: s.status.state == "cancelled" and not s.thread_running)
        await pilot.press("x")
        await until(pilot, lambda: any(n.title == "exported" for n in app._notifications))
        return [n.message for n in app._notifications if n.title == "exported"]

    notes = drive(NtkApp(presets.load(str(path)), export_dir="relative/exports"), script)
    (folder,) = list((tmp_path / "relative" / "exports").iterdir())
    assert str(folder.resolve()) in notes[0] and "partial" in notes[0]
    assert folder.name.endswith("-partial")
    assert json.loads((folder / "result.json").read_text())["interrupted"] is True
    assert "cancelled" in (folder / "plot.txt").read_text()
    assert "PARTIAL" in (folder / "preset.toml").read_text()


def test_an_edited_export_describes_its_own_values(tmp_path):
    path = preset_file(tmp_path, "tiny", "spectrum", 'act = ["relu"]\nwidth = 8\n')
    out = tmp_path / "exports"

    async def script(app, pilot):
        await rerun_with_width_and_export(app, pilot, 12, submit="enter")

    drive(NtkApp(presets.load(str(path)), export_dir=out), script)
    (folder,) = list(out.iterdir())
    saved = presets.load(str(folder / "preset.toml"))
    assert saved.description.startswith("As run: --width 12") and saved.params["width"] == 12


# --- status and notifications (point 5) ---------------------------------------------------------

def test_a_key_held_at_a_limit_gives_one_notification(tmp_path):
    path = preset_file(tmp_path, "mask", "mask", 'act = "relu"\nwidth = 16\neta = 1.0\n'
                       'steps = 100\nk = 4\n')

    async def script(app, pilot):
        s = app.screen
        await until(pilot, lambda: finished(app))
        await pilot.press(*["plus"] * 12)  # η·σ₁² stops at its upper limit
        await pilot.pause()
        return [n.message for n in app._notifications], s.report.payload["eta_relative"]

    notes, eta = drive(NtkApp(presets.load(str(path))), script)
    limits = [n for n in notes if "at its limit" in n]
    assert len(limits) == 1 and eta <= 2


def test_a_long_message_wraps_in_the_status_line_instead_of_being_cut(tmp_path):
    path = preset_file(tmp_path, "tiny", "spectrum", 'act = ["relu"]\nwidth = 8\n')
    long = "a long reason " * 12 + "THE END"

    async def script(app, pilot):
        s = app.screen
        await until(pilot, lambda: finished(app))
        s.status.stop("failed", long)
        await pilot.pause()
        return s.status.size.height, str(s.status.render())

    height, text = drive(NtkApp(presets.load(str(path))), script)
    assert height >= 2 and "THE END" in text


# --- help, modes, leaving and returning (point 6) -----------------------------------------------

@pytest.mark.parametrize("key", ["question_mark", "f1"])
def test_help_lists_every_key_of_the_study_screen(tmp_path, key):
    from ntktui.tui.screens.help import HelpScreen, _bindings

    path = preset_file(tmp_path, "mask", "mask", 'act = "relu"\nwidth = 32\neta = 1.0\n'
                       'steps = 100\nk = 4\n')

    async def script(app, pilot):
        s = app.screen
        await until(pilot, lambda: finished(app))
        await pilot.press(key)
        await pilot.pause()
        help_screen = app.screen
        text = help_screen.text() if isinstance(help_screen, HelpScreen) else ""
        keys = [(app.get_key_display(b), s.describe_key(b)) for b in _bindings(s)]
        labels = [c.label for c in s.report.controls]
        series = max(len(plot.series) for plot in s.report.plots())
        await pilot.press("escape")
        await pilot.pause()
        return text, keys, labels, series, app.screen is s

    text, keys, labels, series, back = drive(NtkApp(presets.load(str(path))), script)
    assert back and text
    # every key that does something here is listed; the control keys by the controls' own names
    # (the mask study has two: η and T); the third control's keys and the keys of series the
    # plots do not have do nothing here and are left out
    assert len(labels) == 2 and 1 <= series < 10
    idle = {"{", "}"} | {str((i + 1) % 10) for i in range(series, 10)}
    for k, what in keys:
        if k in idle:
            assert what is None and f"\n{k} " not in text
        else:
            assert what is not None and k in text, k
    assert f"hide/show series {series}" in text and f"hide/show series {series + 1}" not in text
    for label in labels:
        assert f"{label} down" in text and f"{label} up" in text
    assert "ctrl+q" in text and "quit" in text and "sideways" in text and "full sizes" in text


@pytest.mark.parametrize("screen_name", ["browser", "form"])
def test_help_lists_the_keys_of_the_browser_and_the_form(tmp_path, screen_name):
    from ntktui.tui.screens.help import HelpScreen, _bindings

    path = preset_file(tmp_path, "tiny", "spectrum", 'act = ["relu"]\nwidth = 8\n')

    async def script(app, pilot):
        if screen_name == "form":
            await open_form(app, pilot)
            await pilot.press("f1")
        else:
            await pilot.pause()
            await pilot.press("question_mark")
        await pilot.pause()
        below = app.screen_stack[-2]
        keys = [app.get_key_display(b) for b in _bindings(below)]
        return app.screen.text() if isinstance(app.screen, HelpScreen) else "", keys

    app = NtkApp(presets.load(str(path))) if screen_name == "form" else NtkApp()
    text, keys = drive(app, script)
    assert text and all(k in text for k in keys) and "ctrl+q" in text


def test_escape_on_a_running_study_asks_and_can_leave_it_running(tmp_path, hold_until_cancelled):
    from ntktui.tui.screens.dialogs import LeaveRunning

    hold_until_cancelled(1)
    path = preset_file(tmp_path, "long", "lmin", 'act = ["cos"]\nsamples = "4:40:4"\n'
                       'hidden = "4N,16"\nn0 = 8\nsigma_w = 0.35\n')
    p = presets.load(str(path))

    async def script(app, pilot):
        s = app.screen
        await until(pilot, lambda: s.report is not None and s.report.tables()[0].rows)
        await pilot.press("escape")
        await pilot.pause()
        asked = isinstance(app.screen, LeaveRunning)
        await pilot.press("escape")  # stay
        await pilot.pause()
        stayed = app.screen is s and s.running
        await pilot.press("escape", "k")  # keep it running, back to the browser
        await pilot.pause()
        left = isinstance(app.screen, BrowserScreen) and s.running
        app.open_preset(p)  # back to it: the same screen, its run and rows
        await pilot.pause()
        returned = app.screen is s and s.running and len(s.report.tables()[0].rows) >= 1
        await pilot.press("escape", "c")  # cancel it and leave
        await until(pilot, lambda: not s.thread_running and s.status.state == "cancelled")
        return asked, stayed, left, returned, isinstance(app.screen, BrowserScreen)

    assert drive(NtkApp(p), script) == (True, True, True, True, True)


def test_returning_to_a_study_shows_its_last_results_without_running_again(tmp_path):
    path = preset_file(tmp_path, "tiny", "spectrum", 'act = ["relu"]\nwidth = 8\n')
    p = presets.load(str(path))

    async def script(app, pilot):
        s = app.screen
        await until(pilot, lambda: finished(app))
        report, runs = s.report, s.run_id
        await pilot.press("escape")
        await pilot.pause()
        options = app.screen.query_one("#presets")
        listed = [options.get_option_at_index(i).id for i in range(options.option_count)]
        app.screen._open(f"file:{path}")  # as enter on its entry in the browser
        await pilot.pause()
        return listed, app.screen is s, s.report is report, s.run_id == runs

    listed, same, kept, not_rerun = drive(NtkApp(p), script)
    assert f"file:{path}" in listed and "heading:your files" in listed  # the user's file
    assert same and kept and not_rerun


def test_a_study_opened_from_the_palette_inside_another_returns_to_the_browser(tmp_path):
    a = presets.load(str(preset_file(tmp_path, "a", "spectrum", 'act = ["relu"]\nwidth = 8\n')))
    b = presets.load(str(preset_file(tmp_path, "b", "spectrum", 'act = ["tanh"]\nwidth = 8\n')))

    async def script(app, pilot):
        await until(pilot, lambda: finished(app))
        app.open_preset(b)  # what the palette's command does
        await pilot.pause()
        opened = app.screen.preset.name
        await until(pilot, lambda: finished(app))
        await pilot.press("escape")
        await pilot.pause()
        return opened, type(app.screen).__name__, len(app.screen_stack)

    assert drive(NtkApp(a), script) == ("b", "BrowserScreen", 2)


# --- history and comparison (point 7) -----------------------------------------------------------

def test_two_runs_of_the_spectrum_compare_on_one_plot(tmp_path, ntk_json):
    from ntktui.tui.screens.compare import CompareScreen

    path = preset_file(tmp_path, "fig", "spectrum", 'act = ["relu"]\nwidth = 64\n')

    async def script(app, pilot):
        s = app.screen
        form = await open_form(app, pilot)  # run 1: width 64
        form.query_one("#field-width").value = "256"
        await pilot.press("enter")
        await until(pilot, lambda: finished(app) and s.report.payload["width"] == 256)
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, CompareScreen)
        await pilot.press("space", "enter")  # choose run 1, show it
        await pilot.pause()
        plot = s.query_one(PlotView)
        return plot.plot, plot.text()

    plot, text = drive(NtkApp(presets.load(str(path))), script)
    current, earlier = plot.series
    assert current.label == "relu s=32" and not current.dashed
    assert earlier.label == "relu s=32 (width 64)" and earlier.dashed
    cli64 = ntk_json("spectrum", "--act", "relu", "--width", "64")["results"][0]
    cli256 = ntk_json("spectrum", "--act", "relu", "--width", "256")["results"][0]
    np.testing.assert_allclose(earlier.y, [v for v in cli64["normalized"] if v is not None],
                               rtol=1e-12)
    np.testing.assert_allclose(current.y, [v for v in cli256["normalized"] if v is not None],
                               rtol=1e-12)
    assert "1 • relu  2 ╌• relu (width 64)  (all s=32)" in text


def test_finished_runs_are_kept_on_disk_and_reopen_in_a_new_session(tmp_path, ntk,
                                                                     own_data_folder):
    path = preset_file(tmp_path, "tiny", "spectrum", 'act = ["relu"]\nwidth = 8\n')

    async def first_session(app, pilot):
        await until(pilot, lambda: finished(app))
        return app.screen.report.payload

    payload = drive(NtkApp(presets.load(str(path))), first_session)
    (entry,) = list((own_data_folder / "ntktui" / "history").iterdir())
    assert {f.name for f in entry.iterdir()} == {"meta.json", "preset.toml", "result.json",
                                                 "blocks.json"}
    again = ntk("run", str(entry / "preset.toml"), "--json")
    assert again.code == 0 and without_timings(again.json()) == without_timings(
        json.loads(json.dumps(payload)))

    async def second_session(app, pilot):
        await pilot.pause()
        options = app.screen.query_one("#presets")
        listed = [options.get_option_at_index(i).id for i in range(options.option_count)]
        key = next(k for k in listed if k.startswith("run:"))
        app.screen._open(key)
        await pilot.pause()
        s = app.screen
        return listed, s.status.state, s.running, s.report.payload, tables(app)

    listed, state, running, reopened, shown = drive(NtkApp(), second_session)
    assert "heading:recent runs" in listed
    assert state == "done" and not running  # shown as kept, not run again
    assert without_timings(reopened) == without_timings(json.loads(json.dumps(payload)))
    assert shown["Spectrum"][0][0] == "relu"


def test_the_history_keeps_the_last_runs_only(tmp_path, monkeypatch):
    from ntktui.report import Report
    from ntktui.tui import history as h

    monkeypatch.setattr(h, "MAX_RUNS", 3)
    store = h.History(tmp_path / "history")
    p = presets.load("spectrum")
    for i in range(5):
        run = h.new_run(p, False, {"width": 8 + i}, p.arguments(overrides={"width": 8 + i}), i + 1)
        run.report = Report(payload={"width": 8 + i}, blocks=())
        store.add(run)
    kept = sorted((tmp_path / "history").iterdir())
    assert len(kept) == 3 and store.error is None
    fresh = h.History(tmp_path / "history").runs()
    assert [r.settings["width"] for r in fresh] == ["12", "11", "10"]  # newest first


# --- the command line (point 8) -----------------------------------------------------------------

def test_the_command_line_shows_in_full_and_copies_to_the_clipboard():
    p = presets.load("seed003-fig3")

    async def script(app, pilot):
        s = app.screen
        await pilot.pause()
        widget = s.query_one("#command")
        await pilot.press("y")
        await pilot.pause()
        return command(s), widget.size.height, app.clipboard, s.command_line()

    shown, height, copied, line = drive(NtkApp(p, quick=True), script)
    assert shown == line == copied and len(line) > 80 and height >= 2  # wrapped, not cut


def test_the_history_keeps_blocks_with_numpy_values_as_they_were(tmp_path):
    from ntktui.render import ImageGrid, Plot, Series
    from ntktui.report import Note, Report, Table
    from ntktui.tui import history as h

    k = np.arange(1, 5)
    report = Report(payload={"n": np.int64(4)}, blocks=(
        Plot("p", "k", "v", [Series("a", k, np.array([1.0, np.nan, 3.0, 4.0]),
                                    scatter=np.bool_(False))], log_x=np.bool_(True),
             hlines=[(np.float64(0.5), "half")], ylim=(np.float64(0), 1.0), height=11),
        ImageGrid("g", [("row", [np.eye(3)])], ("one",)),
        Table("t", ["a", "b"], [[np.float64(1.5), None], ["x", np.bool_(True)]]),
        Note("[dim]n[/dim]")))
    store = h.History(tmp_path / "history")
    p = presets.load("spectrum")
    run = h.new_run(p, False, {}, p.arguments(), 1)
    run.report = report
    store.add(run)
    assert store.error is None
    again = h.History(tmp_path / "history").runs()[0].the_report()
    plot, grid, table, note = again.blocks
    assert plot.log_x is True and plot.ylim == (0.0, 1.0) and plot.hlines == [(0.5, "half")]
    np.testing.assert_array_equal(plot.series[0].y, [1.0, np.nan, 3.0, 4.0])
    np.testing.assert_array_equal(grid.rows[0][1][0], np.eye(3))
    assert list(map(list, table.rows)) == [[1.5, None], ["x", True]] and note.text == "[dim]n[/dim]"


def test_the_training_study_views_move_without_changing_the_run(tmp_path):
    """ntk train's views (band, checkpoint) are keys on the dashboard: they redraw the detail
    blocks from the finished run; the run's settings, command line and numbers stay."""
    path = preset_file(tmp_path, "train", "train", 'hidden = "16,16"\nsteps = 12\n'
                       'checkpoints = 3\nrow = 100\n')

    async def script(app, pilot):
        await until(pilot, lambda: finished(app))
        s = app.screen
        before = (s.report.payload, s.sub_title, dict(s.overrides),
                  [c.value for c in s.report.controls])
        await pilot.press("left_square_bracket")  # an earlier checkpoint
        await until(pilot, lambda: s.report.controls[1].value != before[3][1])
        await pilot.press("plus")  # the next band
        await until(pilot, lambda: s.report.controls[0].value != before[3][0])
        after = (s.report.payload, s.sub_title, dict(s.overrides),
                 [c.value for c in s.report.controls])
        return before, after, str(s.query_one("#controls").render())

    before, after, line = drive(NtkApp(presets.load(str(path))), script)
    assert after[0] == before[0] and after[1] == before[1] and after[2] == before[2] == {}
    assert after[3][1] == before[3][1] - 1 and after[3][0] == before[3][0] + 1
    assert "checkpoint (step" in line and "band" in line
