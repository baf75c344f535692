"""The studies layer (ntktui.studies, ntktui.params): one registry every front end iterates, one
parser and formatter of option values. An analysis added as one module appears in `ntk --help`,
as its own command, in `ntk run`, in the dashboard's browser, form and palette."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap

import pytest
from conftest import assert_one_line_error

from ntktui import studies
from ntktui.errors import UserError
from ntktui.params import FLOATS, INTS, NAMES, Param

# A toy analysis written as a user would add one: the Gram matrix of the first n integers' powers
# (a Hilbert-like matrix) has a closed-form trace, so its numbers are checkable.
TOY = '''
"""Toy analysis: eigenvalues of the n × n matrix A_ij = 1/(i + j − 1)."""

from ntktui.params import INT, Param
from ntktui.studies import Study


def analyse(progress, *, n):
    import numpy as np

    from ntktui.render import Plot, Series
    from ntktui.report import Report, Table

    progress.begin("eigenvalues", 1)
    i = np.arange(1, n + 1)
    ev = np.linalg.eigvalsh(1.0 / (i[:, None] + i[None, :] - 1))[::-1]
    progress.step()
    payload = {"n": n, "eigenvalues": ev.tolist(), "trace": float(ev.sum())}
    return Report(payload, [Plot("eigenvalues", "k", "λ", [Series("λ", list(i), ev)], log_y=True),
                            Table("toy", ["n", "trace"], [(n, payload["trace"])])])


STUDY = Study(name="toy", order=999, help=__doc__, analyse=analyse,
              params=(Param("n", INT, 5, help="Size n.", lo=1, hi=200),))
'''


@pytest.fixture
def toy_study(tmp_path, monkeypatch):
    """The toy module, dropped into the studies package's path and the registry reloaded."""
    (tmp_path / "toy.py").write_text(TOY, encoding="utf-8")
    monkeypatch.setattr(studies, "__path__", [*studies.__path__, str(tmp_path)])
    studies._registry.cache_clear()
    yield studies.get("toy")
    sys.modules.pop("ntktui.studies.toy", None)
    studies._registry.cache_clear()


def test_a_new_analysis_module_appears_in_every_front_end(toy_study, ntk):
    from ntktui.tui.app import NtkApp

    harmonic = sum(1 / (2 * k - 1) for k in range(1, 8))  # tr A = Σ 1/(2i − 1)
    assert "toy" in ntk("--help").out
    assert "--n" in ntk("toy", "--help").out
    direct = ntk("toy", "--n", "7", "--json")
    assert direct.code == 0, direct.err
    assert direct.json()["trace"] == pytest.approx(harmonic, rel=1e-12)
    via_run = ntk("run", "toy", "--json")
    assert via_run.code == 0 and via_run.json()["n"] == 5
    assert_one_line_error(ntk("toy", "--n", "0"), "--n must be in [1, 200], got 0")

    async def script():
        app = NtkApp()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            listed = app.screen.query_one("#presets")
            ids = [listed.get_option_at_index(i).id for i in range(listed.option_count)]
            hits = [h async for h in _palette_hits(app, "toy")]
            app.open_preset(app.screen.presets["analysis:toy"])
            await pilot.pause()
            while app.screen.status.state != "done":
                await pilot.pause(0.05)
            payload = app.screen.report.payload
            await pilot.press("e")
            await pilot.pause()
            field = app.screen.query_one("#field-n").value
            return ids, hits, payload, field

    ids, hits, payload, field = asyncio.run(script())
    assert "analysis:toy" in ids
    assert any("Open analysis toy" in h for h in hits)
    assert payload["trace"] == pytest.approx(sum(1 / (2 * k - 1) for k in range(1, 6)))
    assert field == "5"


async def _palette_hits(app, query):
    from ntktui.tui.palette import PresetCommands

    provider = PresetCommands(app.screen)
    async for hit in provider.search(query):
        yield str(hit.text or hit.match_display)


def test_no_analysis_imports_a_front_end_or_the_engine_at_import():
    code = ("import sys, ntktui.studies as s; s.all_studies(); "
            "print(json.dumps([m in sys.modules for m in ('textual', 'typer', 'jax', 'rich')]))")
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True,
                         text=True, check=True).stdout
    assert json.loads(out) == [False, False, False, False]


@pytest.mark.parametrize("name", studies.names())
def test_every_declared_default_is_a_value_its_param_accepts(name):
    """Defaults are data too: each reads back through its own Param, and formatting a default
    and parsing the text gives it back (the form and the command line agree)."""
    study = studies.get(name)
    for p in study.params:
        if p.default is None:
            continue
        assert p.accept(p.default) == p.default, p.name
        assert p.parse(p.format(p.default)) == p.default, p.name
        assert p.help, p.name


def test_list_values_parse_format_and_parse_back():
    ints = Param("k", INTS, (1,), lo=1)
    assert ints.parse("4,8,16") == (4, 8, 16)
    assert ints.parse("1:30") == tuple(range(1, 31)) and ints.format(tuple(range(1, 31))) == "1:30"
    assert ints.parse("1:9:4,20") == (1, 5, 9, 20)
    assert ints.format((1, 2, 3)) == "1,2,3"
    names = Param("act", NAMES, ("relu",))
    assert names.parse("relu, abrelu(0.2,1),tanh") == ("relu", "abrelu(0.2,1)", "tanh")
    assert names.argv(("relu", "abrelu(0.2,1)")) == ["--act", "relu", "--act", "abrelu(0.2,1)"]
    floats = Param("angles", FLOATS, (1.0,), lo=0, lo_open=True, hi=180)
    assert floats.parse("1,5.5") == (1.0, 5.5)
    for bad, words in (("0,5", "in (0, 180]"), ("x", "numbers"), ("", "is empty")):
        with pytest.raises(UserError, match=words.replace("(", r"\(").replace("[", r"\[")):
            floats.parse(bad)


def test_a_single_valued_option_given_twice_is_refused(ntk):
    assert_one_line_error(ntk("mask", "--act", "relu", "--act", "tanh"),
                          "--act is given 2 times ('relu', 'tanh')")


def test_a_form_error_names_its_field():
    study = studies.get("mask")
    with pytest.raises(UserError) as info:
        study.values({"eta": 2.5})
    assert info.value.field == "eta" and "unstable" in str(info.value)
    with pytest.raises(UserError) as info:
        study.values({"act": "relux"})
    assert info.value.field == "act"


def test_registry_order_and_names():
    names = studies.names()
    assert names[:3] == ("spectrum", "components", "mask")
    assert len(set(names)) == len(names) == len(studies.all_studies())
    with pytest.raises(UserError, match="did you mean spectrum"):
        studies.get("spectrun")
    assert textwrap.dedent(studies.get("kernel").summary).startswith("NTK of a deep MLP")
