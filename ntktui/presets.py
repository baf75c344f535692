"""Study presets: TOML files that name a command and its parameters (one per paper figure).

A small, pure API shared by `ntk presets`, `ntk run` and the dashboard:

    list_presets()            the bundled presets (package `presets`, files *.toml), by name
    load(name_or_path)        one preset, validated: a bundled name ("seed003-fig3") or a path
                              to the user's own file ("my-study.toml")
    preset.arguments(quick)   keyword arguments for its analysis's analyse(), every parameter
                              filled in (the preset's value, else the declared default)
    preset.argv(quick)        the same as a command line: ["spectrum", "--act", "relu", ...]
    preset.study              the analysis it runs (ntktui.studies)

A preset file:

    title = "Spectra of the shallow Jacobian"
    description = "One paragraph."
    paper = "seed 003 (Lucey, ...), Fig. 3"
    command = "spectrum"
    [params]                  # the analysis's parameters by name (long flags with underscores)
    act = ["heaviside", "relu", "sinc"]
    width = 256
    [quick]                   # optional: overrides applied by --quick
    width = 64

Values are read by the analysis's own Params (ntktui.params), the parser the command line uses:
every problem is a UserError of one line naming the file, the key and the line. Nothing here
imports JAX or numpy.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from ntktui import studies
from ntktui.errors import UserError
from ntktui.params import short_repr, type_name

PACKAGE = "presets"
SUFFIX = ".toml"
REQUIRED = ("title", "description", "paper", "command")
TABLES = ("params", "quick")
KEYS = REQUIRED + TABLES
# Options that belong to the front end, not to the preset (`ntk run --json` chooses JSON).
RESERVED = frozenset({"json", "plot_width"})


# ---------------------------------------------------------------------------------------------
# Presets


@dataclass(frozen=True)
class Preset:
    name: str  # the file's stem: "seed003-fig3"
    title: str
    description: str  # one paragraph (whitespace collapsed)
    paper: str
    command: str  # the ntk command it runs
    params: Mapping[str, Any]  # as written in the file (validated against the command)
    quick: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    source: Path = Path()
    bundled: bool = False
    analysis: bool = False  # an analysis with its defaults (no file): `for_study`

    @property
    def study(self) -> studies.Study:
        return studies.get(self.command)

    def values(self, quick: bool = False, overrides: Mapping[str, Any] | None = None) -> dict:
        """The preset's own parameters (plus [quick], plus overrides), read by their Params."""
        raw = {**self.params, **(self.quick if quick else {}), **(overrides or {})}
        study = self.study
        out = {}
        for key, value in raw.items():
            if key not in study.by_name:
                raise UserError(f"{self.source}: key {key}: {_unknown_param(study, key)}")
            try:
                out[key] = study.param(key).accept(value)
            except UserError as exc:
                raise UserError(f"{self.source}: key {key}: {exc}") from None
        return out

    def arguments(self, quick: bool = False, overrides: Mapping[str, Any] | None = None) -> dict:
        """Every keyword of the analysis's analyse(): the preset's value or the default, checked
        together. `p.study.analyse(progress, **p.arguments())` runs it."""
        return self.study.complete(self.values(quick, overrides))

    def argv(self, quick: bool = False, overrides: Mapping[str, Any] | None = None) -> list[str]:
        """The equivalent command line (without the program name): the same run as typing it."""
        try:
            return self.study.argv(self.values(quick, overrides))
        except UserError as exc:
            raise UserError(f"{self.source}: {exc}") from None

    def locate(self, message: str, quick: bool = False) -> str:
        """Where in the file a value named in a command's error message was written:
        "FILE, line 7, key params.act" (or just the file when no value matches)."""
        tables = [("quick", self.quick)] if quick else []
        tables.append(("params", self.params))
        for table, mapping in tables:
            for key, value in mapping.items():
                items = value if isinstance(value, (list, tuple)) else [value]
                for item in items:
                    text = str(item)
                    if isinstance(item, str) and len(text) >= 2 and (
                            repr(text) in message or f'"{text}"' in message):
                        try:
                            source_text = self.source.read_text(encoding="utf-8")
                        except OSError:
                            break
                        line = _Locator(self.source, source_text).line_of(table, key)
                        return f"{self.source}{f', line {line}' if line else ''}, key {table}.{key}"
        return str(self.source)

    def command_line(self, quick: bool = False,
                     overrides: Mapping[str, Any] | None = None) -> str:
        import shlex

        return "ntk " + " ".join(shlex.quote(a) for a in self.argv(quick, overrides))

    def to_json(self) -> dict:
        return {"name": self.name, "title": self.title, "description": self.description,
                "paper": self.paper, "command": self.command, "params": _plain(self.params),
                "quick": _plain(self.quick), "source": str(self.source), "bundled": self.bundled}


