"""Study presets: TOML files that name a command and its parameters (one per paper figure).

A small, pure API shared by `ntk presets`, `ntk run` and the dashboard:

    list_presets()            the bundled presets (package `presets`, files *.toml), by name
    load(name_or_path)        one preset, validated: a bundled name ("seed003-fig3") or a path
                              to the user's own file ("my-study.toml")
    preset.arguments(quick)   keyword arguments for the command module's run(), every option
                              filled in (the preset's value, else the command's default)
    preset.argv(quick)        the same as a command line: ["spectrum", "--act", "relu", ...]
    command_options(command)  the options a command takes (name, kind, default, flag, help)
    command_module(command)   the module whose run() the preset calls

A preset file:

    title = "Spectra of the shallow Jacobian"
    description = "One paragraph."
    paper = "seed 003 (Lucey, ...), Fig. 3"
    command = "spectrum"
    [params]                  # the command's options by their long names with underscores
    act = ["heaviside", "relu", "sinc"]
    width = 256
    [quick]                   # optional: overrides applied by --quick
    width = 64

Every problem is a UserError of one line naming the file, the key and the line. Nothing here
imports JAX or numpy; reading a preset imports only the (light) command module it names.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import re
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from ntktui.errors import UserError

PACKAGE = "presets"
SUFFIX = ".toml"
REQUIRED = ("title", "description", "paper", "command")
TABLES = ("params", "quick")
KEYS = REQUIRED + TABLES
# Modules in ntktui.commands that are not studies a preset can run.
NOT_RUNNABLE = frozenset({"presets", "run", "tui", "devices"})
# Options that belong to the front end, not to the preset (`ntk run --json` chooses JSON).
RESERVED = frozenset({"json"})


# ---------------------------------------------------------------------------------------------
# The commands a preset may name, and their options (read from each run()'s signature)


@dataclass(frozen=True)
class Option:
    """One option of a command: `name` is run()'s keyword (the long flag with underscores)."""

    name: str
    kind: str  # "bool", "int", "float", "str", "list[str]", "list[int]" (or "other")
    default: Any  # run()'s default (None: the command chooses)
    flag: str  # the long flag on the command line, e.g. "--sigma-w", "--2d"
    help: str = ""


def runnable_commands() -> tuple[str, ...]:
    """Names of the commands a preset may run (every study command in ntktui.commands)."""
    import pkgutil

    import ntktui.commands as pkg

    return tuple(sorted(m.name for m in pkgutil.iter_modules(pkg.__path__)
                        if not m.name.startswith("_") and m.name not in NOT_RUNNABLE))


def command_module(command: str):
    """The module whose run() implements `ntk COMMAND` (imported lazily; no JAX)."""
    if command not in runnable_commands():
        raise UserError(f"unknown command {command!r}; a preset can run: "
                        f"{', '.join(runnable_commands())}")
    module = importlib.import_module(f"ntktui.commands.{command}")
    if getattr(module, "NAME", None) != command or not callable(getattr(module, "run", None)):
        raise UserError(f"ntktui.commands.{command} is not a command module")
    return module


def _kind(annotation) -> str | None:
    """Our option kinds from a run() annotation (Annotated and Optional unwrapped)."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            return None
        annotation = args[0]
    if typing.get_origin(annotation) in (list, typing.List):
        (item,) = typing.get_args(annotation) or (str,)
        return {str: "list[str]", int: "list[int]"}.get(item)
    return {bool: "bool", int: "int", float: "float", str: "str"}.get(annotation)


def _option_info(annotation, default):
    """Typer's OptionInfo for a parameter (in Annotated[...] or as the default value)."""
    for meta in getattr(annotation, "__metadata__", ()):
        if hasattr(meta, "param_decls"):
            return meta
    return default if hasattr(default, "param_decls") else None


@lru_cache(maxsize=None)
def _command_options(command: str) -> tuple[Option, ...]:
    run = command_module(command).run
    hints = typing.get_type_hints(run, include_extras=True)
    out = []
    for p in inspect.signature(run).parameters.values():
        annotation = hints.get(p.name)
        info = _option_info(annotation, p.default)
        default = p.default
        if default is not None and hasattr(default, "param_decls"):  # typer.Option(default, ...)
            default = default.default
        if default is Ellipsis or default is inspect.Parameter.empty:
            default = None
        decls = list(getattr(info, "param_decls", None) or ())
        if info is not None and isinstance(info.default, str) and info.default.startswith("--"):
            decls.insert(0, info.default)  # Annotated style: the first declaration
        flag = next((d for d in decls if d.startswith("--")), "--" + p.name.replace("_", "-"))
        kind = _kind(annotation) or "other"  # its default still applies; a preset cannot set it
        out.append(Option(p.name, kind, default, flag, getattr(info, "help", None) or ""))
    return tuple(out)


def command_options(command: str) -> dict[str, Option]:
    """The options of `ntk COMMAND` by run() keyword, in signature order (without json)."""
    return {o.name: o for o in _command_options(command) if o.name not in RESERVED}


