"""The dashboard, driven by key presses in an 80 × 24 terminal (Textual's Pilot): the panels show
the numbers the CLI prints, the mask keys redraw at once, the λ_min table fills row by row, a
long sweep stops from the keyboard, failures are notifications, exports repeat the run."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("textual")

from ntktui import presets  # noqa: E402
from ntktui.output import fmt  # noqa: E402
from ntktui.report import compute  # noqa: E402
from ntktui.tui.app import NtkApp  # noqa: E402
from ntktui.tui.runner import TuiProgress  # noqa: E402
from ntktui.tui.screens import BrowserScreen, ParamsScreen, StudyScreen  # noqa: E402
from ntktui.tui.widgets import PlotView, ReportView, TableBlock  # noqa: E402

SIZE = (80, 24)
HEAD = 'title = "T"\ndescription = "D."\npaper = "P"\n'


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

    assert listed == [*presets.bundled_names(), "analyses-heading",
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
        assert row[0] == result["activation"] and row[2] == fmt(result["singular_values"][0])
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
        return before, after, s.report.payload, tables(app), line, s.sub_title

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
    assert "--eta 1.25" in sub_title and "--steps 200" in sub_title


def test_lmin_table_fills_row_by_row_with_the_cli_numbers(tmp_path, ntk, monkeypatch):
    path = preset_file(tmp_path, "lmin", "lmin", 'act = ["cos", "relu"]\nsamples = "6,12"\n'
                       'hidden = "4N,16"\nn0 = 8\nsigma_w = 0.35\n')
    seen = []
    show = ReportView.show

    async def recording(self, report):
        await show(self, report)
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
    assert rows[1][2] == fmt(cli["results"][0]["lambda_min"][1])


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
        return refused, notes, s.overrides, s.sub_title

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
        return first, s.report.payload["width"], s.quick, s.sub_title

    first, second, now_quick, sub_title = drive(NtkApp(p, quick=False), script)
    assert (first, second, now_quick) == (full, quick, True)
    assert f"--width {quick}" in sub_title


# --- export -------------------------------------------------------------------------------------

def test_export_saves_the_panel_data_and_plot_text_and_the_preset_repeats_it(tmp_path, ntk):
    path = preset_file(tmp_path, "tiny", "spectrum", 'act = ["relu", "tanh"]\nwidth = 10\n')
    out = tmp_path / "exports"

    async def script(app, pilot):
        s = app.screen
        form = await open_form(app, pilot)
        form.query_one("#field-width").value = "12"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: finished(app) and s.report.payload["width"] == 12)
        await pilot.press("x")
        await pilot.pause()
        return s.report.payload, [n.message for n in app._notifications]

    payload, notes = drive(NtkApp(presets.load(str(path)), export_dir=out), script)
    (folder,) = list(out.iterdir())
    assert folder.name.startswith("tiny-") and any(str(folder) in n for n in notes)
    assert sorted(f.name for f in folder.iterdir()) == ["arrays.npz", "plot.txt", "preset.toml",
                                                       "result.json"]
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


def test_every_bundled_preset_opens_starts_and_cancels(hold_until_cancelled):
    """Each preset's study screen opens, its analysis starts in a worker, c stops it, and escape
    goes back to the browser (the full runs are tested through `ntk run` in test_presets). The
    analyses hold as they begin until c, so each one must end "cancelled"."""
    hold_until_cancelled(0)
    names = presets.bundled_names()

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
