"""Run a study preset: its command with its parameters, the same output as typing that command.

NAME is a bundled preset (`ntk presets` lists them) or FILE.toml, a preset of your own.
--quick applies the overrides in the preset's quick table (smaller sizes, for a fast look).
--json prints the command's one JSON object. --out DIR also saves result.json (the command's
JSON), plot.txt (its plot and tables as plain text), arrays.npz (every numeric array of the
JSON, keyed by its path in it, nulls as NaN) and preset.toml (a copy of the preset): the
command then runs twice, once for the JSON and once for the text (same seeds, same numbers),
and the terminal shows the uncoloured text that is saved."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from ntktui import options
from ntktui.errors import UserError

NAME = "run"
FILES = ("result.json", "plot.txt", "arrays.npz", "preset.toml")


def run(
    preset: str = typer.Argument(..., metavar="NAME|FILE",
                                 help="A bundled preset's name or a preset file (.toml)."),
    quick: bool = typer.Option(False, "--quick", help="Apply the preset's quick overrides "
                               "(smaller sizes, for a fast look)."),
    out: Optional[str] = typer.Option(None, "--out", help="Also save result.json, plot.txt, "
                                      "arrays.npz and preset.toml into DIR (created if needed).",
                                      metavar="DIR"),
    json: options.Json = False,
    plot_width: options.PlotWidth = None,
):
    from ntktui import presets

    p = presets.load(preset)
    args = p.arguments(quick=quick)
    if plot_width is not None:
        args["plot_width"] = plot_width
    module = presets.command_module(p.command)
    if sys.stderr.isatty():
        sys.stderr.write(f"preset {p.name}{' (quick)' if quick else ''}: "
                         f"{p.command_line(quick=quick)}\n")
    if out is None:
        _call(p, module.run, {**args, "json": json}, quick)
        return
    folder = _prepare(out)
    if json:  # the visible run first, so its output appears while the text is made
        data = _captured(p, module.run, {**args, "json": True}, quick, echo=True)
        text = _captured(p, module.run, {**args, "json": False}, quick, plain=True)
    else:
        text = _captured(p, module.run, {**args, "json": False}, quick, plain=True, echo=True)
        data = _captured(p, module.run, {**args, "json": True}, quick)
    _save(folder, p, quick, data, text, plot_width)


def _call(p, fn, kwargs, quick: bool):
    """The command's run(); its one-line errors say which preset (file, line, key) they come
    from when the value they name is found in the file."""
    from engine.errors import EngineError

    try:
        return fn(**kwargs)
    except (UserError, EngineError) as exc:
        raise UserError(f"preset {p.name} ({p.locate(str(exc), quick)}): {exc}") from None


def _captured(p, fn, kwargs, quick: bool, plain: bool = False, echo: bool = False) -> str:
    """Run with stdout captured (plain: NO_COLOR, as a file would get it); echo: also print it,
    even when the run stops early (a partial report on Ctrl-C)."""
    buf = io.StringIO()
    saved = os.environ.get("NO_COLOR")
    if plain:
        os.environ["NO_COLOR"] = "1"
    try:
        with contextlib.redirect_stdout(buf):
            _call(p, fn, kwargs, quick)
    finally:
        if plain:
            if saved is None:
                os.environ.pop("NO_COLOR", None)
            else:
                os.environ["NO_COLOR"] = saved
        if echo:
            sys.stdout.write(buf.getvalue())
            sys.stdout.flush()
    return buf.getvalue()


def _prepare(out: str) -> Path:
    folder = Path(out).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--out {out}: exists and is not a directory")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        why = exc.strerror or exc
        raise UserError(f"--out {out}: cannot create the directory: {why}") from None
    if not os.access(folder, os.W_OK):
        raise UserError(f"--out {out}: the directory is not writable")
    return folder


def _save(folder: Path, p, quick: bool, data: str, text: str, plot_width) -> None:
    import json as _json

    from ntktui.output import write_json_atomic

    try:
        payload = _json.loads(data)
    except ValueError:
        raise UserError(f"preset {p.name}: ntk {p.command} did not print one JSON object") from None
    write_json_atomic(str(folder / "result.json"), payload)
    written = ["result.json"]
    try:
        (folder / "plot.txt").write_text(text, encoding="utf-8")
        written.append("plot.txt")
        arrays = collect_arrays(payload)
        if arrays:
            import numpy as np

            with open(folder / "arrays.npz", "wb") as fh:
                np.savez(fh, **arrays)
            written.append("arrays.npz")
        (folder / "preset.toml").write_text(_preset_copy(p, quick, plot_width), encoding="utf-8")
        written.append("preset.toml")
    except OSError as exc:
        raise UserError(f"--out {folder}: cannot write: {exc.strerror or exc}") from None
    sys.stderr.write(f"saved {', '.join(written)} in {folder}\n")


def _preset_copy(p, quick: bool, plot_width) -> str:
    from ntktui import __version__

    flags = (" --quick" if quick else "") + (f" --plot-width {plot_width}" if plot_width else "")
    header = [f"# Saved by `ntk run {p.name}{flags} --out …` (ntktui {__version__})",
              f"# from {p.source}."]
    if quick:
        header.append("# The [quick] overrides were applied: run this file with --quick to "
                      "repeat it.")
    header.append(f"# The same run typed out: {p.command_line(quick=quick)}")
    return "\n".join(header) + "\n\n" + p.source.read_text(encoding="utf-8")


def collect_arrays(payload, prefix: str = "") -> dict:
    """Every numeric array in the JSON (lists of numbers, or of equal-length lists of numbers),
    keyed by its path ("results.0.singular_values"); nulls (values below the round-off floor,
    non-finite ones) become NaN."""
    import numpy as np

    found = {}
    if isinstance(payload, dict):
        for key, value in payload.items():
            found.update(collect_arrays(value, f"{prefix}{key}."))
        return found
    if not isinstance(payload, list) or not payload:
        return found
    if _numeric(payload):
        try:
            arr = np.array(_nan(payload), dtype=np.float64)
        except ValueError:  # ragged
            arr = None
        if arr is not None and arr.ndim >= 1:
            if _all_int(payload):
                arr = arr.astype(np.int64)
            found[prefix.rstrip(".")] = arr
            return found
    for i, value in enumerate(payload):
        if isinstance(value, (dict, list)):
            found.update(collect_arrays(value, f"{prefix}{i}."))
    return found


def _numeric(value) -> bool:
    if isinstance(value, list):
        return bool(value) and all(_numeric(v) for v in value)
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _all_int(value) -> bool:
    if isinstance(value, list):
        return all(_all_int(v) for v in value)
    return isinstance(value, int) and not isinstance(value, bool)


def _nan(value):
    if isinstance(value, list):
        return [_nan(v) for v in value]
    return float("nan") if value is None else value
