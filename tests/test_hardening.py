"""Bad input never falls over (issue 11): every analysis refuses a request far beyond the machine
before allocating, in one line; files that are not what they should be, overflowing activations,
output targets, pipes and the JSON every command prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import assert_one_line_error

from ntktui import studies

# One request per analysis that no machine can hold; each must be refused by its memory estimate
# before anything is made (tiny N and the other sizes at their defaults otherwise).
FAR_BEYOND = {
    "spectrum": ("--width", "10000000"),
    "components": ("--2d", "--side", "100000"),
    "mask": ("--width", "10000000"),
    "iterations": ("--width", "10000000"),
    "reconstruct": ("--width", "100000000"),
    "spline": ("--size", "1000000"),
    "kernel": ("--samples", "1000", "--hidden", "100000000"),
    "lmin": ("--samples", "10,20,100000", "--n0", "10"),
    "lipschitz": ("--samples", "10000000", "--widths", "64"),
    "memorize": ("--samples", "1000000"),
    "condition": ("--samples", "200000", "--n0", "10"),
    "eoc": ("--samples", "200000", "--n0", "10"),
    "separation": ("--n0", "10000000000"),
    "train": ("--side", "4096"),
}


def test_every_analysis_has_a_request_far_beyond_the_machine():
    assert set(FAR_BEYOND) == set(studies.names())


def never_analysed(monkeypatch, name: str, calls: list) -> None:
    """The registry's study `name`, with an analyse() that records any call (none may come)."""
    from dataclasses import replace

    study = studies.get(name)
    monkeypatch.setitem(studies._registry(), name,
                        replace(study, analyse=lambda *a, **k: calls.append(a)))


@pytest.mark.parametrize("name", sorted(FAR_BEYOND))
def test_a_request_far_beyond_the_machine_is_refused_before_any_work(ntk, name, monkeypatch):
    calls = []
    never_analysed(monkeypatch, name, calls)
    r = ntk(name, *FAR_BEYOND[name])
    assert_one_line_error(r, "would need", "available")
    assert calls == []


def test_the_kernel_infinite_order_and_the_memory_budget(ntk, monkeypatch):
    assert_one_line_error(ntk("kernel", "--infinite", "--act", "tanh", "--order", "100000"),
                          "--order must be in [2, 1000]")
    for budget, message in (("abc", "is not a size"), ("-5", "is not a size"),
                            ("4 parsecs", "is not a size"), ("0", "at least 1 byte")):
        monkeypatch.setenv("NTK_MEMORY_BUDGET", budget)
        assert_one_line_error(ntk("spectrum", "--width", "8"), "NTK_MEMORY_BUDGET", message)
    monkeypatch.setenv("NTK_MEMORY_BUDGET", "1MiB")  # 8 copies of 256² floats need 2 MiB
    assert_one_line_error(ntk("spectrum", "--width", "256", "--act", "relu"), "would need",
                          "1.0 MiB")
    monkeypatch.setenv("NTK_MEMORY_BUDGET", "4GiB")
    assert ntk("spectrum", "--width", "8", "--act", "relu", "--json").code == 0


@pytest.mark.parametrize("args, message", [
    (("spectrum", "--seed", "1"), "No such option"),
    (("kernel", "--seed", "-1"), "--seed must be"),
    (("kernel", "--seed", "99999999999999999999999"), "--seed must be"),
    (("mask", "--act", "relu", "--act", "tanh"), "given 2 times"),
    (("spectrum", "--plot-width", "-3"), "--plot-width must be in [20, 1000]"),
    (("spectrum", "--width", "3", "--width", "4"), "given 2 times"),
    (("condition", "--depth", "1:100000000"), "--depth must be in [1, 1000]"),
    (("lmin", "--samples", "1:200000"), "more than 100,000 values"),
    (("kernel", "--dtype", "float16"), "one of float64, float32"),
    (("separation", "--angles", "0,5"), "in (0, 180]"),
    (("kernel", "--infinite", "--param", "standard"), "ntk parameterisation"),
    (("kernel", "--data", "x.npy", "--samples", "3"), "not both"),
])
def test_values_are_refused_where_they_are_declared(ntk, args, message):
    assert_one_line_error(ntk(*args), message)