def for_study(study: studies.Study) -> Preset:
    """An analysis with its declared defaults, as a preset (the dashboard lists every analysis,
    preset or not)."""
    return Preset(name=study.name, title=study.summary, description=" ".join(study.help.split()),
                  paper="", command=study.name, params=MappingProxyType({}),
                  source=Path(f"ntk {study.name}"), analysis=True)


def list_analyses() -> list[Preset]:
    """Every analysis in the registry, as a preset with its defaults."""
    return [for_study(s) for s in studies.all_studies()]


def _plain(mapping: Mapping) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in mapping.items()}


def _frozen(mapping: dict) -> Mapping:
    return MappingProxyType({k: tuple(v) if isinstance(v, list) else v for k, v in mapping.items()})


def _bundled_dir():
    from importlib.resources import files

    return files(PACKAGE)


def list_presets() -> list[Preset]:
    """Every bundled preset, loaded and validated, sorted by name."""
    entries = [e for e in _bundled_dir().iterdir() if e.name.endswith(SUFFIX)]
    # by the name without .toml, as bundled_names sorts ("a" before "a-b")
    return [_load_bundled(e)
            for e in sorted(entries, key=lambda e: _natural(e.name[: -len(SUFFIX)]))]


def _load_bundled(entry) -> Preset:
    """A preset from the package's resources (read through importlib.resources, so it works
    from any installed form of the package)."""
    return parse(entry.read_bytes(), Path(str(entry)), bundled=True)


def bundled_names() -> list[str]:
    return sorted((e.name[: -len(SUFFIX)] for e in _bundled_dir().iterdir()
                   if e.name.endswith(SUFFIX)), key=_natural)


