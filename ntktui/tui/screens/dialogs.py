"""Small questions the dashboard asks before it does something a person may regret."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class LeaveRunning(ModalScreen):
    """Escape on a running study: keep it running and go back, cancel it and go back, or stay.
    Dismisses with "keep", "cancel" or None."""

    BINDINGS = [
        Binding("k", "answer('keep')", "Keep it running"),
        Binding("c", "answer('cancel')", "Cancel it"),
        Binding("escape", "answer(None)", "Stay"),
    ]

    def __init__(self, command: str, label: str):
        super().__init__()
        self.command, self.label = command, label

    def compose(self):
        text = Text()
        text.append(f"ntk {self.command} ({self.label}) is still running.\n\n", style="bold")
        text.append("k", style="bold cyan")
        text.append("  keep it running and go back (its results wait here)\n")
        text.append("c", style="bold cyan")
        text.append("  cancel it and go back\n")
        text.append("escape", style="bold cyan")
        text.append("  stay")
        with Vertical(classes="dialog"):
            yield Static(text)

    def action_answer(self, choice) -> None:
        self.dismiss(choice)
