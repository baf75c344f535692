"""Snapshots of the dashboard at 80 × 24 and 120 × 40 (pytest-textual-snapshot): the preset
browser, a finished study, the parameter form, the help, and two runs compared on one plot. A
changed screen fails here; after checking the new look (`snapshot_report.html`), accept it with
`scripts/test tests/test_tui_snapshots.py --snapshot-update`. The SVGs depend on how Textual
draws, so they are compared only with the version they were recorded with (RECORDED_WITH).

Deterministic under load: the status line's clock is frozen, every snapshot waits for a state
(never a duration), plots use the 256-colour palette whatever the terminal, and each test has an
empty history."""

from __future__ import annotations

from importlib.metadata import version

import pytest

pytest.importorskip("pytest_textual_snapshot")

from ntktui import presets  # noqa: E402
from ntktui.tui.app import NtkApp  # noqa: E402

SMALL, LARGE = (80, 24), (120, 40)
RECORDED_WITH = {"textual": "8.2"}
HEAD = 'title = "Tiny spectrum"\ndescription = "D."\npaper = "P"\ncommand = "spectrum"\n'


def _minor(package: str) -> str:
    return ".".join(version(package).split(".")[:2])


pytestmark = pytest.mark.skipif(
    any(_minor(p) != v for p, v in RECORDED_WITH.items()),
    reason="snapshots recorded with " + ", ".join(f"{p} {v}" for p, v in RECORDED_WITH.items())
    + "; rerun with --snapshot-update to record them for these versions")


@pytest.fixture(autouse=True)
def empty_history(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def frozen() -> float:
    """The status line's clock, stopped: elapsed times do not depend on the machine."""
    return 0.0


def app(preset=None) -> NtkApp:
    return NtkApp(preset, clock=frozen, plot_colors=256)


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(HEAD + '[params]\nact = ["relu", "sinc"]\nwidth = 24\n', encoding="utf-8")
    return presets.load(str(path))


async def _finished(pilot, width: int | None = None):
    screen = pilot.app.screen
    while screen.status.state != "done" or (
            width is not None and screen.report.payload["width"] != width):
        await pilot.pause(0.05)
    await pilot.pause()


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "120x40"])
def test_browser(snap_compare, size):
    assert snap_compare(app(), terminal_size=size, press=["down", "down"])


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "120x40"])
def test_finished_study(snap_compare, tiny, size):
    assert snap_compare(app(tiny), terminal_size=size, run_before=_finished)


def test_parameter_form(snap_compare, tiny):
    async def form(pilot):
        await _finished(pilot)
        await pilot.press("e")
        await pilot.pause()

    assert snap_compare(app(tiny), terminal_size=SMALL, run_before=form)


def test_help(snap_compare, tiny):
    async def help_(pilot):
        await _finished(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(app(tiny), terminal_size=SMALL, run_before=help_)


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "120x40"])
def test_two_runs_compared(snap_compare, tiny, size):
    async def compared(pilot):
        await _finished(pilot)
        await pilot.press("e")
        await pilot.pause()
        pilot.app.screen.query_one("#field-width").value = "48"
        await pilot.press("enter")
        await _finished(pilot, width=48)
        await pilot.press("o")
        await pilot.pause()
        await pilot.press("space", "enter")
        await pilot.pause()

    assert snap_compare(app(tiny), terminal_size=size, run_before=compared)