def _natural(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def load(name_or_path: str | os.PathLike) -> Preset:
    """A bundled preset by name, the user's own file (a path ending .toml), or an analysis's
    name (the analysis with its defaults)."""
    text = os.fspath(name_or_path)
    if text.endswith(SUFFIX) or os.sep in text or (os.altsep and os.altsep in text):
        path = Path(text).expanduser()
        if not path.is_file():
            why = " (it is a directory)" if path.is_dir() else ""
            raise UserError(f"no preset file {text!r}{why}")
        return load_file(path)
    names = bundled_names()
    if text not in names and text in studies.names():
        return for_study(studies.get(text))  # an analysis with its defaults
    if text not in names:
        close = difflib.get_close_matches(text, [*names, *studies.names()], n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UserError(f"no preset named {text!r}{hint} (`ntk presets` lists them; a file of "
                        f"your own must end in {SUFFIX})")
    return _load_bundled(_bundled_dir().joinpath(text + SUFFIX))


def load_file(path: Path, bundled: bool = False) -> Preset:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read preset {path}: {exc.strerror or exc}") from None
    return parse(data, path, bundled=bundled)


def _toml():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise UserError("reading presets needs Python 3.11 or the tomli package") from None
    return tomllib


def parse(data: bytes, source: Path, bundled: bool = False) -> Preset:
    """Validate a preset file's bytes (tomllib needs binary input: it decodes UTF-8 itself)."""
    tomllib = _toml()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(_syntax_message(source, text, exc)) from None
    where = _Locator(source, text)

    for key in doc:
        if key not in KEYS:
            where.fail(None, key, f"unknown key (a preset has {', '.join(KEYS)}"
                       f"{_did_you_mean(key, KEYS)})")
    missing = [k for k in REQUIRED if k not in doc]
    if missing:
        raise UserError(f"{source}: missing key{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(missing)} (a preset needs {', '.join(REQUIRED)} and [params])")
    strings = {}
    for key in REQUIRED:
        value = doc[key]
        if not isinstance(value, str):
            where.fail(None, key, f"expected a string, got {short_repr(value)} ({type_name(value)})")
        value = " ".join(value.split())
        if not value:
            where.fail(None, key, "is empty")
        strings[key] = value

    command = strings["command"]
    if command not in studies.names():
        where.fail(None, "command", f"unknown command {command!r}; a preset can run "
                   f"{', '.join(studies.names())}{_did_you_mean(command, studies.names())}")
    study = studies.get(command)

    tables = {}
    for table in TABLES:
        value = doc.get(table, {})
        if not isinstance(value, dict):
            where.fail(None, table, f"expected a table [{table}], got {type_name(value)}")
        for key, v in value.items():
            if key not in study.by_name:
                where.fail(table, key, _unknown_param(study, key))
            try:
                study.param(key).accept(v)
            except UserError as exc:
                where.fail(table, key, str(exc))
        tables[table] = _frozen(value)

    return Preset(name=source.name[: -len(SUFFIX)] if source.name.endswith(SUFFIX) else source.stem,
                  title=strings["title"], description=strings["description"],
                  paper=strings["paper"], command=command, params=tables["params"],
                  quick=tables["quick"], source=source, bundled=bundled)


def _unknown_param(study: studies.Study, key: str) -> str:
    if key in RESERVED:
        return (f"{key} is chosen on the command line (ntk run --{key.replace('_', '-')}), not "
                "in a preset")
    names = [p.name for p in study.params]
    hint = _did_you_mean(key.replace("-", "_"), names, "({})")
    return f"not an option of ntk {study.name}{hint}; its options: {', '.join(names)}"


def _did_you_mean(key: str, choices, form: str = "; {}") -> str:
    close = [key] if key in choices else difflib.get_close_matches(key, list(choices), n=1)
    return (" " if form.startswith("(") else "") + form.format(f"did you mean {close[0]}?") \
        if close else ""


def _syntax_message(source: Path, text: str, exc) -> str:
    message = str(exc)
    line = getattr(exc, "lineno", None)
    m = re.search(r"\s*\(at line (\d+), column (\d+)\)\s*$", message)
    if m:
        line = line or int(m.group(1))
        message = message[: m.start()]
    elif getattr(exc, "msg", None):
        message = exc.msg
    message = " ".join(message.split())
    if not line:
        return f"{source}: TOML syntax error: {message}"
    lines = text.splitlines()
    key = _key_on(lines[line - 1]) if 0 < line <= len(lines) else None
    where = f", key {key}" if key else ""
    return f"{source}, line {line}{where}: TOML syntax error: {message}"


_PART = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""  # a bare or quoted key
_KEY_LINE = re.compile(rf"^\s*({_PART}(?:\s*\.\s*{_PART})*)\s*=")
_TABLE_LINE = re.compile(r"""^\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$""")


def _key_on(line: str) -> str | None:
    m = _KEY_LINE.match(line)
    return _unquote(m.group(1)) if m else None


def _unquote(key: str) -> str:
    dots = r"\.(?=(?:[^\"']|\"[^\"]*\"|'[^']*')*$)"  # dots outside quotes
    parts = [p.strip().strip("\"'") for p in re.split(dots, key)]
    return ".".join(parts)


class _Locator:
    """Finds the line of a key by scanning the file's text (tomllib keeps no positions)."""

    def __init__(self, source: Path, text: str):
        self.source = source
        self.lines = text.splitlines()

    def line_of(self, table: str | None, key: str) -> int | None:
        current = None
        fallback = None
        for i, line in enumerate(self.lines, start=1):
            m = _TABLE_LINE.match(line)
            if m and not line.lstrip().startswith("[["):
                current = _unquote(m.group(1))
                if table is None and current == key:
                    return i  # [params] written as a table where a value was expected
                continue
            found = _key_on(line)
            if found is None:
                continue
            full = found if current is None else f"{current}.{found}"
            wanted = key if table is None else f"{table}.{key}"
            if full == wanted:
                return i
            if fallback is None and (found == key or found.endswith("." + key)
                                     or re.search(rf"(^|[{{,\s]){re.escape(key)}\s*=", line)):
                fallback = i
        if fallback is None:  # inline tables: params = { width = 64 }
            for i, line in enumerate(self.lines, start=1):
                if re.search(rf"(^|[{{,\s]){re.escape(key)}\s*=", line):
                    return i
        return fallback

    def fail(self, table: str | None, key: str, message: str):
        line = self.line_of(table, key)
        name = key if table is None else f"{table}.{key}"
        where = f", line {line}" if line else ""
        raise UserError(f"{self.source}{where}, key {name}: {message}")
