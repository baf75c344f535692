"""Run a study preset: its command with its parameters, the same output as typing that command.

NAME is a bundled preset (`ntk presets` lists them) or FILE.toml, a preset of your own.
--quick applies the overrides in the preset's quick table (smaller sizes, for a fast look).
--json prints the command's one JSON object. --out DIR also saves result.json (the command's
JSON), plot.txt (its plot and tables as plain text), arrays.npz (every numeric array of the
JSON, keyed by its path in it, nulls as NaN), preset.toml (a copy of the preset) and, with
matplotlib installed (pip install 'ntktui[figures]'), figure.svg and figure.png (several plots:
figure-1.svg, figure-2.svg, …); the terminal then shows the uncoloured text that is saved.
--save FILE.svg|.png|.pdf saves the figures as the analysis commands do."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from ntktui.commands import Color, Json, PlotWidth, Quiet, Save, save_path
from ntktui.commands import plot_width as parse_plot_width
from ntktui.errors import UserError

NAME = "run"


def run(
    preset: str = typer.Argument(..., metavar="NAME|FILE",
                                 help="A bundled preset's name or a preset file (.toml)."),
    quick: bool = typer.Option(False, "--quick", help="Apply the preset's quick overrides "
                               "(smaller sizes, for a fast look)."),
    out: Optional[str] = typer.Option(None, "--out", help="Also save result.json, plot.txt, "
                                      "arrays.npz, preset.toml and the figures (with "
                                      "matplotlib) into DIR (a new or empty folder, created when "
                                      "the run is saved; an earlier run is never overwritten).",
                                      metavar="DIR"),
    json: Json = False,
    plot_width: PlotWidth = None,
    quiet: Quiet = False,
    save: Save = None,
    color: Color = None,
):
    from ntktui import export, presets
    from ntktui.output import (analysed, deliver, emit_report, report_text, result_payload,
                               save_figures)

    plot_width = parse_plot_width(plot_width)
    save = save_path(save)
    p = presets.load(preset)
    args = _located(p, quick, p.arguments, quick)
    study = p.study
    if sys.stderr.isatty() and not quiet:
        sys.stderr.write(f"preset {p.name}{' (quick)' if quick else ''}: "
                         f"{p.command_line(quick=quick)}\n")
    if out is None:
        _located(p, quick, deliver, study, args, json, plot_width, quiet, color, save)
        return
    folder = export.prepare(out)
    report, interrupted = _located(p, quick, analysed, study, args, quiet)
    text = report_text(report, plot_width or 100)
    payload = result_payload(report)
    if json:
        emit_report(report, True)
    else:
        sys.stdout.write(text)  # the terminal shows the text that is saved
        sys.stdout.flush()
    flags = (" --quick" if quick else "") + (f" --plot-width {plot_width}" if plot_width else "")
    copy = export.preset_copy(p, f"Saved by `ntk run {p.name}{flags} --out …`", quick)
    written = export.save(folder, payload, text, copy, report)
    if not quiet:
        sys.stderr.write(f"saved {', '.join(written)} in {folder}\n")
        hint = export.figures_hint()
        if hint:
            sys.stderr.write(hint + "\n")
    if save is not None:
        save_figures(report, save, quiet)
    if interrupted:  # the finished part is saved; now stop as Ctrl-C does
        raise KeyboardInterrupt


def _located(p, quick: bool, fn, *args):
    """fn(*args); the command's one-line errors say which preset (file, line, key) they come
    from when the value they name is found in the file."""
    from engine.errors import EngineError

    try:
        return fn(*args)
    except (UserError, EngineError) as exc:
        raise UserError(f"preset {p.name} ({p.locate(str(exc), quick)}): {exc}") from None