@pytest.fixture
def bad_files(tmp_path):
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "header.csv").write_text("x,y\n1,2\n3,4\n")
    (tmp_path / "complex.csv").write_text("1+2j,3\n4,5\n")
    (tmp_path / "ragged.csv").write_text("1,2\n3\n")
    np.save(tmp_path / "complex.npy", np.ones((4, 3)) + 1j)
    np.save(tmp_path / "rank3.npy", np.ones((2, 2, 2)))
    np.save(tmp_path / "one_d.npy", np.arange(5.0))
    np.save(tmp_path / "nan.npy", np.array([[1.0, np.nan], [2.0, 3.0]]))
    np.save(tmp_path / "strings.npy", np.array(["a", "b"]))
    (tmp_path / "fake.png").write_text("not an image")
    (tmp_path / "folder").mkdir()
    return tmp_path


@pytest.mark.parametrize("option, name, message", [
    ("--data", "empty.npy", "is empty"),
    ("--data", "header.csv", "line 1: 'x' is not a real number (a header?"),
    ("--data", "complex.csv", "line 1: complex numbers is not a real number"),
    ("--data", "ragged.csv", "rows have different numbers of values"),
    ("--data", "complex.npy", "holds complex numbers"),
    ("--data", "rank3.npy", "N × n0 matrix, got shape (2, 2, 2)"),
    ("--data", "one_d.npy", "holds a 1-D array of 5 numbers"),
    ("--data", "nan.npy", "non-finite values"),
    ("--data", "strings.npy", "not numbers"),
    ("--data", "folder", "is a directory"),
    ("--data", "absent.npy", "no such file"),
])
def test_data_files_that_are_not_a_matrix_of_real_numbers(ntk, bad_files, option, name, message):
    r = ntk("kernel", option, str(bad_files / name), "--hidden", "8")
    assert_one_line_error(r, message)


@pytest.mark.parametrize("option, name, message", [
    ("--signal", "complex.npy", "holds complex numbers"),
    ("--signal", "rank3.npy", "must hold a 1-D array"),
    ("--signal", "folder", "is a directory"),
    ("--image", "fake.png", "is not an image"),
    ("--image", "folder", "is a directory"),
    ("--image", "empty.npy", "is empty"),
])
def test_signal_and_image_files(ntk, bad_files, option, name, message):
    assert_one_line_error(ntk("reconstruct", option, str(bad_files / name), "--k", "4"), message)


@pytest.mark.parametrize("args", [
    ("spectrum", "--act", "relu1000", "--width", "16"),
    ("spectrum", "--act", "relu2", "--scale", "1e200", "--width", "16"),
    ("components", "--act", "relu1000", "--width", "16"),
    ("kernel", "--act", "relu1000", "--samples", "6", "--n0", "3", "--hidden", "8"),
    ("lipschitz", "--act", "relu1000", "--samples", "6", "--n0", "3", "--widths", "8"),
    ("separation", "--act", "relu1000", "--depth", "1:2"),
])
def test_an_overflow_is_one_line_and_never_reaches_lapack(ntk, args):
    """LAPACK writes its complaint about inf/NaN input to stdout; nothing reaches it."""
    assert_one_line_error(ntk(*args), "overflowed (inf or nan entries)")


def test_a_vanishing_jacobian_is_refused(ntk):
    assert_one_line_error(ntk("spectrum", "--act", "relu", "--scale", "0", "--width", "16"),
                          "vanishes (σ₁ = 0")


