"""Saving a study: result.json (the payload), plot.txt (the plots and tables as plain text),
arrays.npz (every numeric array of the payload), preset.toml (the preset as run, so that
`ntk run DIR/preset.toml` repeats it) and, where matplotlib is installed (the extra
`ntktui[figures]`), its figures: figure.svg and figure.png (several plots: figure-1.svg,
figure-1.png, figure-2.svg, …). Shared by `ntk run --out DIR` and the dashboard's export.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from ntktui.errors import UserError

def prepare(out: str | os.PathLike) -> Path:
    """Where a study will be saved, checked before any work: a new folder (its parents may be
    missing) or an empty one, under a writable folder. Nothing is created here; an earlier run
    is never overwritten."""
    folder = Path(out).expanduser().absolute()
    if folder.exists():
        if not folder.is_dir():
            raise UserError(f"--out {out}: exists and is not a directory")
        if any(folder.iterdir()):
            raise UserError(f"--out {out}: already holds files (an earlier run?); ntk never "
                            "overwrites them: choose a new folder")
    ancestor = folder.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise UserError(f"--out {out}: cannot create it: {ancestor} is not a writable folder")
    return folder


FIGURE_FORMATS = ("svg", "png")  # vector for papers, raster for a quick look or slides


def figures_hint() -> str | None:
    """The line saying how to get figures in a saved run, where matplotlib is missing."""
    from ntktui.figures import INSTALL, available

    return None if available() else f"no figures saved: {INSTALL} to save them too"


def save(folder: Path, payload: Mapping, text: str, preset_toml: str,
         report=None) -> list[str]:
    """Write result.json, plot.txt, arrays.npz, preset.toml and the Report's figures (when
    `report` is given and matplotlib is installed) into a temporary folder beside `folder`, then
    move it into place in one step: a failure leaves nothing behind (no file, no folder), and a
    folder that gained files meanwhile is not overwritten. Returns the names."""
    import shutil
    import tempfile

    from ntktui.output import to_jsonable

    folder = prepare(folder)
    created = [p for p in (folder.parent, *folder.parent.parents) if not p.exists()]
    tmp = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        with open(tmp / "result.json", "w", encoding="utf-8") as fh:
            import json

            json.dump(to_jsonable(dict(payload)), fh, indent=1)
            fh.write("\n")
        written = ["result.json"]
        (tmp / "plot.txt").write_text(text, encoding="utf-8")
        written.append("plot.txt")
        arrays = collect_arrays(payload)
        if payload.get("interrupted"):  # a partial run says so in every file
            import numpy as np

            arrays["interrupted"] = np.array(True)
        if arrays:
            import numpy as np

            with open(tmp / "arrays.npz", "wb") as fh:
                np.savez(fh, **arrays)
            written.append("arrays.npz")
        (tmp / "preset.toml").write_text(preset_toml, encoding="utf-8")
        written.append("preset.toml")
        written += _figures(report, tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; a result folder is an ordinary one
        os.replace(tmp, folder)  # onto a missing or empty folder only (POSIX rename)
        return written
    except BaseException as exc:  # also Ctrl-C: nothing half-written stays
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        for p in created:  # the parents this save made, deepest first
            try:
                p.rmdir()
            except OSError:
                break
        if isinstance(exc, OSError):
            raise UserError(f"--out {folder}: cannot write: {exc.strerror or exc}") from None
        raise


def _figures(report, folder: Path) -> list[str]:
    """The Report's figures in each of FIGURE_FORMATS ([] without a report or matplotlib)."""
    from ntktui import figures

    if report is None or not figures.available():
        return []
    figs = figures.figures(report)
    names = []
    for fmt in FIGURE_FORMATS:
        for fig, name in zip(figs, figures.numbered(f"figure.{fmt}", len(figs))):
            with open(folder / name, "wb") as fh:  # the folder itself is moved into place whole
                figures.write(fig, fh, fmt)
            names.append(name)
    return names


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
