"""An analysis's parameters, declared once as data, and the one parser and formatter of their
values.

A `Param` names an `analyse()` keyword and says everything the front ends need: its kind, default,
help, flags, unit, choices, bounds and any further check. Every front end reads values through
the same two functions:

    param.parse(text)      text typed by a person: the command line, the dashboard's form
    param.accept(value)    a Python or TOML value: presets, `compute()` from Python

and writes them through `param.format(value)` (text for a field or a help line), `param.argv(value)`
(a command line) and `param.toml(value)` (a preset file). Bounds, choices and checks are applied by
both readers, so a bad value gets the same one-line message wherever it comes from.

List kinds (`INTS`, `FLOATS`, `NAMES`) hold tuples. Their text is comma-separated ("4,8,16", a range
"1:30" or "1:30:2" for integers); commas inside parentheses stay ("abrelu(0.2,1)"). A parameter
with `repeat=True` may be given several times on the command line (`--act relu --act tanh`); the
texts are joined with commas.

This module imports nothing heavy: `ntk --help` and the dashboard's first screen load it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable

from ntktui.errors import UserError


class Kind:
    """How one kind of value is read and written. Subclasses hold no state: one instance each."""

    metavar = "TEXT"
    expected = "a string"
    is_list = False

    def parse(self, text: str, p: "Param"):
        raise NotImplementedError

    def accept(self, value, p: "Param"):
        """A native value (TOML, Python) as this kind holds it; text goes through parse."""
        if isinstance(value, str):
            return self.parse(value, p)
        raise TypeError

    def format(self, value) -> str:
        return str(value)

    def toml(self, value) -> str:
        return toml_literal(value)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def number_text(value) -> str:
    """32.0 → "32", 1e-4 → "0.0001", 1e200 → "1e+200": the shortest text that reads back equal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


class _Int(Kind):
    metavar = "INT"
    expected = "an integer"

    def parse(self, text, p):
        try:
            return int(text.strip().replace("_", ""))
        except ValueError:
            raise p.error(f"must be an integer, got {text!r}") from None

    def accept(self, value, p):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return super().accept(value, p)


class _Float(Kind):
    metavar = "FLOAT"
    expected = "a number"

    def parse(self, text, p):
        try:
            return float(text.strip())
        except ValueError:
            raise p.error(f"must be a number, got {text!r}") from None

    def accept(self, value, p):
        if _number(value):
            return float(value)
        return super().accept(value, p)

    def format(self, value):
        return number_text(value)


class _Text(Kind):
    metavar = "TEXT"

    def parse(self, text, p):
        return text.strip()

    def accept(self, value, p):
        if isinstance(value, str):
            return self.parse(value, p)
        if _number(value):
            return number_text(value)
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) or _number(v) for v in value):
            return ",".join(number_text(v) for v in value)  # widths = [512, 512] → "512,512"
        raise TypeError


class _Flag(Kind):
    metavar = ""
    expected = "true or false"

    def parse(self, text, p):
        low = text.strip().lower()
        if low in ("true", "yes", "on", "1"):
            return True
        if low in ("false", "no", "off", "0", ""):
            return False
        raise p.error(f"must be true or false, got {text!r}")

    def accept(self, value, p):
        if isinstance(value, bool):
            return value
        return super().accept(value, p)

    def format(self, value):
        return "true" if value else "false"


class _Choice(Kind):
    metavar = "CHOICE"

    def parse(self, text, p):
        return text.strip()


def split_items(text: str) -> list[str]:
    """'relu,abrelu(0.2,1)' → ['relu', 'abrelu(0.2,1)']: commas inside parentheses stay."""
    items, depth, current = [], 0, ""
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            items.append(current.strip())
            current = ""
        else:
            current += ch
    items.append(current.strip())
    return [i for i in items if i]


