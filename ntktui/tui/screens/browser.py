"""The first screen: the user's own preset files, the bundled presets (one per paper figure or
study), every analysis with its defaults, and the recent runs kept in the history; and what the
highlighted one shows."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from ntktui.tui.history import RECENT


class BrowserScreen(Screen):
    BINDINGS = [
        Binding("enter", "open", "Open", priority=True),
        Binding("t", "toggle_quick", "Quick/full"),
        Binding("question_mark,f1", "help", "Help", key_display="?"),
    ]

    def __init__(self, presets, analyses=(), files=(), history=None):
        super().__init__()
        # option id → Preset or Run: "file:PATH", a preset's name, "analysis:NAME", "run:ID"
        self.files = {f"file:{p.source}": p for p in files}
        self.bundled = {p.name: p for p in presets}
        self.analyses = {f"analysis:{p.name}": p for p in analyses}
        self.history = history
        self.runs: dict = {}
        self.counts = (len(presets), len(analyses))

    @property
    def presets(self) -> dict:
        """Option id → Preset: the user's files, the bundled presets, the analyses."""
        return {**self.files, **self.bundled, **self.analyses}

    @property
    def entries(self) -> dict:
        """Every option's id → its Preset, or its history Run for a recent run."""
        return {**self.presets, **self.runs}

    def compose(self):
        yield Header()
        with Horizontal():
            yield OptionList(*self._options(), id="presets")
            with VerticalScroll(id="about"):
                yield Static(id="description")
        yield Footer()

    def _options(self) -> list[Option]:
        self.runs = {}
        if self.history is not None:
            for run in self.history.runs(limit=RECENT):
                self.runs[f"run:{run.folder.name if run.folder else id(run)}"] = run
        options = []
        for heading, group in (("your files", self.files), ("presets", self.bundled),
                               ("analyses", self.analyses), ("recent runs", self.runs)):
            if not group:
                continue
            if options or heading != "presets":
                options.append(Option(f"── {heading} ──", id=f"heading:{heading}", disabled=True))
            for key, item in group.items():
                options.append(Option(self._label(key, item), id=key))
        return options

    @staticmethod
    def _label(key: str, item) -> str:
        if key.startswith("run:"):
            return f"{item.started:%d %b %H:%M} {item.name}"
        if key.startswith("file:"):
            return f"{item.name} (file)"
        return item.name

    def on_mount(self) -> None:
        self.title = "ntk: spectra of neural networks"
        self._sub_title()
        self.query_one(OptionList).focus()
        first = next((k for k in self.entries), None)
        if first is not None:
            self._describe(first)
        warm_up = getattr(self.app, "warm_up", None)
        if warm_up is not None:  # JAX, once this screen is drawn
            self.call_after_refresh(warm_up)

    def on_screen_resume(self) -> None:
        """Back from a study: its run may have joined the recent runs."""
        if self.history is None:
            return
        options = self.query_one(OptionList)
        keep = self._highlighted_id()
        options.clear_options()
        options.add_options(self._options())
        if keep is not None:
            try:
                options.highlighted = options.get_option_index(keep)
                options.scroll_to_highlight()
            except Exception:  # noqa: BLE001 - the entry is gone (pruned)
                pass
        self._sub_title()

    def _highlighted_id(self) -> str | None:
        options = self.query_one(OptionList)
        if options.highlighted is None:
            return None
        return options.get_option_at_index(options.highlighted).id

    def _sub_title(self) -> None:
        quick = getattr(self.app, "quick", False)
        presets, analyses = self.counts
        self.sub_title = (f"{presets} presets, {analyses} analyses · "
                          + ("quick sizes" if quick else "full sizes"))

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._describe(event.option.id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self._open(event.option.id)

    def action_open(self) -> None:
        key = self._highlighted_id()
        if key is not None:
            self._open(key)

    def _open(self, key: str | None) -> None:
        item = self.entries.get(key)
        if item is None:  # a heading
            return
        if key.startswith("run:"):
            self.app.open_run(item)
        else:
            self.app.open_preset(item)

    def action_toggle_quick(self) -> None:
        self.app.quick = not self.app.quick
        self._sub_title()
        key = self._highlighted_id()
        if key is not None:  # its command line shows the sizes it will run
            self._describe(key)

    def action_help(self) -> None:
        from ntktui.tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen(self))

    def _describe(self, key: str | None) -> None:
        item = self.entries.get(key)
        if item is None:
            return
        text = Text()
        if key.startswith("run:"):
            text.append(item.title + "\n", style="bold")
            text.append(f"{item.describe()}: kept in the history; enter reopens it (r runs it "
                        "again, o compares)\n\n", style="italic")
            try:
                text.append(item.command_line(), style="cyan")
            except Exception as exc:  # noqa: BLE001 - a preset that no longer loads
                text.append(f"cannot rebuild its preset: {exc}", style="red")
            self.query_one("#description", Static).update(text)
            return
        quick = getattr(self.app, "quick", False)
        text.append(item.title + "\n", style="bold")
        origin = item.paper or "analysis with its defaults"
        if key.startswith("file:"):
            origin = f"your file {item.source}" + (f"; {item.paper}" if item.paper else "")
        text.append(origin + "\n\n", style="italic")
        text.append(item.description + "\n\n")
        text.append(item.command_line(quick=quick), style="cyan")
        self.query_one("#description", Static).update(text)
