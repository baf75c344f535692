"""Help on `?` and F1: every key of the screen below (its own bindings, the app's, and what the
focused widgets do: scrolling, tables sideways, fields), with the current mode."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

# Keys that belong to widgets (Textual's own) rather than to a screen's bindings.
NAVIGATION = {
    "StudyScreen": [
        ("↑ ↓ PgUp PgDn Home End", "scroll the report"),
        ("tab / shift+tab", "focus the next / previous plot or table (the focused one is "
                            "shaded; plot keys act on it, else on the first plot)"),
        ("← →", "on a focused table: scroll it sideways (its first column stays in view)"),
    ],
    "BrowserScreen": [
        ("↑ ↓ PgUp PgDn Home End", "move in the list"),
        ("tab", "move to the description (↑ ↓ scroll it)"),
        ("← →", "scroll sideways where a line is wider than the pane"),
    ],
    "ParamsScreen": [
        ("tab / shift+tab", "next / previous field"),
        ("enter", "in a text field: check the values and run"),
        ("enter / space", "on a choice list: open it (↑ ↓ choose, enter takes the value)"),
        ("space", "on a checkbox: turn it on or off"),
        ("← → home end", "move in a text field"),
    ],
}
APP_KEYS = [("ctrl+p", "command palette: open a preset or analysis by name"),
            ("ctrl+q", "quit ntk")]


def _bindings(obj) -> list[Binding]:
    """Every binding declared on obj's class and its bases, nearest first, one per key."""
    out, seen = [], set()
    for cls in type(obj).__mro__:
        for binding in Binding.make_bindings(cls.__dict__.get("BINDINGS", [])):
            if binding.key not in seen and binding.action not in ("help_quit",):
                seen.add(binding.key)
                out.append(binding)
    return out


def key_rows(screen) -> list[tuple[str, str]]:
    """(keys, what they do) for the screen: its bindings (keys of one action together), the
    widgets' navigation keys, then the app's."""
    app = screen.app
    # A screen may name a key after what it acts on now (the study's own controls), or leave it
    # out where it does nothing on this screen (None).
    describe = getattr(screen, "describe_key", lambda binding: binding.description)
    by_action: dict[str, list] = {}
    for binding in _bindings(screen):
        what = describe(binding)
        if what is None:
            continue
        key = app.get_key_display(binding)
        entry = by_action.setdefault(binding.action, [[], what or binding.action])
        if key not in entry[0]:
            entry[0].append(key)
    rows = [(" ".join(keys), what) for keys, what in by_action.values()]
    rows += NAVIGATION.get(type(screen).__name__, [])
    rows += APP_KEYS
    return rows


class HelpScreen(ModalScreen):
    BINDINGS = [
        Binding("escape,question_mark,f1,q", "close", "Close"),
    ]

    def __init__(self, screen):
        super().__init__()
        self.below = screen

    def compose(self):
        table = Table(show_header=False, box=None, padding=(0, 1), expand=True)
        table.add_column(style="bold cyan", no_wrap=True, max_width=26)
        table.add_column(ratio=1)
        for keys, what in key_rows(self.below):
            table.add_row(keys, what)
        title = Text(self.title_text(), style="bold")
        with Vertical(classes="dialog", id="help"):
            yield Static(title)
            with VerticalScroll():
                yield Static(table, id="keys")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def title_text(self) -> str:
        mode = getattr(self.below, "quick", getattr(self.app, "quick", False))
        return (f"Keys ({'quick' if mode else 'full'} sizes now; t switches); escape, ? or F1 "
                "closes")

    def text(self) -> str:
        """The help as plain text (tests)."""
        return "\n".join([self.title_text()] + [f"{keys}  {what}"
                                                 for keys, what in key_rows(self.below)])

    def action_close(self) -> None:
        self.dismiss(None)