class _Ints(Kind):
    """Integers: '4,8,16', a range '1:30' (inclusive) or '1:30:2', or a mix."""

    metavar = "INTS"
    expected = "integers like 4,8,16 or a range 1:30"
    is_list = True

    def parse(self, text, p):
        out: list[int] = []
        for part in split_items(text):
            try:
                bits = [int(b) for b in part.split(":")]
            except ValueError:
                bits = []
            if not 1 <= len(bits) <= 3 or (len(bits) == 3 and bits[2] <= 0):
                raise p.error(f"must be integers like 4,8,16 or a range 1:30, got {text!r}")
            if len(bits) == 1:
                out.append(bits[0])
                continue
            step = bits[2] if len(bits) == 3 else 1
            for end in bits[:2]:  # the ends, before a long range is made
                p._check_item(end)
            if (bits[1] - bits[0]) // step + 1 > MAX_ITEMS:
                raise p.error(f"{part} has more than {MAX_ITEMS:,} values")
            out.extend(range(bits[0], bits[1] + 1, step))
        return tuple(out)

    def accept(self, value, p):
        if isinstance(value, int) and not isinstance(value, bool):
            return (value,)
        if isinstance(value, (list, tuple)) and all(
                isinstance(v, int) and not isinstance(v, bool) for v in value):
            return tuple(value)
        return super().accept(value, p)

    def format(self, value):
        """Runs of four or more consecutive values as a range: (1, 2, …, 30) → "1:30"."""
        parts, i, v = [], 0, list(value)
        while i < len(v):
            j = i
            while j + 1 < len(v) and v[j + 1] == v[j] + 1:
                j += 1
            if j - i >= 3:
                parts.append(f"{v[i]}:{v[j]}")
                i = j + 1
            else:
                parts.append(str(v[i]))
                i += 1
        return ",".join(parts)

    def toml(self, value):
        return toml_literal(self.format(value))


class _Floats(Kind):
    metavar = "FLOATS"
    expected = "numbers like 1,5,10"
    is_list = True

    def parse(self, text, p):
        try:
            return tuple(float(v) for v in split_items(text))
        except ValueError:
            raise p.error(f"must be numbers like 1,5,10,30, got {text!r}") from None

    def accept(self, value, p):
        if _number(value):
            return (float(value),)
        if isinstance(value, (list, tuple)) and all(_number(v) for v in value):
            return tuple(float(v) for v in value)
        return super().accept(value, p)

    def format(self, value):
        return ",".join(number_text(v) for v in value)

    def toml(self, value):
        return toml_literal(list(value))


class _Names(Kind):
    """Names such as activations: 'relu,abrelu(0.2,1)' or repeated flags."""

    metavar = "NAME"
    expected = "a string or a list of strings"
    is_list = True

    def parse(self, text, p):
        return tuple(split_items(text))

    def accept(self, value, p):
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return tuple(v.strip() for v in value if v.strip())
        return super().accept(value, p)

    def format(self, value):
        return ", ".join(value)

    def toml(self, value):
        return toml_literal(list(value))


INT, FLOAT, TEXT, FLAG, CHOICE = _Int(), _Float(), _Text(), _Flag(), _Choice()
INT64_MAX = 2**63 - 1
MAX_ITEMS = 100_000  # values in one list option: more is a typo, not a study
INTS, FLOATS, NAMES = _Ints(), _Floats(), _Names()


def toml_literal(value) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if math.isnan(value) else
                                                          ("inf" if value > 0 else "-inf"))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


