"""One preset's study: its panels (the Report's plots, tables and notes), filled live from a
worker thread, with keys to re-run, cancel, edit the parameters, switch quick/full, export, and
move the mask controls (η, T), which redraw at once without recomputing the spectrum."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Static
from textual.worker import Worker, WorkerState, get_current_worker

from ntktui.report import Cancelled
from ntktui.tui.runner import Progressed, Stopped, TuiProgress
from ntktui.tui.widgets import ReportView, StatusLine

# Keys for a Report's first two controls (the mask's η and T), as (down, up).
CONTROL_KEYS = (("minus", "plus"), ("left_square_bracket", "right_square_bracket"))


def one_line(exc: BaseException) -> str:
    """An error as the CLI would print it: our errors' own message, anything else by its type."""
    from engine.errors import EngineError
    from ntktui.errors import UserError

    if isinstance(exc, (UserError, EngineError)):
        return str(exc)
    return f"internal error: {type(exc).__name__}: {exc}"


class StudyScreen(Screen):
    BINDINGS = [
        Binding("r", "run", "Run"),
        Binding("c", "cancel", "Cancel"),
        Binding("ctrl+c", "cancel", "Cancel", show=False),
        Binding("e", "edit", "Edit"),
        Binding("t", "toggle_quick", "Quick"),
        Binding("x", "export", "Export"),
        Binding("minus", "control(0, -1)", "η−"),
        Binding("plus,equals_sign", "control(0, 1)", "η+", key_display="+"),
        Binding("left_square_bracket", "control(1, -1)", "T−", key_display="["),
        Binding("right_square_bracket", "control(1, 1)", "T+", key_display="]"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, preset, quick: bool = False, overrides: dict | None = None):
        super().__init__()
        self.preset = preset
        self.study = preset.study
        self.quick = quick
        self.overrides: dict = dict(overrides or {})
        self.report = None
        self.run_id = 0
        self.worker: Worker | None = None
        self.thread_running = False

    def compose(self):
        yield Header()
        yield StatusLine(clock=self.app.clock, id="status")
        yield Static(id="controls")
        yield ReportView(id="report")
        yield Footer()

    def on_mount(self) -> None:
        self.title = self.preset.title
        self._describe()
        self.query_one(ReportView).focus()
        self.action_run()

    # --- state ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.worker is not None and self.worker.state in (WorkerState.PENDING,
                                                                 WorkerState.RUNNING)

    @property
    def status(self) -> StatusLine:
        return self.query_one(StatusLine)

    @property
    def view(self) -> ReportView:
        return self.query_one(ReportView)

    def arguments(self) -> dict:
        """analyse()'s keyword arguments: the preset's values (quick, edited) over the defaults."""
        return self.preset.arguments(quick=self.quick, overrides=self.overrides)

    def _describe(self) -> None:
        try:
            line = self.preset.command_line(quick=self.quick, overrides=self.overrides)
        except Exception as exc:  # an edited value the command line cannot express
            line = one_line(exc)
        self.sub_title = line

    def check_action(self, action: str, parameters) -> bool | None:
        if action == "cancel":
            return self.running
        if action == "run":
            return not self.running
        if action == "control":
            controls = self.report.controls if self.report is not None else ()
            return parameters[0] < len(controls) and not self.running
        return True

    # --- running ----------------------------------------------------------------------------

    def action_run(self) -> None:
        if self.running:
            return
        try:
            args = self.arguments()
        except Exception as exc:
            self.notify(one_line(exc), title="cannot run", severity="error", timeout=8)
            return
        self.run_id += 1
        self.status.start()
        self.thread_running = True
        self.worker = self._compute(self.run_id, args)
        self.refresh_bindings()

    @work(thread=True, exclusive=True, exit_on_error=False, group="analysis")
    def _compute(self, run: int, args: dict):
        worker = get_current_worker()
        try:
            return self.study.analyse(TuiProgress(self, worker, run), **args)
        finally:
            self.post_message(Stopped(run))

    def _rerun(self) -> None:
        """Cancel the run in progress (it stops after its chunk) and start a new one at once."""
        self.action_cancel()
        self.worker = None
        self.action_run()

    def action_cancel(self) -> None:
        if self.running:
            self.worker.cancel()

    async def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is not self.worker:
            return  # a run that was replaced or cancelled before
        state = event.state
        if state == WorkerState.SUCCESS:
            await self._show(event.worker.result)
            self.status.stop("done")
        elif state == WorkerState.CANCELLED:
            if self.thread_running:
                self.status.stop("cancelling", "the chunk in progress finishes first")
            else:
                self._cancelled()
        elif state == WorkerState.ERROR:
            if isinstance(event.worker.error, Cancelled):
                self._cancelled()
            else:
                message = one_line(event.worker.error)
                self.status.stop("failed", message)
                self.notify(message, title=f"ntk {self.preset.command} failed",
                            severity="error", timeout=10)
        self.refresh_bindings()

    def _cancelled(self) -> None:
        st = self.status
        st.stop("cancelled", "the finished part is shown" if st.done else "nothing had finished")

    async def on_progressed(self, message: Progressed) -> None:
        # Filtered by run id only: a thread worker's state is SUCCESS before the messages it
        # posted are handled, so a filter on its state would drop the run's last progress. The
        # messages of one run arrive in order, before its Worker.StateChanged.
        if message.run != self.run_id:
            return
        self.status.progress(message.label, message.done, message.total)
        if message.partial is not None:
            await self._show(message.partial)

    def on_stopped(self, message: Stopped) -> None:
        if message.run != self.run_id:
            return
        self.thread_running = False
        if self.status.state == "cancelling":
            self._cancelled()

    async def _show(self, report) -> None:
        self.report = report
        await self.view.show(report)
        self._draw_controls()
        self.refresh_bindings()

    def _draw_controls(self) -> None:
        controls = self.report.controls if self.report is not None else ()
        line = self.query_one("#controls", Static)
        line.display = bool(controls)
        keys = ("-/+", "[/]")
        line.update(Text("   ".join(f"{c.label} = {c.value:g} ({k})"
                                for c, k in zip(controls, keys))))

    # --- keys -------------------------------------------------------------------------------

    async def action_control(self, index: int, direction: int) -> None:
        if self.report is None or index >= len(self.report.controls) or self.running:
            return
        control = self.report.controls[index]
        value = control.moved(direction)
        if value == control.value:
            self.notify(f"{control.label} is at its limit {value:g}", timeout=3)
            return
        try:
            report = self.report.adjust(**{control.name: value})
        except Exception as exc:
            self.notify(one_line(exc), severity="error", timeout=8)
            return
        self.overrides[control.name] = value
        self._describe()
        await self._show(report)

    def action_toggle_quick(self) -> None:
        self.quick = not self.quick
        self._describe()
        self.notify("quick sizes" if self.quick else "full sizes", timeout=2)
        self._rerun()

    def action_edit(self) -> None:
        from ntktui.tui.screens.params import ParamsScreen

        def edited(overrides) -> None:
            if overrides is None:
                return
            self.overrides = overrides
            self._describe()
            self._rerun()

        self.app.push_screen(ParamsScreen(self.preset, self.quick, self.overrides), edited)

    def action_export(self) -> None:
        if self.report is None:
            self.notify("nothing to export yet", severity="warning", timeout=3)
            return
        try:
            folder, written = export_report(self.preset, self.report, self.quick, self.overrides,
                                            Path(getattr(self.app, "export_dir", ".")))
        except Exception as exc:
            self.notify(one_line(exc), title="export failed", severity="error", timeout=10)
            return
        partial = "" if self.report.complete else " (partial: the finished rows)"
        self.notify(f"saved {', '.join(written)} in {folder}{partial}", title="exported",
                    timeout=8)

    def action_back(self) -> None:
        self.action_cancel()
        self.app.pop_screen()


def export_report(preset, report, quick: bool, overrides: dict, base: Path):
    """Save the Report as `ntk run --out` does, into BASE/PRESET-YYYYMMDD-HHMMSS/."""
    from ntktui import export
    from ntktui.output import report_text

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = export.prepare(base / f"{preset.name}-{stamp}")
    payload = dict(report.payload)
    if not report.complete:
        payload["interrupted"] = True
    copy = export.preset_copy(preset, "Exported from `ntk tui`", quick, overrides)
    written = export.save(folder, payload, report_text(report), copy)
    return folder, written
