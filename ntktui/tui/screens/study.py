"""One preset's study: its panels (the Report's plots, tables and notes), filled live from a
worker thread, with keys to re-run, cancel, edit the parameters, switch quick/full, export,
compare with earlier runs, change how a plot is drawn (log axes, zoom, hidden series) and move
the mask controls (η, T), which redraw at once without recomputing the spectrum.

What is shown is always one Run (ntktui.tui.history): its own settings, its own Report. A run
that fails or is cancelled before any result leaves the previous Run on screen, marked stale; a
run cancelled after some results shows them, marked partial. Export writes the Run on screen.
"""

from __future__ import annotations

from dataclasses import replace
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

ZOOM = 2.0  # z and Z divide and multiply the shown x range by this


def one_line(exc: BaseException) -> str:
    """An error as the CLI would print it: our errors' own message, anything else by its type."""
    from engine.errors import EngineError
    from ntktui.errors import UserError

    if isinstance(exc, (UserError, EngineError)):
        return str(exc)
    return f"internal error: {type(exc).__name__}: {exc}"


def _series_keys():
    keys = [Binding(str(i), f"toggle_series({i - 1})", f"hide/show series {i}", show=False)
            for i in range(1, 10)]
    keys.append(Binding("0", "toggle_series(9)", "hide/show series 10", show=False))
    return keys