@dataclass(frozen=True)
class Param:
    """One option of an analysis. `name` is its analyse() keyword; `flags` its command-line names
    (the first long one is the flag; default: the name with dashes). `default` None means "the
    analysis chooses", explained by `default_text` in the help and the form."""

    name: str
    kind: Kind
    default: Any = None
    help: str = ""
    flags: tuple[str, ...] = ()
    unit: str = ""
    choices: tuple[str, ...] = ()
    lo: float | None = None  # bounds of the value (of each item for lists)
    hi: float | None = None
    lo_open: bool = False  # lo itself is excluded
    hi_open: bool = False
    finite: bool = True  # floats: inf and nan refused
    min_items: int = 1  # lists: at least this many items
    repeat: bool = False  # the flag may be given several times (texts joined by commas)
    check: Callable[[Any, "Param"], None] | None = None  # further check, raises UserError
    # A check that needs the engine (an activation name in the registry, a file's contents): run
    # when a run is prepared (Study.complete), not when a preset file is only listed.
    lookup: Callable[[Any, "Param"], None] | None = None
    default_text: str | None = None  # what the default means, for help, when it is None

    @property
    def flag(self) -> str:
        return next((f for f in self.flags if f.startswith("--")), "--" + self.name.replace("_", "-"))

    @property
    def all_flags(self) -> tuple[str, ...]:
        return self.flags or (self.flag,)

    def with_(self, **changes) -> "Param":
        """The same parameter with some fields changed (a study's own default or help)."""
        return replace(self, **changes)

    def error(self, message: str) -> UserError:
        return UserError(f"{self.flag} {message}", field=self.name)

    # --- reading ------------------------------------------------------------------------------

    def parse(self, text: str):
        """A value typed as text (command line, form): parsed and checked."""
        return self.validate(self.kind.parse(text, self))

    def accept(self, value):
        """A Python or TOML value: converted to this kind and checked; UserError if it is not
        one. None is the default ("the analysis chooses") where the default is None."""
        if value is None and self.default is None:
            return None
        try:
            converted = self.kind.accept(value, self)
        except TypeError:
            raise self.error(f"expected {self.kind.expected}, got {short_repr(value)} "
                             f"({type_name(value)})") from None
        return self.validate(converted)

    def validate(self, value):
        if value is None and self.default is None:
            return None
        items = value if self.kind.is_list else (value,)
        if self.kind.is_list and len(items) < self.min_items:
            raise self.error("is empty" if self.min_items == 1 else
                             f"needs at least {self.min_items} values")
        if self.kind.is_list and len(items) > MAX_ITEMS:
            raise self.error(f"has {len(items):,} values; at most {MAX_ITEMS:,}")
        for item in items:
            self._check_item(item)
        if self.check is not None:
            self.check(value, self)
        return value

    def _check_item(self, v) -> None:
        if self.choices and v not in self.choices:
            from difflib import get_close_matches

            close = get_close_matches(str(v), self.choices, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise self.error(f"must be one of {', '.join(self.choices)}; got {v!r}{hint}")
        if _number(v):
            if isinstance(v, int) and abs(v) > INT64_MAX:  # numpy and JAX hold int64 at most
                raise self.error(f"must be at most {INT64_MAX:,} in size, got {v}")
            if isinstance(v, float) and self.finite and not math.isfinite(v):
                raise self.error(f"must be a finite number, got {v}")
            if not self._inside(v):
                raise self.error(f"must be {self.bounds_text()}, got {number_text(v)}")

    def _inside(self, v) -> bool:
        if self.lo is not None and (v < self.lo or (self.lo_open and v == self.lo)):
            return False
        if self.hi is not None and (v > self.hi or (self.hi_open and v == self.hi)):
            return False
        return True

    def bounds_text(self) -> str:
        lo, hi = self.lo, self.hi
        if lo is None and hi is None:
            return "any number"
        if hi is None:
            if lo == 0 and self.lo_open or (lo == 1 and self.kind in (INT, INTS)):
                return "positive"
            return f"{'>' if self.lo_open else '≥'} {number_text(lo)}"
        if lo is None:
            return f"{'<' if self.hi_open else '≤'} {number_text(hi)}"
        left, right = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
        return f"in {left}{number_text(lo)}, {number_text(hi)}{right}"

    # --- writing ------------------------------------------------------------------------------

    def format(self, value) -> str:
        """The value as a person types it ("" for None, the analysis's choice)."""
        return "" if value is None else self.kind.format(value)

    def argv(self, value) -> list[str]:
        """The value on a command line: [] for the default of a flag or None."""
        if value is None:
            return []
        if self.kind is FLAG:
            if value == bool(self.default):
                return []
            if not value:
                raise self.error("cannot be turned off on the command line")
            return [self.flag]
        if self.kind is NAMES:
            return [a for v in value for a in (self.flag, v)]
        return [self.flag, self.kind.format(value)]

    def toml(self, value) -> str:
        return self.kind.toml(value)

    def default_shown(self) -> str:
        """The default for help and the form's placeholder."""
        if self.default is None:
            return self.default_text or "none"
        return self.format(self.default)

    def describe(self) -> str:
        """The help line with its unit and bounds: what the form shows under a field."""
        extra = []
        if self.unit:
            extra.append(self.unit)
        if self.choices:
            extra.append("one of " + ", ".join(self.choices))
        elif self.lo is not None or self.hi is not None:
            extra.append(self.bounds_text())
        return self.help + (f" ({'; '.join(extra)})" if extra else "")


def short_repr(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def type_name(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    names = {int: "integer", float: "float", str: "string", list: "array", tuple: "array",
             dict: "table"}
    return names.get(type(value), type(value).__name__)


# ---------------------------------------------------------------------------------------------
# Values that depend on another: a width given as a multiple of the sample count ("8N").


def widths(text: str, samples: int | None = None, flag: str = "--hidden") -> list[int]:
    """'512,512' → [512, 512]; a width may be a multiple of the sample count: '8N,400' with N = 25
    → [200, 400] (seed 000 grows the wide layer with N)."""
    out: list[int] = []
    for part in (p.strip().upper() for p in text.split(",")):
        if not part:
            continue
        if part.endswith("N") and samples is None:
            raise UserError(f"{flag} uses N ({text!r}) but there is no sample count here")
        try:
            value = round(float(part[:-1] or "1") * samples) if part.endswith("N") else int(part)
        except (ValueError, OverflowError):
            raise UserError(f"{flag} must be widths like 512,512 or 8N,400, got {text!r}") from None
        if value < 1:
            raise UserError(f"{flag} widths must be positive, got {text!r}")
        out.append(value)
    if not out:
        raise UserError(f"{flag} is empty")
    return out


def check_widths(text: str, p: Param) -> None:
    """A --hidden value is well formed (checked with N = 1 where it uses N)."""
    widths(text, 1, p.flag)
