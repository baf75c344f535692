"""The dashboard's App: the preset browser first, one study screen per opened preset (kept, so
that returning to a study shows its last results, and a run left running goes on), presets in
the command palette, the history of runs, and JAX imported in a background thread so that the
first screen appears at once (the first study waits for it if it has to)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from textual import work
from textual.app import App
from textual.worker import Worker, WorkerState

from ntktui.tui.palette import PresetCommands


def study_key(preset) -> str:
    """One study screen per preset: a bundled name, an analysis, or a file of the user's."""
    if preset.analysis:
        return f"analysis:{preset.name}"
    if preset.bundled:
        return f"preset:{preset.name}"
    return f"file:{preset.source}"


class NtkApp(App):
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses live elsewhere
    TITLE = "ntk"
    COMMANDS = App.COMMANDS | {PresetCommands}

    def __init__(self, preset=None, quick: bool = False, export_dir: str | Path = ".",
                 clock: Callable[[], float] = time.monotonic, history=None,
                 plot_colors: int | None = None):
        super().__init__()
        self.plot_colors = plot_colors  # 16 or 256 plot colours; None: as the terminal reports
        self.clock = clock  # the status lines' clock (a test freezes it)
        self.initial = preset
        self.quick = quick
        self.export_dir = Path(export_dir).expanduser()
        self.device: str | None = None
        self._history = history
        self._studies: dict = {}  # study_key → StudyScreen
        self._noted: dict = {}  # (title, message, severity) → when it was last shown
        self._warming = False

    @property
    def history(self):
        if self._history is None:
            from ntktui.tui.history import History, history_dir

            self._history = History(history_dir())
        return self._history

    def on_mount(self) -> None:
        from ntktui.presets import list_analyses, list_presets
        from ntktui.tui.screens import BrowserScreen

        files = []
        if self.initial is not None and hasattr(self.initial, "command") and not (
                self.initial.bundled or self.initial.analysis):
            files.append(self.initial)  # `ntk tui FILE.toml`: the user's file is listed
        self.push_screen(BrowserScreen(list_presets(), list_analyses(), files, self.history))
        if self.initial is not None:
            self.open_preset(self.initial)
        # (the browser starts the JAX warm-up once it is drawn: see warm_up)

    def warm_up(self) -> None:
        """Import JAX in a thread, once. Its import holds the GIL for long stretches, so the
        browser calls this after its first paint rather than competing with it."""
        if not self._warming:
            self._warming = True
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

    def notify(self, message: str, *, title: str = "", severity="information",
               timeout: float | None = None, markup: bool = False) -> None:
        """One notification per cause: the same message again while it is still shown (a key
        held at a limit) is dropped. Messages are plain text (a value may hold brackets)."""
        timeout = self.NOTIFICATION_TIMEOUT if timeout is None else timeout
        cause = (title, message, severity)
        now = time.monotonic()
        shown = self._noted.get(cause)
        if shown is not None and now < shown:
            return
        self._noted = {k: v for k, v in self._noted.items() if v > now}
        self._noted[cause] = now + timeout
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def open_preset(self, preset) -> None:
        """Show the study screen of a Preset, a bundled preset's name or a preset file: the one
        already open (with its results), else a new one that starts its run. A study opened
        over another replaces it, so escape always returns to the browser."""
        from ntktui.presets import load
        from ntktui.tui.screens import StudyScreen
        from ntktui.tui.screens.study import one_line

        try:
            if not hasattr(preset, "command"):
                preset = load(preset)
            key = study_key(preset)
            screen = self._studies.get(key)
            if screen is None:
                screen = StudyScreen(preset, quick=self.quick)
        except Exception as exc:
            self.notify(one_line(exc), title="cannot open", severity="error", timeout=10)
            return
        self._show_study(key, screen)

    def open_run(self, run) -> None:
        """Reopen a run kept in the history: its results as they were, its settings to run
        again."""
        from ntktui.tui.screens import StudyScreen
        from ntktui.tui.screens.study import one_line

        key = f"run:{run.folder or id(run)}"
        screen = self._studies.get(key)
        if screen is None:
            try:
                run.the_report()
                screen = StudyScreen(run.the_preset(), quick=run.quick, overrides=run.overrides,
                                     run=run)
            except Exception as exc:  # noqa: BLE001 - a damaged or unreadable entry
                self.notify(one_line(exc), title="cannot reopen", severity="error", timeout=10)
                return
        self._show_study(key, screen)

    def _show_study(self, key: str, screen) -> None:
        from ntktui.tui.screens import StudyScreen

        if key not in self._studies:
            self._studies[key] = screen
            self.install_screen(screen, name=key)
        if self.screen is screen:
            return
        if isinstance(self.screen, StudyScreen):
            self.switch_screen(screen)
        else:
            self.push_screen(screen)
