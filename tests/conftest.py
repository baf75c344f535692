"""Shared fixtures and helpers. JAX compile time dominates small tests: keep sizes small and
shared.

The compile cache and the user's data folder live in temporary folders made for this test
session (and removed after it), so a warm developer machine and a cold CI run the same code
paths and no test writes into the user's home. Subprocesses inherit the variables."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from dataclasses import dataclass

import pytest

# XLA's backend at optimisation level 0: the suite's programs are small and compiled once each, so
# compiling them costs more than running them (test_models and test_symmetric: 47 s against 60 s
# at the default level). Results are the same IEEE arithmetic; benchmarks and `ntk` itself keep
# the default. Appended, so flags a developer sets still apply.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_backend_optimization_level=0").strip()


def _xla_accepts(flag: str) -> bool:
    """Whether this jaxlib's XLA knows `flag` (it aborts the process on an unknown one), asked of
    a child process once per session: the workers and subprocesses inherit the answer."""
    import subprocess
    import sys

    probe = "import jax; jax.devices()"
    env = {**os.environ, "XLA_FLAGS": flag, "JAX_PLATFORMS": "cpu"}
    try:
        return subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                              timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# XLA's CPU fusions through its older LLVM-IR emitters instead of the MLIR fusion emitters: each
# of the suite's thousands of small programs (an eager op is one) compiles in about half the time
# (serial suite 574 s -> 397 s, every test passing). Element-wise arithmetic is the same IEEE
# operations; `ntk` itself and the benchmarks keep XLA's default. Only where this XLA knows the
# flag, so a jaxlib without it runs the suite as before instead of aborting.
_EMITTERS = "--xla_cpu_use_fusion_emitters=false"
if ("xla_cpu_use_fusion_emitters" not in os.environ.get("XLA_FLAGS", "")
        and os.environ.get("NTK_TEST_XLA_PROBED") is None):
    os.environ["NTK_TEST_XLA_PROBED"] = "1"
    if _xla_accepts(_EMITTERS):
        os.environ["XLA_FLAGS"] = os.environ["XLA_FLAGS"] + " " + _EMITTERS

# The compile cache is shared by this session's pytest-xdist workers (they inherit the variable
# from the process that starts them), so a program one worker compiled is not compiled again by
# the other; each process keeps its own data folder, since tests write there.
_SHARED = os.environ.get("NTK_TEST_CACHE")
if _SHARED is None:
    _SHARED = os.environ["NTK_TEST_CACHE"] = tempfile.mkdtemp(prefix="ntk-tests-cache-")
    atexit.register(shutil.rmtree, _SHARED, ignore_errors=True)
_SESSION = tempfile.mkdtemp(prefix="ntk-tests-")
os.environ["XDG_CACHE_HOME"] = _SHARED
os.environ["XDG_DATA_HOME"] = os.path.join(_SESSION, "data")
atexit.register(shutil.rmtree, _SESSION, ignore_errors=True)


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> dict:
        return json.loads(self.out)


@pytest.fixture
def ntk(capsys):
    """Run the real `ntk` entry point (with its one-line error handling) and capture its output."""
    from ntktui.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def with_args(base: tuple, args: tuple) -> tuple:
    """`base` command-line arguments with the options `args` sets replaced by args' values (an
    option given twice is refused, so a test of one option must not repeat the base's)."""
    given = {a for a in args if a.startswith("-")}
    out, skip = [], False
    for i, a in enumerate(base):
        if skip:
            skip = False
            continue
        if a in given:
            skip = i + 1 < len(base) and not base[i + 1].startswith("-")
            continue
        out.append(a)
    return (*out, *args)


def assert_one_line_error(r: CliResult, *needles: str) -> None:
    """Bad input: exit code 2, nothing on stdout, one line on stderr naming each needle."""
    assert r.code == 2, (r.code, r.err)
    assert r.out == "", r.out
    assert r.err.startswith("ntk: error:") and r.err.count("\n") == 1, r.err
    for needle in needles:
        assert needle in r.err, r.err


@pytest.fixture
def ntk_json(ntk):
    """ntk_json(*args): run `ntk ARGS --json`, require exit 0 and return the parsed JSON."""

    def run(*args: str) -> dict:
        r = ntk(*args, "--json")
        assert r.code == 0, r.err
        return r.json()

    return run


@pytest.fixture
def ctrl_c_on_call(monkeypatch):
    """ctrl_c_on_call(module, name, n): module.name raises KeyboardInterrupt on its n-th call from
    now on, as Ctrl-C in the middle of a sweep would (arming it again restarts the count)."""
    originals = {}

    def arm(module, name: str, n: int) -> None:
        real = originals.setdefault((module.__name__, name), getattr(module, name))
        calls = {"n": 0}

        def interrupted(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == n:
                raise KeyboardInterrupt
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, interrupted)

    return arm
