"""Shared fixtures. JAX compile time dominates small tests: keep sizes small and shared."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest


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
