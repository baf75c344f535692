"""The dashboard's App: the preset browser first, a study screen per opened preset, presets in
the command palette, and JAX imported in a background thread so the first screen appears at
once (the first study waits for it if it has to)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from textual import work
from textual.app import App
from textual.worker import Worker, WorkerState

from ntktui.tui.palette import PresetCommands


class NtkApp(App):
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses live elsewhere
    TITLE = "ntk"
    COMMANDS = App.COMMANDS | {PresetCommands}

    def __init__(self, preset=None, quick: bool = False, export_dir: str | Path = ".",
                 clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.clock = clock  # the status lines' clock (a test freezes it)
        self.initial = preset
        self.quick = quick
        self.export_dir = Path(export_dir).expanduser()
        self.device: str | None = None

    def on_mount(self) -> None:
        from ntktui.presets import list_analyses, list_presets
        from ntktui.tui.screens import BrowserScreen

        self.push_screen(BrowserScreen(list_presets(), list_analyses()))
        if self.initial is not None:
            self.open_preset(self.initial)
        self._warm_up()

    @work(thread=True, exit_on_error=False, group="warm-up")
    def _warm_up(self) -> str:
        from engine import backend

        backend.configure()
        return backend.default_device_name()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "warm-up":
            return
        if event.state == WorkerState.SUCCESS:
            self.device = event.worker.result
        elif event.state == WorkerState.ERROR:
            self.notify(f"JAX did not start: {event.worker.error}", severity="error", timeout=10)

    def open_preset(self, preset) -> None:
        """Open a study screen for a Preset, a bundled preset's name or a preset file."""
        from ntktui.presets import load
        from ntktui.tui.screens import StudyScreen
        from ntktui.tui.screens.study import one_line

        try:
            if not hasattr(preset, "command"):
                preset = load(preset)
            screen = StudyScreen(preset, quick=self.quick)
        except Exception as exc:
            self.notify(one_line(exc), title="cannot open", severity="error", timeout=10)
            return
        self.push_screen(screen)
