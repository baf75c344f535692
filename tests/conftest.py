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