def test_output_targets_are_checked_before_any_work_and_leave_nothing(ntk, tmp_path,
                                                                     monkeypatch):
    monkeypatch.chdir(tmp_path)
    calls = []
    with monkeypatch.context() as m:
        never_analysed(m, "kernel", calls)
        assert_one_line_error(ntk("kernel", "--out", str(tmp_path / "missing" / "K.npy")),
                              "the folder", "does not exist")
        assert_one_line_error(ntk("kernel", "--out", "K.txt"), ".npy")
    assert calls == []
    # a run that fails (here: its kernel overflows) leaves no file and no folder
    for args in (("kernel", "--act", "relu1000", "--samples", "5", "--hidden", "8", "--out",
                  "K.npy"),
                 ("run", "seed003-fig3", "--quick", "--out", "deep/er/run")):
        before = sorted(os.listdir(tmp_path))
        if args[0] == "run":
            monkeypatch.setenv("NTK_MEMORY_BUDGET", "1KiB")
        r = ntk(*args)
        monkeypatch.delenv("NTK_MEMORY_BUDGET", raising=False)
        assert r.code == 2 and sorted(os.listdir(tmp_path)) == before, (r.err, os.listdir(tmp_path))


def test_the_kernel_matrix_is_saved_whole(ntk, tmp_path):
    path = tmp_path / "K.npy"
    r = ntk("kernel", "--samples", "6", "--n0", "3", "--hidden", "8", "--out", str(path), "--json")
    assert r.code == 0, r.err
    K = np.load(path)
    assert K.shape == (6, 6) and np.allclose(K, K.T)
    assert np.linalg.eigvalsh(K)[-1] == pytest.approx(r.json()["lambda_max"], rel=1e-10)
    assert [p.name for p in tmp_path.iterdir()] == ["K.npy"]  # no temporary file left


def test_every_analysis_json_has_the_interrupted_key_and_its_provenance(ntk_json):
    import jax

    data = ntk_json("spectrum", "--act", "relu", "--width", "8")
    assert data["interrupted"] is False
    p = data["provenance"]
    assert p["jax"] == jax.__version__ and p["backend"] == jax.default_backend()
    assert p["command"] == "ntk spectrum --act relu --width 8 --json"
    assert p["time"].endswith("+00:00") and p["ntk"]
    assert len(p["devices"]) == len(jax.devices())


def test_without_a_terminal_tui_is_one_line_and_progress_respects_quiet():
    done = subprocess.run([sys.executable, "-m", "ntktui", "tui"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "needs a terminal" in done.stderr
    quiet = subprocess.run([sys.executable, "-m", "ntktui", "spectrum", "--act", "relu",
                            "--width", "8", "--quiet", "--json"], capture_output=True, text=True,
                           timeout=120)
    assert quiet.returncode == 0 and quiet.stderr == "" and json.loads(quiet.stdout)


def test_tables_split_their_columns_instead_of_cutting_numbers():
    from ntktui.output import show, table

    import io

    from rich.console import Console

    numbers = [1378297.0, 0.000123456, 98765.4321, 123456789, 5.5e-12, 31415.9265, 27182.8183]
    tables = table("wide", ["row", *(f"column {i}" for i in range(len(numbers)))],
                   [("first", *numbers), ("second", *numbers)], width=80)
    assert len(tables) > 1
    buf = io.StringIO()
    show(*tables, console=Console(file=buf, width=80, color_system=None))
    text = buf.getvalue()
    assert "…" not in text and all(len(line) <= 80 for line in text.splitlines())
    from ntktui.output import fmt

    for v in numbers:
        assert fmt(v) in text
    assert text.count("second") == len(tables)  # the first column stays in view


def test_python_warnings_become_one_ntk_line(capsys):
    import warnings

    from ntktui.cli import _warning_line

    warnings.showwarning, old = _warning_line, warnings.showwarning
    try:
        warnings.warn("something odd\nacross lines", RuntimeWarning)
    finally:
        warnings.showwarning = old
    err = capsys.readouterr().err
    assert err == "ntk: warning: something odd across lines\n"
