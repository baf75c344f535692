"""Snapshots of the dashboard at 80 × 24 (pytest-textual-snapshot): the preset browser, a
finished study and the parameter form. A changed screen fails here; after checking the new
look (`snapshot_report.html`), accept it with `scripts/test tests/test_tui_snapshots.py
--snapshot-update`. The SVGs depend on how Textual and plotext draw, so they are compared only
with the versions they were recorded with (RECORDED_WITH)."""

from __future__ import annotations

from importlib.metadata import version

import pytest

pytest.importorskip("pytest_textual_snapshot")

from ntktui import presets  # noqa: E402
from ntktui.tui.app import NtkApp  # noqa: E402

SIZE = (80, 24)
RECORDED_WITH = {"textual": "8.2", "plotext": "5.3"}
HEAD = 'title = "Tiny spectrum"\ndescription = "D."\npaper = "P"\ncommand = "spectrum"\n'


def _minor(package: str) -> str:
    return ".".join(version(package).split(".")[:2])


pytestmark = pytest.mark.skipif(
    any(_minor(p) != v for p, v in RECORDED_WITH.items()),
    reason="snapshots recorded with " + ", ".join(f"{p} {v}" for p, v in RECORDED_WITH.items())
    + "; rerun with --snapshot-update to record them for these versions")


def test_browser(snap_compare):
    assert snap_compare(NtkApp(), terminal_size=SIZE, press=["down", "down"])


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(HEAD + '[params]\nact = ["relu", "sinc"]\nwidth = 24\n', encoding="utf-8")
    return presets.load(str(path))


def frozen() -> float:
    """The status line's clock, stopped: elapsed times do not depend on the machine."""
    return 0.0


async def _finished(pilot):
    screen = pilot.app.screen
    while screen.status.state != "done":
        await pilot.pause(0.05)
    await pilot.pause()


def test_finished_study(snap_compare, tiny):
    assert snap_compare(NtkApp(tiny, clock=frozen), terminal_size=SIZE, run_before=_finished)


def test_parameter_form(snap_compare, tiny):
    async def form(pilot):
        await _finished(pilot)
        await pilot.press("e")
        await pilot.pause()

    assert snap_compare(NtkApp(tiny, clock=frozen), terminal_size=SIZE, run_before=form)
