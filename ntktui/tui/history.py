"""Every finished run of the dashboard, kept in memory and on disk, to reopen and to compare.

A `Run` is one analysis as it ran: its preset, quick flag and edited values, every analyse()
value as its Param writes it (`settings`), and its Report. The dashboard shows and exports the
Run on screen (never the settings of a later run that failed), and overlays earlier Runs of the
same analysis on its plots (`overlaid`).

On disk, in the user's data folder (platformdirs: $XDG_DATA_HOME/ntktui/history on Linux), one
folder per finished run, newest last by name:

    20250603-101500-123456-seed003-fig3/
        meta.json      what the browser lists: preset, analysis, settings, time, complete
        preset.toml    the preset as run (`ntk run` repeats it)
        result.json    the payload (what --json prints)
        blocks.json    the plots, tables and notes as shown (to reopen and overlay)

The folder keeps the last MAX_RUNS runs. Writing is best effort: a full disk loses history, never
the run on screen.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

MAX_RUNS = 200
RECENT = 12  # runs the browser lists


def history_dir() -> Path:
    """$XDG_DATA_HOME/ntktui/history (or the platform's user data folder)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("ntktui", appauthor=False)) / "history"


@dataclass(eq=False)
class Run:
    name: str  # the preset's name ("seed003-fig3") or the analysis's
    title: str
    command: str  # the analysis
    quick: bool
    overrides: dict
    settings: dict[str, str]  # every analyse() value as its Param formats it
    number: int  # 1, 2, … in this session; 0 for a run of an earlier session
    started: datetime
    complete: bool = True
    preset: Any = None  # the Preset (rebuilt lazily for runs read from disk)
    report: Any = None  # the Report (read lazily from blocks.json)
    folder: Path | None = None
    source: dict = field(default_factory=dict)  # how to find the preset again

    @property
    def label(self) -> str:
        """"run 3" in this session, else when it ran ("03 Jun 10:15")."""
        return f"run {self.number}" if self.number else self.started.strftime("%d %b %H:%M")

    def command_line(self) -> str:
        return self.the_preset().command_line(quick=self.quick, overrides=self.overrides)

    def the_preset(self):
        if self.preset is None:
            self.preset = _rebuild_preset(self)
        return self.preset

    def the_report(self):
        if self.report is None and self.folder is not None:
            self.report = read_report(self.folder)
        return self.report

    def describe(self) -> str:
        mode = "quick" if self.quick else "full"
        partial = "" if self.complete else ", partial"
        return f"{self.started:%d %b %H:%M} {self.name} ({mode}{partial})"


def settings_of(study, values: dict) -> dict[str, str]:
    """analyse()'s values as text, each written by its Param (what two runs compare by)."""
    return {p.name: p.format(values.get(p.name)) for p in study.params}


def new_run(preset, quick: bool, overrides: dict, values: dict, number: int) -> Run:
    return Run(name=preset.name, title=preset.title, command=preset.command, quick=quick,
               overrides=dict(overrides), settings=settings_of(preset.study, values),
               number=number, started=datetime.now(), preset=preset, source=_source(preset))


def _source(preset) -> dict:
    return {"analysis": bool(preset.analysis), "bundled": bool(preset.bundled),
            "path": str(preset.source)}


def _rebuild_preset(run: Run):
    from ntktui import presets, studies

    src = run.source
    if src.get("analysis"):
        return presets.for_study(studies.get(run.command))
    if src.get("bundled"):
        try:
            return presets.load(run.name)
        except Exception:  # noqa: BLE001 - a renamed preset: fall back to the saved copy
            pass
    path = Path(src.get("path", ""))
    try:
        if path.is_file():
            return presets.load_file(path)
    except Exception:  # noqa: BLE001 - the file changed since: the saved copy is the run
        pass
    saved = presets.load_file(run.folder / "preset.toml")
    return replace(saved, name=run.name)


# --- comparison ---------------------------------------------------------------------------------


def difference(current: Run | None, earlier: Run, study) -> str:
    """What tells `earlier` apart from `current` in a legend: its differing settings ("width 64",
    at most two), else its label ("run 3")."""
    if current is not None:
        changed = [p for p in study.params
                   if earlier.settings.get(p.name) != current.settings.get(p.name)]
        if changed:
            text = ", ".join(f"{p.flag.lstrip('-')} {earlier.settings.get(p.name) or 'default'}"
                             for p in changed[:2])
            return text + (", …" if len(changed) > 2 else "")
    return earlier.label


def overlaid(report, earlier: list[tuple[str, Any]]):
    """The Report with the series of earlier Reports laid over its plots, dashed, each label
    followed by the earlier run's tag: [(tag, report)]. Plots are matched by position (the same
    analysis makes the same plots); the payload is untouched."""
    from dataclasses import replace as dc_replace

    from ntktui.render import Plot, Series

    if not earlier:
        return report
    blocks, index = [], 0
    for block in report.blocks:
        if isinstance(block, Plot):
            extra = []
            for tag, other in earlier:
                plots = other.plots() if other is not None else []
                if index < len(plots):
                    extra += [Series(f"{s.label} ({tag})", s.x, s.y, scatter=s.scatter,
                                     dashed=True) for s in plots[index].series]
            block = dc_replace(block, series=(*block.series, *extra))
            index += 1
        blocks.append(block)
    return dc_replace(report, blocks=tuple(blocks))


# --- reading and writing ------------------------------------------------------------------------


def blocks_json(report) -> list[dict]:
    """The Report's blocks as JSON (numpy numbers and flags as plain ones; the dashed series of
    an overlay are not the run's own and are left out)."""
    from ntktui.output import to_jsonable
    from ntktui.render import ImageGrid, Plot
    from ntktui.report import Note, Table

    out = []
    for b in report.blocks:
        if isinstance(b, Plot):
            out.append({"kind": "plot", "title": b.title, "xlabel": b.xlabel, "ylabel": b.ylabel,
                        "series": [{"label": s.label, "x": list(s.x), "y": list(s.y),
                                    "scatter": bool(s.scatter)}
                                   for s in b.series if not s.dashed],
                        "log_x": bool(b.log_x), "log_y": bool(b.log_y),
                        "hlines": [[v, label] for v, label in b.hlines],
                        "ylim": list(b.ylim) if b.ylim is not None else None,
                        "height": b.height})
        elif isinstance(b, ImageGrid):
            out.append({"kind": "images", "title": b.title, "panel_titles": list(b.panel_titles),
                        "rows": [[label, list(images)] for label, images in b.rows]})
        elif isinstance(b, Table):
            out.append({"kind": "table", "title": b.title, "columns": list(b.columns),
                        "rows": [list(r) for r in b.rows]})
        elif isinstance(b, Note):
            out.append({"kind": "note", "text": b.text})
    return to_jsonable(out)


def report_from(payload: dict, blocks: list[dict], complete: bool):
    import numpy as np

    from ntktui.render import ImageGrid, Plot, Series
    from ntktui.report import Note, Report, Table

    def nums(values):
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

    out = []
    for b in blocks:
        kind = b.get("kind")
        if kind == "plot":
            out.append(Plot(b["title"], b["xlabel"], b["ylabel"],
                            [Series(s["label"], nums(s["x"]), nums(s["y"]), s.get("scatter", False))
                             for s in b["series"]],
                            log_x=b["log_x"], log_y=b["log_y"],
                            hlines=[tuple(h) for h in b["hlines"]],
                            ylim=tuple(b["ylim"]) if b.get("ylim") else None, height=b.get("height")))
        elif kind == "images":
            out.append(ImageGrid(b["title"], [(label, [np.array(img, dtype=np.float64)
                                                       for img in images])
                                              for label, images in b["rows"]],
                                 tuple(b.get("panel_titles", ()))))
        elif kind == "table":
            out.append(Table(b["title"], b["columns"], b["rows"]))
        elif kind == "note":
            out.append(Note(b["text"]))
    return Report(payload=payload, blocks=tuple(out), complete=complete)


def read_report(folder: Path):
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    payload = json.loads((folder / "result.json").read_text(encoding="utf-8"))
    blocks = json.loads((folder / "blocks.json").read_text(encoding="utf-8"))
    return report_from(payload, blocks, meta.get("complete", True))


class History:
    """The runs of this session (newest first) and those on disk, loaded when first asked for."""

    def __init__(self, folder: Path | None = None):
        self.folder = folder
        self.session: list[Run] = []
        self._cache: dict[Path, Run] = {}  # runs read from disk, by folder
        self.numbered = 0
        self.error: str | None = None  # the last write failure (history is best effort)

    def next_number(self) -> int:
        self.numbered += 1
        return self.numbered

    def add(self, run: Run) -> None:
        """Keep a finished run: first in memory, then on disk (best effort)."""
        self.session.insert(0, run)
        if self.folder is None:
            return
        try:
            self._write(run)
            self._prune()
        except (OSError, TypeError, ValueError) as exc:
            self.error = f"history not saved: {exc}"

    def runs(self, command: str | None = None, limit: int | None = None) -> list[Run]:
        """Newest first: this session's runs, then earlier sessions' from disk (of `command`
        only, if given; at most `limit`)."""
        mine = {r.folder for r in self.session if r.folder is not None}
        found = [r for r in self.session if command is None or r.command == command]
        for path in reversed(self._entries()):
            if limit is not None and len(found) >= limit:
                break
            if path in mine:
                continue
            run = self._cache.get(path)
            if run is None:
                try:
                    run = self._cache[path] = _run_from_disk(path)
                except (OSError, ValueError, KeyError, TypeError):
                    continue  # a damaged entry is skipped, not fatal
            if command is None or run.command == command:
                found.append(run)
        return found[:limit] if limit is not None else found

    # --- disk ---

    def _entries(self) -> list[Path]:
        if self.folder is None or not self.folder.is_dir():
            return []
        return sorted((p for p in self.folder.iterdir() if (p / "meta.json").is_file()),
                      key=lambda p: p.name)

    def _write(self, run: Run) -> None:
        from ntktui import export
        from ntktui.output import to_jsonable

        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = run.started.strftime("%Y%m%d-%H%M%S-%f")
        folder = self.folder / f"{stamp}-{_safe(run.name)}"
        tmp = self.folder / f".{folder.name}.tmp"
        tmp.mkdir()
        report = run.report
        meta = {"name": run.name, "title": run.title, "command": run.command, "quick": run.quick,
                "overrides": to_jsonable(dict(run.overrides)), "settings": run.settings,
                "started": run.started.isoformat(), "complete": run.complete,
                "source": run.source}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        (tmp / "result.json").write_text(json.dumps(to_jsonable(dict(report.payload))),
                                         encoding="utf-8")
        (tmp / "blocks.json").write_text(json.dumps(blocks_json(report)), encoding="utf-8")
        copy = export.preset_copy(run.the_preset(), "Kept by `ntk tui` in its history",
                                  run.quick, run.overrides)
        (tmp / "preset.toml").write_text(copy, encoding="utf-8")
        os.replace(tmp, folder)  # a reader sees a whole entry or none
        run.folder = folder

    def _prune(self) -> None:
        entries = self._entries()
        for old in entries[: max(0, len(entries) - MAX_RUNS)]:
            shutil.rmtree(old, ignore_errors=True)
            self._cache.pop(old, None)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60]


def _run_from_disk(path: Path) -> Run:
    meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    return Run(name=meta["name"], title=meta.get("title", meta["name"]), command=meta["command"],
               quick=bool(meta.get("quick")), overrides=dict(meta.get("overrides") or {}),
               settings=dict(meta.get("settings") or {}), number=0,
               started=datetime.fromisoformat(meta["started"]),
               complete=bool(meta.get("complete", True)), folder=path,
               source=dict(meta.get("source") or {}))
