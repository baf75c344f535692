"""The CLI's contract: fast help without JAX, one JSON object, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
from ntktui.cli import main
code = main({argv!r})
heavy = sorted(m for m in ('jax', 'textual', 'engine.shallow') if m in sys.modules)
print('HEAVY=' + ','.join(heavy), file=sys.stderr)
sys.exit(code)
"""


HELP_PROBE = """
import contextlib, io, sys
import typer
from ntktui.cli import app, main
names = sorted(typer.main.get_command(app).commands)
for argv in [["--help"], *[[n, "--help"] for n in names], ["presets"], ["presets", "--json"]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0, argv
    assert out.getvalue().strip(), argv
heavy = sorted(m for m in ("jax", "numpy", "textual", "sklearn", "skimage") if m in sys.modules)
print(",".join(names) + " HEAVY=" + ",".join(heavy))
"""


def test_help_of_every_command_and_the_preset_list_import_nothing_heavy():
    """`ntk --help`, every `ntk COMMAND --help` and `ntk presets` answer at once: they import
    neither JAX nor numpy, Textual, scikit-learn or scikit-image."""
    done = subprocess.run([sys.executable, "-c", HELP_PROBE], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    names, heavy = done.stdout.strip().split(" HEAVY=")
    assert heavy == ""
    assert {"spectrum", "kernel", "lmin", "condition", "run", "presets"} <= set(names.split(","))


def test_spectrum_never_imports_textual():
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=["spectrum", "--act", "relu", "--width", "8", "--json"])],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "textual" not in done.stderr.split("HEAVY=")[1]


def test_spectrum_json_is_one_object_with_its_arrays(ntk):
    res = ntk("spectrum", "--act", "sinc", "--act", "relu", "--width", "32", "--scale", "8", "--json")
    assert res.code == 0, res.err
    assert res.out.count("\n") == 1
    data = res.json()
    assert data["samples"] == data["width"] == 32
    assert [r["activation"] for r in data["results"]] == ["sinc", "relu"]
    for r in data["results"]:
        assert len(r["singular_values"]) == len(r["normalized"]) == 32
        assert r["normalized"][0] == 1.0
        assert r["scale"] == 8.0
    assert set(data["timings"]) == {"import_s", "compile_s", "compute_s"}


def test_spectrum_json_hides_values_below_the_floor(ntk):
    # relu3's spectrum at N = 64 falls below float32's round-off floor
    data = ntk("spectrum", "--act", "relu3", "--width", "64", "--dtype", "float32", "--json").json()
    r = data["results"][0]
    assert r["below_floor"] > 0
    assert r["normalized"].count(None) == r["below_floor"]
    assert all(v is None or v * r["singular_values"][0] > r["floor"] for v in r["normalized"])


def test_spectrum_human_output_has_plot_and_table(ntk):
    res = ntk("spectrum", "--act", "heaviside", "--width", "16", "--plot-width", "60")
    assert res.code == 0, res.err
    assert "σ_k/σ₁" in res.out and "heaviside" in res.out and "Spectrum" in res.out


def test_through_typer_runner():
    from typer.testing import CliRunner

    from ntktui.cli import app

    result = CliRunner().invoke(app, ["spectrum", "--act", "tanh", "--width", "8", "--json"])
    assert result.exit_code == 0
    assert '"activation": "tanh"' in result.stdout


@pytest.mark.parametrize("argv, needle", [
    (["spectrum", "--act", "nope"], "valid names: heaviside"),
    (["spectrum", "--width", "0"], "must be positive"),
    (["spectrum", "--samples", "-3"], "must be positive"),
    (["spectrum", "--scale", "inf"], "finite"),
    (["spectrum", "--scale", "nan"], "finite"),
    (["spectrum", "--width", "abc"], "--width"),
    (["spectrum", "--dtype", "float16"], "dtype"),
    (["spectrum", "--width", "2000000"], "would need"),
    (["no-such-command"], "No such command"),
    (["tui", "no-such-preset"], "no preset named 'no-such-preset'"),
    (["tui", "missing.toml"], "missing.toml"),
])
def test_bad_input_is_one_line_exit_2(ntk, argv, needle):
    res = ntk(*argv)
    assert res.code == 2
    assert res.out == ""
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ntk: error:")
    assert needle in lines[0]


def test_ctrl_c_is_exit_130_with_one_line(ntk, monkeypatch):
    import engine.shallow

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine.shallow, "spectrum", interrupted)
    res = ntk("spectrum", "--width", "8")
    assert res.code == 130
    assert res.err.strip() == "ntk: interrupted"


def test_huge_pages_environ(monkeypatch):
    """The environment `ntk` starts itself again in: glibc's tunable added once to the others,
    on Linux only."""
    from engine.backend import HUGE_PAGES, huge_pages_environ

    monkeypatch.setattr(sys, "platform", "linux")
    env = huge_pages_environ({"HOME": "/h"})
    assert env == {"HOME": "/h", "GLIBC_TUNABLES": HUGE_PAGES}
    assert huge_pages_environ(env) is None
    other = huge_pages_environ({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})
    assert other["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:" + HUGE_PAGES
    monkeypatch.setattr(sys, "platform", "darwin")
    assert huge_pages_environ({}) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's tunable")
def test_ntk_starts_itself_again_with_huge_pages():
    """The relaunch keeps the command line and the rest of the environment, and happens once."""
    from engine.backend import HUGE_PAGES

    code = ("import os, sys; from ntktui.start import with_huge_pages; print('start');"
            "with_huge_pages(); print(os.environ['GLIBC_TUNABLES'], os.environ['NTK_PROBE'],"
            "sys.argv[1:])")
    env = {k: v for k, v in __import__("os").environ.items() if k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", code, "a", "--b"], capture_output=True,
                         text=True, env={**env, "NTK_PROBE": "kept"}, check=True).stdout.split()
    assert out == ["start", "start", HUGE_PAGES, "kept", "['a',", "'--b']"]
