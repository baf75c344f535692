"""Choose earlier runs of the same analysis to lay over the plots (dashed, each series' label
followed by what differs: "relu s=32 (width 64)")."""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import SelectionList, Static
from textual.widgets.selection_list import Selection


class CompareScreen(ModalScreen):
    """Dismisses with the chosen Runs (possibly none: no overlay), or None on escape."""

    BINDINGS = [
        Binding("enter", "apply", "Compare", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, current, runs: list, chosen: list):
        super().__init__()
        self.current, self.runs = current, runs
        self.chosen = {id(r) for r in chosen}

    def compose(self):
        from ntktui.tui.history import difference

        study = self.current.the_preset().study
        options = []
        for i, run in enumerate(self.runs):
            what = difference(self.current, run, study)
            when = run.started.strftime("%d %b %H:%M")
            partial = ", partial" if not run.complete else ""
            options.append(Selection(f"{run.label}: {what}  ({when}{partial})", i,
                                     id(run) in self.chosen))
        with Vertical(classes="dialog", id="compare"):
            yield Static(f"Lay earlier runs of ntk {study.name} over {self.current.label}'s plots"
                         "\nspace chooses, enter shows them, escape leaves", classes="form-title",
                         markup=False)
            yield SelectionList(*options)

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()

    def action_apply(self) -> None:
        picked = self.query_one(SelectionList).selected
        self.dismiss([self.runs[i] for i in sorted(picked)])

    def action_cancel(self) -> None:
        self.dismiss(None)
