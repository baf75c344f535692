"""The first screen: the presets (one per paper figure or study), then every analysis with its
defaults, and what each one shows."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option


class BrowserScreen(Screen):
    BINDINGS = [
        Binding("enter", "open", "Open", priority=True),
        Binding("t", "toggle_quick", "Quick"),
    ]

    def __init__(self, presets, analyses=()):
        super().__init__()
        # option id → Preset; an analysis's id is "analysis:NAME" (a preset may share its name)
        self.presets = {p.name: p for p in presets}
        self.presets.update({f"analysis:{p.name}": p for p in analyses})
        self.counts = (len(presets), len(analyses))

    def compose(self):
        yield Header()
        options = []
        for key, p in self.presets.items():
            if p.analysis and not any(o.id.startswith("analysis:") for o in options):
                options.append(Option("── analyses ──", id="analyses-heading", disabled=True))
            options.append(Option(p.name, id=key))
        with Horizontal():
            yield OptionList(*options, id="presets")
            with VerticalScroll(id="about"):
                yield Static(id="description")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "ntk: spectra of neural networks"
        self._sub_title()
        self.query_one(OptionList).focus()
        if self.presets:
            self._describe(next(iter(self.presets)))

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
        options = self.query_one(OptionList)
        if options.highlighted is not None:
            self._open(options.get_option_at_index(options.highlighted).id)

    def _open(self, key: str | None) -> None:
        p = self.presets.get(key)
        if p is not None:  # not the heading
            self.app.open_preset(p)

    def action_toggle_quick(self) -> None:
        self.app.quick = not self.app.quick
        self._sub_title()
        options = self.query_one(OptionList)
        if options.highlighted is not None:  # its command line shows the sizes it will run
            self._describe(options.get_option_at_index(options.highlighted).id)

    def _describe(self, name: str | None) -> None:
        p = self.presets.get(name)
        if p is None:
            return
        quick = getattr(self.app, "quick", False)
        text = Text()
        text.append(p.title + "\n", style="bold")
        text.append((p.paper or "analysis with its defaults") + "\n\n", style="italic")
        text.append(p.description + "\n\n")
        text.append(p.command_line(quick=quick), style="cyan")
        self.query_one("#description", Static).update(text)