def coerce(option: Option, value):
    """A TOML value as run() takes it, or a TypeError saying what was expected.

    Lists map to list options (act = ["relu", "sinc"]); a single value is a list of one. String
    options stay strings (hidden = "8N,400"); a number or a list of numbers is accepted there
    and written the way the command line would take it (k = [4, 8, 16] → "4,8,16")."""
    kind = option.kind

    def number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    def scalar_text(v):
        if isinstance(v, str):
            return v
        if number(v):
            return str(v)
        raise TypeError

    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            raise TypeError
        if kind == "int":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            raise TypeError
        if kind == "float":
            if number(value):
                return float(value)
            raise TypeError
        if kind == "str":
            if isinstance(value, (list, tuple)):
                return ",".join(scalar_text(v) for v in value)
            return scalar_text(value)
        if kind == "list[str]":
            items = value if isinstance(value, (list, tuple)) else [value]
            return [scalar_text(v) for v in items]
        if kind == "list[int]":
            items = value if isinstance(value, (list, tuple)) else [value]
            if all(isinstance(v, int) and not isinstance(v, bool) for v in items):
                return list(items)
            raise TypeError
    except TypeError:
        pass
    expected = {"bool": "true or false", "int": "an integer", "float": "a number",
                "str": "a string", "list[str]": "a string or a list of strings",
                "list[int]": "an integer or a list of integers"}.get(kind)
    if expected is None:
        raise TypeError("this option cannot be set from a preset")
    raise TypeError(f"expected {expected}, got {_show(value)} ({_toml_type(value)})")


def _toml_type(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, dict):
        return "table"
    names = {int: "integer", float: "float", str: "string", list: "array", tuple: "array"}
    return names.get(type(value), type(value).__name__)


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


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

    def values(self, quick: bool = False, overrides: Mapping[str, Any] | None = None) -> dict:
        """The preset's own parameters (plus [quick], plus overrides), coerced for run()."""
        raw = {**self.params, **(self.quick if quick else {}), **(overrides or {})}
        options = command_options(self.command)
        out = {}
        for key, value in raw.items():
            if key not in options:
                raise UserError(f"{self.source}: key {key}: {_unknown_param(self.command, key)}")
            try:
                out[key] = coerce(options[key], value)
            except TypeError as exc:
                raise UserError(f"{self.source}: key {key}: {exc}") from None
        return out

    def arguments(self, quick: bool = False, overrides: Mapping[str, Any] | None = None) -> dict:
        """Every keyword of the command's run() (json=False): the preset's value or the default.
        Call `command_module(p.command).run(**p.arguments())` to run it."""
        values = self.values(quick, overrides)
        options = command_options(self.command)
        args = {name: values.get(name, option.default) for name, option in options.items()}
        args["json"] = False
        return args

    def argv(self, quick: bool = False, overrides: Mapping[str, Any] | None = None) -> list[str]:
        """The equivalent command line (without the program name): the same run as typing it."""
        options = command_options(self.command)
        out = [self.command]
        for name, value in self.values(quick, overrides).items():
            flag = options[name].flag
            if isinstance(value, bool):
                if value:
                    out.append(flag)
                elif options[name].default:
                    raise UserError(f"{self.source}: key {name}: cannot be turned off on the "
                                    "command line")
            elif isinstance(value, list):
                for v in value:
                    out += [flag, str(v)]
            else:
                out += [flag, _number_text(value)]
        return out

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


def _number_text(value) -> str:
    """32.0 → "32", 1e-4 → "0.0001": as a person would type it (click reads both as floats)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


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
    return [_load_bundled(e) for e in sorted(entries, key=lambda e: _natural(e.name))]


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
    """A bundled preset by name, or the user's own file (a path ending .toml)."""
    text = os.fspath(name_or_path)
    if text.endswith(SUFFIX) or os.sep in text or (os.altsep and os.altsep in text):
        path = Path(text).expanduser()
        if not path.is_file():
            why = " (it is a directory)" if path.is_dir() else ""
            raise UserError(f"no preset file {text!r}{why}")
        return load_file(path)
    names = bundled_names()
    if text not in names:
        close = difflib.get_close_matches(text, names, n=3)
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
            where.fail(None, key, f"expected a string, got {_show(value)} ({_toml_type(value)})")
        value = " ".join(value.split())
        if not value:
            where.fail(None, key, "is empty")
        strings[key] = value

    command = strings["command"]
    if command not in runnable_commands():
        where.fail(None, "command", f"unknown command {command!r}; a preset can run "
                   f"{', '.join(runnable_commands())}{_did_you_mean(command, runnable_commands())}")
    options = command_options(command)

    tables = {}
    for table in TABLES:
        value = doc.get(table, {})
        if not isinstance(value, dict):
            where.fail(None, table, f"expected a table [{table}], got {_toml_type(value)}")
        for key, v in value.items():
            if key not in options:
                where.fail(table, key, _unknown_param(command, key))
            try:
                coerce(options[key], v)
            except TypeError as exc:
                where.fail(table, key, f"{exc} for --{options[key].flag.lstrip('-')}")
        tables[table] = _frozen(value)

    return Preset(name=source.name[: -len(SUFFIX)] if source.name.endswith(SUFFIX) else source.stem,
                  title=strings["title"], description=strings["description"],
                  paper=strings["paper"], command=command, params=tables["params"],
                  quick=tables["quick"], source=source, bundled=bundled)


def _unknown_param(command: str, key: str) -> str:
    if key in RESERVED:
        return f"{key} is chosen on the command line (ntk run --{key}), not in a preset"
    names = list(command_options(command))
    hint = _did_you_mean(key.replace("-", "_"), names, "({})")
    return f"not an option of ntk {command}{hint}; its options: {', '.join(names)}"


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
