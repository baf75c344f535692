"""Saving a study: result.json (the payload), plot.txt (the plots and tables as plain text),
arrays.npz (every numeric array of the payload) and preset.toml (the preset as run, so that
`ntk run DIR/preset.toml` repeats it). Shared by `ntk run --out DIR` and the dashboard's export.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from ntktui.errors import UserError

def prepare(out: str | os.PathLike) -> Path:
    """The folder `out`, created if needed; a one-line UserError if it cannot be written."""
    folder = Path(out).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--out {out}: exists and is not a directory")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--out {out}: cannot create the directory: {exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK):
        raise UserError(f"--out {out}: the directory is not writable")
    return folder


def save(folder: Path, payload: Mapping, text: str, preset_toml: str) -> list[str]:
    """Write the four files (result.json atomically); returns the names written."""
    from ntktui.output import write_json_atomic

    write_json_atomic(str(folder / "result.json"), dict(payload))
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
        (folder / "preset.toml").write_text(preset_toml, encoding="utf-8")
        written.append("preset.toml")
    except OSError as exc:
        raise UserError(f"--out {folder}: cannot write: {exc.strerror or exc}") from None
    return written


def preset_copy(p, header: str, quick: bool = False,
                overrides: Mapping[str, Any] | None = None) -> str:
    """The preset as run, after a comment header. Unedited, it is the file itself (run it with
    --quick if the quick table was applied); edited (the dashboard's form), it is written out
    with the values as run in its params table, and its description says first what was changed
    (the preset's own description names the preset's sizes)."""
    from ntktui import __version__

    lines = [f"# {header} (ntktui {__version__})", f"# from {p.source}."]
    if overrides or p.analysis:
        lines.append("# Parameters edited before the run are written into [params].")
        lines.append(f"# The same run typed out: {p.command_line(quick=quick, overrides=overrides)}")
        params = p.values(quick=quick, overrides=overrides)
        return "\n".join(lines) + "\n\n" + toml_text(p, params, _described_as_run(p, quick,
                                                                                  overrides))
    if quick:
        lines.append("# The [quick] overrides were applied: run this file with --quick to repeat it.")
    lines.append(f"# The same run typed out: {p.command_line(quick=quick)}")
    return "\n".join(lines) + "\n\n" + p.source.read_text(encoding="utf-8")


def _described_as_run(p, quick: bool, overrides: Mapping[str, Any] | None) -> str:
    """The preset's description, after what differs from it in this run ("As run: --width 64 …")."""
    changed = {**(p.quick if quick else {}), **(overrides or {})}
    if not changed:
        return p.description
    values = p.values(quick=quick, overrides=overrides)
    study = p.study
    flags = []
    for key in changed:
        try:
            flags += study.param(key).argv(values.get(key))
        except Exception:  # noqa: BLE001 - a flag turned off has no command-line form
            flags.append(f"{study.param(key).flag}={study.param(key).format(values.get(key))}")
    origin = "its defaults" if p.analysis else f"the preset {p.name}"
    return (f"As run: {' '.join(flags) or 'the defaults'} (changed from {origin}; what follows "
            f"describes {origin} as written). {p.description}")


def toml_text(p, params: Mapping[str, Any], description: str | None = None) -> str:
    """A preset file with these params (no quick table: they are already the values to run);
    each value written by its Param."""
    from ntktui.params import toml_literal

    # an analysis run with its defaults has no paper; a preset file needs one (not empty)
    paper = p.paper or f"none: ntk {p.command} with its declared defaults"
    out = [f"title = {toml_literal(p.title)}",
           f"description = {toml_literal(description or p.description)}",
           f"paper = {toml_literal(paper)}", f"command = {toml_literal(p.command)}"]
    out.append("\n[params]")
    study = p.study
    out += [f"{key} = {study.param(key).toml(value)}" for key, value in params.items()
            if value is not None]
    return "\n".join(out) + "\n"


def collect_arrays(payload, prefix: str = "") -> dict:
    """Every numeric array in the JSON (lists of numbers, or of equal-length lists of numbers),
    keyed by its path ("results.0.singular_values"); nulls (values below the round-off floor,
    non-finite ones) become NaN."""
    from ntktui.output import to_jsonable

    return _collect(to_jsonable(payload), prefix)


def _collect(payload, prefix: str) -> dict:
    import numpy as np

    found = {}
    if isinstance(payload, dict):
        for key, value in payload.items():
            found.update(_collect(value, f"{prefix}{key}."))
        return found
    if not isinstance(payload, list) or not payload:
        return found
    if _numeric(payload):
        try:
            arr = np.array(_nan(payload), dtype=np.float64)
        except ValueError:  # ragged
            arr = None
        if arr is not None and arr.ndim >= 1:
            if _all_int(payload) and np.all(np.abs(arr) < 2.0**63):  # else float: 4e25 steps
                arr = arr.astype(np.int64)
            found[prefix.rstrip(".")] = arr
            return found
    for i, value in enumerate(payload):
        if isinstance(value, (dict, list)):
            found.update(_collect(value, f"{prefix}{i}."))
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
