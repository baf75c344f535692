"""The parameter form: every option of the preset's command as a field (the preset's value, or
empty for the command's default). Enter or ctrl+s runs with the edited values; escape leaves
them as they were. A value the command would refuse is named in a notification and the form
stays open."""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Footer, Input, Label, Static


def to_text(value) -> str:
    """A run() value as a person types it: lists comma-separated, None (the default) empty."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ",".join(to_text(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < 1e16 and float(f"{value:g}") == value else repr(value)
    return str(value)


def split_items(text: str) -> list[str]:
    """'relu,abrelu(0.2,1)' → ['relu', 'abrelu(0.2,1)']: commas inside parentheses stay."""
    items, depth, current = [], 0, ""
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            items.append(current.strip())
            current = ""
        else:
            current += ch
    items.append(current.strip())
    return [i for i in items if i]


def parse(option, text: str):
    """A field's text as the option's value (None: the command's default); ValueError if not."""
    text = text.strip()
    if not text:
        return None
    kind = option.kind
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "list[int]":
            return [int(v) for v in split_items(text)]
        if kind == "list[str]":
            return split_items(text)
    except ValueError:
        expected = {"int": "an integer", "float": "a number",
                    "list[int]": "integers separated by commas"}[kind]
        raise ValueError(f"{option.flag} must be {expected}, got {text!r}") from None
    return text


class ParamsScreen(ModalScreen):
    BINDINGS = [
        Binding("ctrl+s", "submit", "Run"),
        Binding("escape", "dismiss_form", "Cancel"),
    ]

    def __init__(self, preset, quick: bool, overrides: dict):
        super().__init__()
        from ntktui.presets import command_module, command_options
        from ntktui.report import analysis_parameters

        self.preset, self.quick, self.overrides = preset, quick, dict(overrides)
        names = analysis_parameters(command_module(preset.command))
        self.options = {n: o for n, o in command_options(preset.command).items()
                        if n in names and o.kind != "other"}
        self.current = preset.values(quick=quick, overrides=overrides)

    def compose(self):
        with Vertical(id="form"):
            yield Static(f"ntk {self.preset.command}: enter or ctrl+s runs, escape cancels",
                         classes="form-title")
            with VerticalScroll():
                for name, option in self.options.items():
                    value = self.current.get(name, option.default)
                    with Horizontal(classes="field"):
                        if option.kind == "bool":
                            yield Checkbox(option.flag, bool(value), id=f"field-{name}")
                        else:
                            yield Label(option.flag, classes="flag")
                            yield Input(to_text(value), placeholder="default",
                                        tooltip=option.help or None, id=f"field-{name}")
            yield Static(classes="field-help", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        fields = self.query("Input, Checkbox")
        if fields:
            fields.first().focus()

    def on_descendant_focus(self, event) -> None:
        name = (event.widget.id or "").removeprefix("field-")
        option = self.options.get(name)
        if option is not None:
            self.query_one(".field-help", Static).update(f"{option.flag}: {option.help}")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def edited(self) -> dict:
        """The overrides the form describes: every field that differs from the preset's value
        (over the command's default); raises ValueError or UserError with a one-line message."""
        base = self.preset.values(quick=self.quick)
        overrides = {}
        for name, option in self.options.items():
            widget = self.query_one(f"#field-{name}")
            value = widget.value if option.kind == "bool" else parse(option, widget.value)
            if value is None:
                if name in base:  # emptied: back to the command's default
                    overrides[name] = option.default
                continue
            if value != base.get(name, option.default):
                overrides[name] = value
        overrides = {k: v for k, v in overrides.items() if v is not None}
        self.preset.values(quick=self.quick, overrides=overrides)  # type-checks every value
        return overrides

    def action_submit(self) -> None:
        from ntktui.tui.screens.study import one_line

        try:
            overrides = self.edited()
        except Exception as exc:
            self.notify(str(exc) if isinstance(exc, ValueError) else one_line(exc),
                        title="not run", severity="error", timeout=8)
            return
        self.dismiss(overrides)

    def action_dismiss_form(self) -> None:
        self.dismiss(None)
