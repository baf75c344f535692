"""The parameter form, generated from the analysis's declared Params: a text field per option (the
preset's value, or empty for the default), a choice list for an enumeration, a checkbox for a
flag. Enter or ctrl+s runs with the edited values; escape leaves them as they were. Every field is
read by its Param (the parser the command line uses) and the combination is checked before the
form closes: a refused value marks its field, says why, and the form stays open."""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Footer, Input, Label, Select, Static

from ntktui.params import FLAG


class ParamsScreen(ModalScreen):
    BINDINGS = [
        Binding("ctrl+s", "submit", "Run"),
        Binding("escape", "dismiss_form", "Cancel"),
        # Priority: the app moves the focus as it reads the key, so that keys typed after a Tab
        # in one burst (a paste, a fast typist over SSH) go to the next field, not the last.
        Binding("tab", "app.focus_next", "Next field", show=False, priority=True),
        Binding("shift+tab", "app.focus_previous", "Previous field", show=False, priority=True),
        Binding("question_mark,f1", "help", "Help", show=False, key_display="?"),
    ]

    def __init__(self, preset, quick: bool, overrides: dict):
        super().__init__()
        self.preset, self.quick, self.overrides = preset, quick, dict(overrides)
        self.study = preset.study
        self.current = preset.values(quick=quick, overrides=overrides)

    def compose(self):
        with Vertical(id="form"):
            yield Static(f"ntk {self.study.name}: enter or ctrl+s runs, escape cancels",
                         classes="form-title")
            with VerticalScroll():
                for p in self.study.params:
                    yield self._field(p, self.current.get(p.name, p.default))
            yield Static(classes="field-help", markup=False)
        yield Footer()

    def _field(self, p, value):
        widget_id = f"field-{p.name}"
        if p.kind is FLAG:
            return Horizontal(Checkbox(p.flag, bool(value), id=widget_id), classes="field")
        if p.choices and not p.kind.is_list:
            widget = Select([(c, c) for c in p.choices], value=value if value is not None
                            else Select.BLANK, allow_blank=p.default is None,
                            prompt=p.default_shown(), id=widget_id)
        else:
            widget = Input(p.format(value), placeholder=p.default_shown(), id=widget_id)
        return Horizontal(Label(p.flag, classes="flag"), widget, classes="field")

    def on_mount(self) -> None:
        fields = self.query("Input, Checkbox, Select")
        if fields:
            fields.first().focus()

    def on_descendant_focus(self, event) -> None:
        name = (event.widget.id or "").removeprefix("field-")
        p = self.study.by_name.get(name)
        if p is not None:
            self.query_one(".field-help", Static).update(f"{p.flag}: {p.describe()}")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def _read(self, p):
        """The field's value as its Param reads it (None: the default)."""
        widget = self.query_one(f"#field-{p.name}")
        if p.kind is FLAG:
            return p.validate(bool(widget.value))
        if isinstance(widget, Select):
            return None if widget.value is Select.BLANK else p.validate(widget.value)
        text = widget.value.strip()
        return p.parse(text) if text else None

    def edited(self) -> dict:
        """The overrides the form describes: every field that differs from the preset's value
        (over the default). Raises UserError naming the field's flag, with `.field` set."""
        base = self.preset.values(quick=self.quick)
        overrides = {}
        for p in self.study.params:
            value = self._read(p)
            if value is None:
                if p.name in base:  # emptied: back to the default
                    overrides[p.name] = p.default
                continue
            if value != base.get(p.name, p.default):
                overrides[p.name] = value
        self.preset.arguments(quick=self.quick, overrides=overrides)  # the combination
        return overrides

    def action_submit(self) -> None:
        from ntktui.tui.screens.study import one_line

        for widget in self.query(".invalid"):
            widget.remove_class("invalid")
        try:
            overrides = self.edited()
        except Exception as exc:
            name = getattr(exc, "field", None)
            if name is not None:
                widget = self.query_one(f"#field-{name}")
                widget.add_class("invalid")
                widget.focus()
            self.notify(one_line(exc), title="not run", severity="error", timeout=8)
            return
        self.dismiss(overrides)

    def action_help(self) -> None:
        from ntktui.tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen(self))

    def action_dismiss_form(self) -> None:
        self.dismiss(None)