class StudyScreen(Screen):
    BINDINGS = [
        Binding("r", "run", "Run"),
        Binding("c", "cancel", "Cancel"),
        Binding("ctrl+c", "cancel", "Cancel the run", show=False),
        Binding("e", "edit", "Edit"),
        Binding("t", "toggle_quick", "Quick/full"),
        Binding("x", "export", "Export"),
        Binding("o", "compare", "Compare"),
        Binding("y", "copy_command", "Copy the command line", show=False),
        # the study's controls (the mask's η and T, the lab's band …): the line above the plot
        # shows their keys (the footer has no room); the help names them (describe_key)
        Binding("minus", "control(0, -1)", "first control down", show=False),
        Binding("plus,equals_sign", "control(0, 1)", "first control up", key_display="+", show=False),
        Binding("left_square_bracket", "control(1, -1)", "second control down", key_display="[",
                show=False),
        Binding("right_square_bracket", "control(1, 1)", "second control up", key_display="]",
                show=False),
        Binding("left_curly_bracket", "control(2, -1)", "third control down", key_display="{",
                show=False),
        Binding("right_curly_bracket", "control(2, 1)", "third control up", key_display="}",
                show=False),
        Binding("l", "log('y')", "plot: log/linear y axis", show=False),
        Binding("L", "log('x')", "plot: log/linear x axis", show=False),
        Binding("z", "zoom(0.5)", "plot: zoom into the x range", show=False),
        Binding("Z", "zoom(2.0)", "plot: zoom out", show=False),
        Binding("comma,less_than_sign", "pan(-1)", "plot: move the x range left", show=False,
                key_display="<"),
        Binding("full_stop,greater_than_sign", "pan(1)", "plot: move the x range right",
                show=False, key_display=">"),
        *_series_keys(),
        Binding("a", "reset_view", "plot: all series, whole range, axes as declared", show=False),
        Binding("question_mark,f1", "help", "Help", key_display="?"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, preset, quick: bool = False, overrides: dict | None = None, run=None):
        super().__init__()
        self.preset = preset
        self.study = preset.study
        self.quick = quick
        self.overrides: dict = dict(overrides or {})
        self.shown = run  # the history.Run on screen (None: nothing yet)
        self.pending = None  # the Run in progress
        self.stale = False  # what is shown is an earlier run than the last one started
        self.overlays: list = []  # earlier Runs laid over the plots
        self.views: dict = {}  # plot index → render.View
        self.run_id = 0
        self.worker: Worker | None = None
        self.thread_running = False

    def compose(self):
        yield Header()
        yield StatusLine(clock=self.app.clock, id="status")
        yield Static(id="command", markup=False)
        yield Static(id="stale", markup=False)
        yield Static(id="controls")
        yield ReportView(id="report")
        yield Footer()

    async def on_mount(self) -> None:
        self.title = self.preset.title
        self._describe()
        self.query_one("#stale").display = False
        self.query_one(ReportView).focus()
        if self.shown is not None:  # a run reopened from the history
            self.status.stop("done" if self.shown.complete else "cancelled",
                             f"kept from {self.shown.describe()}")
            await self._display()
        else:
            self.action_run()

    # --- state ------------------------------------------------------------------------------

    @property
    def report(self):
        """The Report on screen (its own run's, without overlays)."""
        return self.shown.the_report() if self.shown is not None else None

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

    @property
    def history(self):
        return self.app.history

    def arguments(self) -> dict:
        """analyse()'s keyword arguments: the preset's values (quick, edited) over the defaults."""
        return self.preset.arguments(quick=self.quick, overrides=self.overrides)

    def command_line(self) -> str:
        return self.preset.command_line(quick=self.quick, overrides=self.overrides)

    def _describe(self) -> None:
        try:
            line = self.command_line()
        except Exception as exc:  # an edited value the command line cannot express
            line = one_line(exc)
        self.sub_title = "quick sizes" if self.quick else "full sizes"
        self.query_one("#command", Static).update(Text(line, style="cyan"))
        self.status.set_mode(self.quick)

    def describe_key(self, binding: Binding) -> str | None:
        """The help's line for a key: a control key named after the control it moves on this
        study (η, T, the band shown …); a control or series key left out where this report has
        no such control or series."""
        report = self.report
        if binding.action.startswith("toggle_series("):
            index = int(binding.action[len("toggle_series("):-1])
            most = max((len(plot.series) for plot in (report.plots() if report else ())),
                       default=0)
            return binding.description if index < most else None
        if not binding.action.startswith("control("):
            return binding.description
        index, direction = (int(a) for a in binding.action[len("control("):-1].split(","))
        controls = report.controls if report is not None else ()
        if index >= len(controls):
            return None
        return f"{controls[index].label} {'down' if direction < 0 else 'up'}"

    def check_action(self, action: str, parameters) -> bool | None:
        if action == "cancel":
            return self.running
        if action == "run":
            return not self.running
        if action == "control":
            controls = self.report.controls if self.report is not None else ()
            return parameters[0] < len(controls) and not self.running
        if action == "compare":
            return self.shown is not None
        return True

    # --- running ----------------------------------------------------------------------------

    def action_run(self) -> None:
        from ntktui.tui.history import new_run

        if self.running:
            return
        try:
            args = self.arguments()
        except Exception as exc:
            self.notify(one_line(exc), title="cannot run", severity="error", timeout=8)
            return
        self.run_id += 1
        self.pending = new_run(self.preset, self.quick, self.overrides, args,
                               self.history.next_number())
        self.status.start(self.pending.label)
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
            run = self.pending
            run.report, run.complete = event.worker.result, event.worker.result.complete
            await self._show_run(run)
            self.status.stop("done")
            self.history.add(run)
            if self.history.error:
                self.notify(self.history.error, severity="warning", timeout=8)
                self.history.error = None
        elif state == WorkerState.CANCELLED:
            if self.thread_running:
                self.status.stop("cancelling", "the chunk in progress finishes first")
            else:
                await self._cancelled()
        elif state == WorkerState.ERROR:
            if isinstance(event.worker.error, Cancelled):
                await self._cancelled()
            else:
                await self._failed(one_line(event.worker.error))
        self.refresh_bindings()

    async def _cancelled(self) -> None:
        if self.status.state == "cancelled":
            return  # told twice (the worker's state, then its thread's end)
        run = self.pending
        if run is not None and self.shown is run:
            run.report = run.report.interrupted("cancelled: the rows above are the finished ones")
            run.complete = False
            await self._display()
            self.status.stop("cancelled", "the finished part is shown, marked partial")
        else:
            self._mark_stale("cancelled before any result")
            self.status.stop("cancelled", "nothing had finished")

    async def _failed(self, message: str) -> None:
        run = self.pending
        if run is not None and self.shown is run:  # partial results of the failed run
            run.report = run.report.interrupted(f"the run failed: {message}")
            run.complete = False
            await self._display()
        else:
            self._mark_stale("failed")
        self.status.stop("failed", message)
        self.notify(message, title=f"ntk {self.preset.command} failed", severity="error",
                    timeout=10)

    def _mark_stale(self, why: str) -> None:
        self.stale = self.shown is not None
        banner = self.query_one("#stale", Static)
        if self.stale:
            banner.update(f"⚠ stale: the last run {why}; shown is {self.shown.label}, "
                          f"{self.shown.command_line()}")
        banner.display = self.stale
        self.view.set_class(self.stale, "stale")

    async def on_progressed(self, message: Progressed) -> None:
        # Filtered by run id only: a thread worker's state is SUCCESS before the messages it
        # posted are handled, so a filter on its state would drop the run's last progress. The
        # messages of one run arrive in order, before its Worker.StateChanged.
        if message.run != self.run_id:
            return
        self.status.progress(message.label, message.done, message.total)
        if message.partial is not None:
            run = self.pending
            run.report, run.complete = message.partial, False
            await self._show_run(run)

    def on_stopped(self, message: Stopped) -> None:
        if message.run != self.run_id:
            return
        self.thread_running = False
        if self.status.state == "cancelling":
            self.call_later(self._cancelled)

    async def _show_run(self, run) -> None:
        if self.shown is not run:
            self.shown = run
            self.stale = False
            self.query_one("#stale").display = False
            self.view.remove_class("stale")
        await self._display()

    async def _display(self) -> None:
        """Show the Run on screen with the chosen earlier runs laid over its plots."""
        from ntktui.tui.history import difference, overlaid

        report = self.report
        if report is None:
            return
        earlier = [(difference(self.shown, r, self.study), r.the_report()) for r in self.overlays]
        await self.view.show(overlaid(report, earlier), self.views)
        self._draw_controls()
        self.refresh_bindings()

    def _draw_controls(self) -> None:
        controls = self.report.controls if self.report is not None else ()
        line = self.query_one("#controls", Static)
        line.display = bool(controls)
        keys = ("-/+", "[/]", "{/}")
        line.update(Text("   ".join(f"{c.label} = {c.value:g} ({k})"
                                for c, k in zip(controls, keys))))

    # --- plot views -------------------------------------------------------------------------

    def current_plot(self) -> int | None:
        """The index of the plot the plot keys act on: the focused one, else the first."""
        plots = self.view.plot_views()
        if not plots:
            return None
        focused = self.focused
        return plots.index(focused) if focused in plots else 0

    def _change_view(self, change) -> None:
        from ntktui.render import ImageGrid, View

        index = self.current_plot()
        if index is None:
            self.notify("no plot to change", timeout=3)
            return
        widget = self.view.plot_views()[index]
        if isinstance(widget.plot, ImageGrid):
            self.notify("images have no axes to change", timeout=3)
            return
        view = self.views.get(index, View(numbered=True))
        new = change(widget.plot, view)
        if new is None:
            return
        self.views[index] = new
        self.view.set_views(self.views)

    def action_log(self, axis: str) -> None:
        def change(plot, view):
            log_x, log_y = view.logs(plot)
            if axis == "x":
                return replace(view, log_x=not log_x, window=(0.0, 1.0))
            return replace(view, log_y=not log_y)

        self._change_view(change)

    def action_zoom(self, factor: float) -> None:
        def change(plot, view):
            a, b = view.window
            mid, half = (a + b) / 2, (b - a) / 2 * factor
            half = min(0.5, max(half, 1 / 256))
            mid = min(1 - half, max(half, mid))
            return replace(view, window=(mid - half, mid + half))

        self._change_view(change)

    def action_pan(self, direction: int) -> None:
        def change(plot, view):
            a, b = view.window
            if (a, b) == (0.0, 1.0):
                self.notify("zoom in first (z): the whole x range is shown", timeout=3)
                return None
            shift = direction * (b - a) / 4
            shift = min(1 - b, max(-a, shift))
            return replace(view, window=(a + shift, b + shift))

        self._change_view(change)

    def action_toggle_series(self, index: int) -> None:
        def change(plot, view):
            if index >= len(plot.series):
                self.notify(f"this plot has {len(plot.series)} series", timeout=3)
                return None
            hidden = set(view.hidden) ^ {index}
            if len(hidden) == len(plot.series):
                self.notify("the last shown series stays", timeout=3)
                return None
            return replace(view, hidden=frozenset(hidden))

        self._change_view(change)

    def action_reset_view(self) -> None:
        from ntktui.render import View

        self._change_view(lambda plot, view: View(numbered=True))

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
        if control.view:  # the same run, shown differently: its settings do not change
            self.shown = replace(self.shown, report=report)
            await self._display()
            return
        from ntktui.tui.history import settings_of

        self.overrides[control.name] = value
        self._describe()
        # What is shown is now the same computation with the control's new value: a Run of its
        # own (exported with that value), while the history keeps the run as it ran.
        self.shown = replace(self.shown, overrides=dict(self.overrides), report=report,
                             settings=settings_of(self.study, self.arguments()), folder=None)
        await self._display()

    def action_toggle_quick(self) -> None:
        self.quick = not self.quick
        self._describe()
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

    def action_compare(self) -> None:
        from ntktui.tui.screens.compare import CompareScreen

        if self.shown is None:
            return
        mine = self.shown.folder
        runs = [r for r in self.history.runs(command=self.study.name)
                if r is not self.shown and (mine is None or r.folder != mine)]
        if not runs:
            self.notify(f"no earlier run of ntk {self.study.name} to compare with yet: change a "
                        "setting (e, t) and run again", timeout=6)
            return

        async def chosen(selected) -> None:
            if selected is None:
                return
            try:
                for r in selected:
                    r.the_report()
            except Exception as exc:  # noqa: BLE001 - a damaged history entry
                self.notify(f"cannot read that run: {one_line(exc)}", severity="error", timeout=8)
                return
            self.overlays = list(selected)
            await self._display()

        self.app.push_screen(CompareScreen(self.shown, runs, self.overlays), chosen)

    def action_copy_command(self) -> None:
        line = self.command_line()
        self.app.copy_to_clipboard(line)
        self.notify(line, title="copied to the clipboard", timeout=5)

    def action_help(self) -> None:
        from ntktui.tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen(self))

    def action_export(self) -> None:
        if self.shown is None or self.report is None:
            self.notify("nothing to export yet", severity="warning", timeout=3)
            return
        partial = "" if self.shown.complete else " (a partial run: marked in each file)"
        stale = f" ({self.shown.label}, not the last run, which {self._last_outcome()})" \
            if self.stale else ""
        self._export(self.shown, Path(getattr(self.app, "export_dir", ".")), partial + stale)

    @work(thread=True, exit_on_error=False, group="export")
    def _export(self, run, base: Path, said: str) -> None:
        """Export in a thread: drawing the figures takes a second or more a plot, and the
        dashboard keeps answering meanwhile; the notification says when it is done."""
        from ntktui import export

        try:
            folder, written = export_report(run, base)
        except Exception as exc:
            self.app.call_from_thread(self.notify, one_line(exc), title="export failed",
                                      severity="error", timeout=10)
            return
        hint = export.figures_hint()
        self.app.call_from_thread(
            self.notify, f"saved {', '.join(written)} in {folder}{said}"
            + (f"\n{hint}" if hint else ""), title="exported", timeout=10)

    def _last_outcome(self) -> str:
        return {"failed": "failed", "cancelled": "was cancelled"}.get(self.status.state,
                                                                       "has no result")

    def action_back(self) -> None:
        if self.running:
            from ntktui.tui.screens.dialogs import LeaveRunning

            def answer(choice) -> None:
                if choice == "cancel":
                    self.action_cancel()
                if choice in ("cancel", "keep"):
                    self.app.pop_screen()

            self.app.push_screen(LeaveRunning(self.preset.command, self.pending.label), answer)
            return
        self.app.pop_screen()


def export_report(run, base: Path):
    """Save a Run as `ntk run --out` does, into BASE/NAME-YYYYMMDD-HHMMSS[-partial]/ (absolute):
    its own payload, text and preset as run. A partial run says so in every file: result.json
    ("interrupted": true), plot.txt (its note), preset.toml (its header) and the folder name."""
    from ntktui import export
    from ntktui.output import report_text, result_payload

    report = run.the_report()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    suffix = "" if run.complete else "-partial"
    folder = export.prepare(base.expanduser().resolve() / f"{run.name}-{stamp}{suffix}")
    preset = run.the_preset()
    payload = {**result_payload(report, preset.command_line(run.quick, run.overrides)),
               "interrupted": not run.complete}
    header = f"Exported from `ntk tui`, {run.label} of {run.started:%Y-%m-%d %H:%M}"
    if not run.complete:
        header += " (PARTIAL: stopped before the end; the files hold the finished part)"
    copy = export.preset_copy(preset, header, run.quick, run.overrides)
    written = export.save(folder, payload, report_text(report), copy, report)
    return folder, written
