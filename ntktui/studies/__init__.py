"""The analyses: one module each, and the one registry every front end iterates.

A study module (`ntktui/studies/NAME.py`) declares

    STUDY = Study(name="spectrum", order=10, help=__doc__, params=(...), analyse=analyse)

where `analyse(progress, **values) -> Report` takes one keyword per `Param` (ntktui.params). From
that one declaration the CLI makes the command `ntk NAME` (its options, defaults and help), the
dashboard its entry in the browser, its form and its palette command, presets and `ntk run`
validate their values, and `ntktui.report.compute(NAME, ...)` runs it from Python. Adding an
analysis is adding one module here and its test: nothing else lists the analyses.

Study modules import nothing heavy at the top (the registry loads them all for `ntk --help`); the
engine is imported inside `analyse`. Helpers several studies share live in `shared.py`.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Mapping

from ntktui.errors import UserError
from ntktui.params import FLAG, Param

# Modules of this package that are not analyses.
HELPERS = frozenset({"shared"})


@dataclass(frozen=True)
class Study:
    name: str  # the command: `ntk NAME`
    help: str  # the module docstring: first sentence is the summary
    params: tuple[Param, ...]
    analyse: Callable  # analyse(progress, **values) -> Report
    order: int = 100  # position in `ntk --help` and the dashboard's lists
    check: Callable[[dict], None] | None = None  # combinations of values that make no sense
    # memory(values): refuse (engine.errors.InsufficientMemory) before anything is allocated,
    # from the sizes alone, for the whole run (every row of a sweep) at once.
    memory: Callable[[dict], None] | None = None
    # runs across several processes (engine.distributed): its command takes --coordinator,
    # --num-processes, --process-id and --split
    distributed: bool = False

    def __post_init__(self):
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"study {self.name}: a parameter is declared twice")

    @property
    def summary(self) -> str:
        """The help's first sentence."""
        text = " ".join(self.help.split())
        end = text.find(". ")
        return text if end < 0 else text[: end + 1]

    @property
    def by_name(self) -> dict[str, Param]:
        return {p.name: p for p in self.params}

    def param(self, name: str) -> Param:
        found = self.by_name.get(name)
        if found is None:
            names = [p.name for p in self.params]
            close = difflib.get_close_matches(name.replace("-", "_"), names, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UserError(f"{name} is not an option of ntk {self.name}{hint}; its options: "
                            f"{', '.join(names)}")
        return found

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def values(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Every keyword of analyse(): the given values (Python or TOML values, or text), each
        converted and checked by its Param, over the defaults; then the study's own check of
        their combination."""
        parsed = {name: self.param(name).accept(value) for name, value in (given or {}).items()}
        return self.complete(parsed)

    def complete(self, parsed: Mapping[str, Any]) -> dict[str, Any]:
        """Checked values over the defaults, the checks that need the engine, the check of their
        combination, and the memory the whole run needs: every refusal before any work."""
        values = {**self.defaults(), **parsed}
        if self.check is not None:  # combinations first: they need no file or engine
            self.check(values)
        for p in self.params:
            if p.lookup is not None and values[p.name] is not None:
                p.lookup(values[p.name], p)
        if self.memory is not None:
            self.memory(values)
        return values

    def from_texts(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The command line's values (lists of texts, one per occurrence; bools for flags)
        parsed by their Params, over the defaults."""
        parsed = {}
        for p in self.params:
            raw = given.get(p.name)
            if p.kind is FLAG:
                if raw:
                    parsed[p.name] = p.validate(True)
                continue
            if not raw:
                continue
            if isinstance(raw, str):
                raw = [raw]
            if len(raw) > 1 and not p.repeat:
                raise p.error(f"is given {len(raw)} times ({', '.join(map(repr, raw))}); it takes "
                              "one value")
            parsed[p.name] = p.parse(",".join(raw))
        return self.complete(parsed)

    def argv(self, values: Mapping[str, Any]) -> list[str]:
        """These values as a command line (without the program name), in declaration order."""
        out = [self.name]
        for p in self.params:
            if p.name in values:
                out += p.argv(values[p.name])
        return out

    def command_line(self, values: Mapping[str, Any]) -> str:
        import shlex

        return "ntk " + " ".join(shlex.quote(a) for a in self.argv(values))


def _module_names() -> list[str]:
    return [m.name for m in pkgutil.iter_modules(__path__)
            if not m.name.startswith("_") and m.name not in HELPERS]


@lru_cache(maxsize=None)
def _registry() -> dict[str, Study]:
    found = {}
    for module_name in _module_names():
        module = importlib.import_module(f"{__name__}.{module_name}")
        study = getattr(module, "STUDY", None)
        if not isinstance(study, Study):
            raise TypeError(f"{module.__name__} defines no STUDY")
        if study.name in found:
            raise ValueError(f"two studies are named {study.name}")
        found[study.name] = study
    return dict(sorted(found.items(), key=lambda kv: (kv[1].order, kv[0])))


def all_studies() -> list[Study]:
    """Every analysis, in the order of `ntk --help`."""
    return list(_registry().values())


def names() -> tuple[str, ...]:
    return tuple(_registry())


def get(name: str) -> Study:
    """The analysis `ntk NAME` runs; a one-line UserError naming the choices if there is none."""
    registry = _registry()
    if name not in registry:
        close = difflib.get_close_matches(name, list(registry), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise UserError(f"unknown analysis {name!r}{hint}; the analyses: {', '.join(registry)}")
    return registry[name]
