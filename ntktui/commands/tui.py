"""Open the dashboard: the preset browser (presets, every analysis, your files, recent runs), or
PRESET's study at once.

? or F1 lists every key of the screen you are on. On a study: r runs, c (or ctrl+c) cancels after
the chunk in progress, e edits the parameters, t switches quick and full sizes, x exports, o
overlays earlier runs, y copies the command line, l/L and z/Z change the plot's axes and range,
1–9 hide series; escape goes back (asking first while a run is on). ctrl+p searches presets and
commands, ctrl+q quits. No mouse is needed; it works in an 80 × 24 terminal and over SSH
(TEXTUAL_COLOR_SYSTEM=256 if colours look wrong). Details: docs/dashboard.md."""

from __future__ import annotations

from typing import Optional

import typer

NAME = "tui"


def run(
    preset: Optional[str] = typer.Argument(None, metavar="[PRESET]",
                                           help="A bundled preset's name or a preset file (.toml)."),
    quick: bool = typer.Option(False, "--quick", help="Start with the presets' quick sizes."),
    export_dir: str = typer.Option(".", "--export-dir", metavar="DIR",
                                   help="Where x saves exports (a folder per export)."),
):
    import sys

    from ntktui import presets
    from ntktui.errors import UserError

    chosen = presets.load(preset) if preset is not None else None  # a bad name fails here, in one line
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UserError("ntk tui needs a terminal (its input or output is a pipe or a file); "
                        "for output to a pipe run a study with `ntk run NAME` or `ntk NAME`")
    from ntktui.tui.app import NtkApp

    NtkApp(chosen, quick=quick, export_dir=export_dir).run()
