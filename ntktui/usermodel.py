"""A researcher's own model from a Python file: `--model FILE.py:NAME`.

NAME is a function of no arguments in FILE.py that returns a model in one of the forms
`engine.models.as_model` accepts: a Flax NNX module, an Equinox module, `(linen_module,
variables)`, or `(apply, params)` with apply(params, x) mapping a batch to (N,) or (N, k). The
file is run as a module of its own (its folder first on the import path, so it may import its
neighbours). Everything that can go wrong in it is one UserError naming the file: it cannot be
read or imported, it has no NAME, NAME fails or returns something that is not a model, or the
model's outputs mix samples.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

from ntktui.errors import UserError


@dataclass(frozen=True)
class UserModel:
    model: object  # engine.models.Model
    path: Path
    name: str

    @property
    def description(self) -> str:
        m = self.model
        return f"{self.path.name}:{self.name} ({m.kind}, {m.parameter_count:,} parameters)"


def split(spec: str) -> tuple[str, str]:
    """'models/net.py:build' → ('models/net.py', 'build'); a one-line error otherwise."""
    path, sep, name = spec.rpartition(":")
    if not sep or not path or not name.isidentifier() or not path.endswith(".py"):
        raise UserError(f"--model must be FILE.py:NAME (a Python file and a function in it), "
                        f"got {spec!r}")
    return path, name


def check_spec(spec: str, p) -> None:
    """The Param's check: the form FILE.py:NAME (the file itself is read when the run starts)."""
    try:
        split(spec)
    except UserError as exc:
        raise UserError(str(exc), field=p.name) from None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def load(spec: str) -> UserModel:
    """Import FILE.py, call NAME() and make the result an engine Model."""
    from engine.errors import EngineError
    from engine.models import as_model
    from ntktui.data import check_file

    path_text, name = split(spec)
    path = check_file(path_text, "Python file").resolve()
    module_name = f"ntk_user_model_{abs(hash(str(path)))}"
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise UserError(f"{path_text}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(loader_spec)
    sys.path.insert(0, str(path.parent))
    try:
        loader_spec.loader.exec_module(module)
    except SystemExit:
        raise UserError(f"{path_text}: importing it called exit()") from None
    except BaseException as exc:  # the user's code may raise anything
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise UserError(f"{path_text}: importing it failed: {_one_line(exc)}") from None
    finally:
        sys.path.remove(str(path.parent))
    if not hasattr(module, name):
        defined = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
                   and getattr(v, "__module__", None) == module_name]
        hint = f"; it defines {', '.join(defined)}" if defined else ""
        raise UserError(f"{path_text} has no {name!r}{hint}")
    factory = getattr(module, name)
    if not callable(factory):
        raise UserError(f"{path_text}:{name} is not a function (NAME must be a function of no "
                        "arguments returning the model)")
    try:
        made = factory()
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise UserError(f"{path_text}:{name}() failed: {_one_line(exc)}") from None
    try:
        model = as_model(made)
    except EngineError as exc:
        raise UserError(f"{path_text}:{name}() returned {type(made).__name__}: {exc}") from None
    return UserModel(model, path, name)


def check_model(user: UserModel, x) -> int:
    """The model's output width on these inputs; one line naming the file if it refuses them or
    its outputs mix samples."""
    from engine.errors import EngineError
    from engine.models import check_per_sample

    try:
        return check_per_sample(user.model, x)
    except EngineError as exc:
        raise UserError(f"{user.path.name}:{user.name}: {exc}") from None
    except Exception as exc:  # the model's own code on these inputs (a shape mismatch, …)
        raise UserError(f"{user.path.name}:{user.name} fails on inputs of shape "
                        f"{tuple(x.shape)}: {_one_line(exc)}") from None
