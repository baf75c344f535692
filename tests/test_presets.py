"""Presets (issue 5): every bundled preset is valid for its command (checked statically, without
running it); `ntk run` gives the numbers of the command typed out; malformed presets give one-line
errors naming the file, the key and the line; `ntk presets`; a user's own file; --out."""

from __future__ import annotations

import json

import pytest
import typer

from ntktui import presets
from ntktui.errors import UserError

REQUIRED = [
    "seed003-fig2", "seed003-fig3", "seed003-fig4", "seed003-fig5", "seed003-fig6a",
    "seed003-fig6b", "seed003-fig7", "seed003-fig8", "seed003-fig9",
    "seed000-fig1", "seed000-fig2", "seed000-fig3-4", "seed000-memorize",
    "seed001-kappa-depth", "seed002-conditioning", "seed002-separation",
]
NAMES = presets.bundled_names()

HEAD = 'title = "t"\ndescription = "d"\npaper = "p"\ncommand = "spectrum"\n'


def without_timings(obj):
    """The payload less what differs between two identical runs (wall-clock timings, and the
    provenance: its command line and time)."""
    if isinstance(obj, dict):
        return {k: without_timings(v) for k, v in obj.items()
                if k not in ("timings", "provenance") and not k.endswith("_s")}
    if isinstance(obj, list):
        return [without_timings(v) for v in obj]
    return obj


def cli_values(argv: list[str]) -> dict:
    """What typing `ntk ARGV` hands to the analysis: the real CLI's parser, then the study's."""
    from ntktui import studies
    from ntktui.cli import app

    command = typer.main.get_command(app).commands[argv[0]]
    params = command.make_context(argv[0], list(argv[1:])).params
    given = {k: v for k, v in params.items() if k not in ("json", "plot_width")}
    return studies.get(argv[0]).from_texts(given)


# --- every bundled preset, statically -----------------------------------------------------------

def test_the_paper_figures_are_all_there():
    assert set(REQUIRED) <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_bundled_preset_is_valid_for_its_command(name):
    from ntktui import studies

    p = presets.load(name)
    assert p.name == name and p.bundled
    assert p.title and p.paper.startswith("seed 00") and p.description
    assert "\n" not in p.description and len(p.description) > 80  # one paragraph
    assert p.command in studies.names()
    names = {q.name for q in p.study.params}
    assert set(p.params) <= names and set(p.quick) <= names
    assert p.params, "a figure preset states its parameters"
    for quick in (False, True):
        args = p.arguments(quick=quick)
        assert set(args) == names
        # The preset's arguments are exactly what the CLI parser makes of the command typed out.
        assert cli_values(p.argv(quick=quick)) == args


def test_quick_overrides_shrink_and_keep_the_rest():
    p = presets.load("seed003-fig3")
    full, quick = p.arguments(), p.arguments(quick=True)
    assert quick["width"] < full["width"]
    assert quick["act"] == full["act"] == ("heaviside", "tanh", "relu", "relu2", "gelu", "silu",
                                           "sinc", "gaussian")


def test_arguments_fill_in_the_declared_defaults():
    """Parameters a preset does not set get their declared default (spline: size 64, columns
    8,24,40); integers in TOML and text read the same."""
    args = presets.load("seed003-fig7").arguments()
    assert args["order"] == (1, 2, 3)
    args = presets.Preset("x", "t", "d", "p", "spline", {"order": [2]}).arguments()
    assert args["order"] == (2,) and args["size"] == 64 and args["columns"] == (8, 24, 40)


def test_values_are_read_by_the_declared_params():
    from ntktui import studies

    def accept(command, name, value):
        return studies.get(command).param(name).accept(value)

    assert accept("reconstruct", "act", "relu") == ("relu",)
    assert accept("reconstruct", "k", [4, 8, 16]) == (4, 8, 16)
    assert accept("reconstruct", "k", "4,8") == accept("reconstruct", "k", "4:8:4") == (4, 8)
    assert accept("spectrum", "scale", 8) == 8.0
    assert accept("lipschitz", "n0", 200) == (200,)
    assert accept("lmin", "hidden", "8N,400") == "8N,400"
    assert accept("separation", "angles", [1, 5]) == (1.0, 5.0)
    with pytest.raises(UserError, match="--width expected an integer, got 2.5"):
        accept("spectrum", "width", 2.5)
    with pytest.raises(UserError, match="--2d expected true or false"):
        accept("components", "two_d", 1)
    with pytest.raises(UserError, match="--width must be positive, got -5"):
        accept("spectrum", "width", -5)
    with pytest.raises(UserError, match="--param must be one of ntk, standard, unscaled"):
        accept("kernel", "param", "mup")
    with pytest.raises(UserError, match="--hidden must be widths"):
        accept("kernel", "hidden", "8M")


def test_presets_json_lists_them_all(ntk):
    res = ntk("presets", "--json")
    assert res.code == 0, res.err
    assert res.out.count("\n") == 1
    items = res.json()["presets"]
    assert [i["name"] for i in items] == NAMES
    for i in items:
        assert {"name", "title", "description", "paper", "command", "params", "quick"} <= set(i)
    fig3 = next(i for i in items if i["name"] == "seed003-fig3")
    assert fig3["command"] == "spectrum" and fig3["params"]["width"] == 256
    assert fig3["quick"] == {"width": 64}


def test_presets_table_and_one_preset(ntk):
    res = ntk("presets")
    assert res.code == 0, res.err
    for name in REQUIRED:
        assert name in res.out
    res = ntk("presets", "seed002-separation")
    assert res.code == 0, res.err
    assert "ntk separation --act relu --act linear" in res.out


# --- ntk run gives the command's own numbers ------------------------------------------------------

@pytest.mark.parametrize("name, typed", [
    ("seed003-fig3", ["spectrum", "-a", "heaviside", "-a", "tanh", "-a", "relu", "-a", "relu2",
                      "-a", "gelu", "-a", "silu", "-a", "sinc", "-a", "gaussian",
                      "--width", "64", "--scale", "32"]),
    ("seed000-fig1", ["lmin", "--act", "cos", "--act", "relu", "--samples", "10,20,40",
                      "--hidden", "8N,100", "--n0", "100", "--param", "unscaled",
                      "--sigma-w", "0.1"]),
    ("seed002-separation", ["separation", "--act", "relu", "--act", "linear", "--depth", "1:10",
                            "--angles", "1,5,10,30"]),
])
def test_run_quick_json_equals_the_command_typed_out(ntk, name, typed):
    ran = ntk("run", name, "--quick", "--json")
    assert ran.code == 0, ran.err
    assert ran.out.count("\n") == 1  # exactly one JSON object
    direct = ntk(*typed, "--json")
    assert direct.code == 0, direct.err
    assert without_timings(ran.json()) == without_timings(direct.json())


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_users_own_preset_file_runs(ntk, tmp_path):
    path = write(tmp_path, "mine.toml", HEAD + '[params]\nact = ["relu", "sinc"]\nwidth = 12\n'
                 'scale = 4\n[quick]\nwidth = 8\n')
    ran = ntk("run", str(path), "--json")
    assert ran.code == 0, ran.err
    direct = ntk("spectrum", "--act", "relu", "--act", "sinc", "--width", "12", "--scale", "4",
                 "--json")
    assert without_timings(ran.json()) == without_timings(direct.json())
    assert ntk("run", str(path), "--quick", "--json").json()["width"] == 8
    listed = ntk("presets", str(path), "--json").json()["presets"]
    assert [p["name"] for p in listed] == ["mine"]


def test_run_human_output_is_the_commands(ntk, tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    path = write(tmp_path, "tiny.toml", HEAD + '[params]\nact = "heaviside"\nwidth = 8\n')
    ran = ntk("run", str(path), "--plot-width", "60")
    direct = ntk("spectrum", "--act", "heaviside", "--width", "8", "--plot-width", "60")
    assert ran.code == direct.code == 0
    assert ran.out == direct.out and "Spectrum" in ran.out


def test_out_dir_saves_json_arrays_plot_text_and_the_preset(ntk, tmp_path):
    import numpy as np

    path = write(tmp_path, "tiny.toml", HEAD + '[params]\nact = ["relu", "tanh"]\nwidth = 10\n'
                 '[quick]\nwidth = 6\n')
    out = tmp_path / "saved" / "run1"
    ran = ntk("run", str(path), "--quick", "--out", str(out), "--plot-width", "60")
    assert ran.code == 0, ran.err
    assert sorted(f.name for f in out.iterdir()) == ["arrays.npz", "figure.png", "figure.svg",
                                                    "plot.txt", "preset.toml", "result.json"]
    result = json.loads((out / "result.json").read_text())
    assert result["width"] == 6 and [r["activation"] for r in result["results"]] == ["relu", "tanh"]
    plot = (out / "plot.txt").read_text()
    assert plot == ran.out  # the terminal shows the text that is saved
    assert "\x1b[" not in plot and "Normalised singular values" in plot and "Spectrum" in plot
    arrays = np.load(out / "arrays.npz")
    sv = arrays["results.0.singular_values"]
    expected = np.array([np.nan if v is None else v for v in result["results"][0]["singular_values"]])
    np.testing.assert_array_equal(sv, expected)
    copy = presets.load(str(out / "preset.toml"))
    assert dict(copy.params) == dict(presets.load(str(path)).params)
    assert "--quick" in (out / "preset.toml").read_text().splitlines()[0]
    # With --json the JSON goes to stdout as well, one object, the same numbers.
    again = ntk("run", str(path), "--quick", "--json", "--out", str(out.parent / "run2"))
    assert again.code == 0 and again.out.count("\n") == 1
    assert without_timings(again.json()) == without_timings(result)
    # An earlier run is never overwritten: the same folder again is refused, untouched.
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    refused = ntk("run", str(path), "--quick", "--out", str(out))
    assert refused.code == 2 and "never overwrites" in refused.err and refused.out == ""
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_out_refuses_a_file(ntk, tmp_path):
    path = write(tmp_path, "tiny.toml", HEAD + '[params]\nwidth = 4\n')
    blocker = write(tmp_path, "file", "x")
    res = ntk("run", str(path), "--out", str(blocker))
    assert res.code == 2 and res.err.startswith("ntk: error:") and res.err.count("\n") == 1


# --- malformed presets: one line naming the file, the key and the line -----------------------------

@pytest.mark.parametrize("text, key, line, phrase", [
    (HEAD + "[params]\nwidth = 25 6\n", "width", 6, "TOML syntax error"),
    (HEAD + 'titel = "x"\n[params]\nwidth = 8\n', "titel", 5, "did you mean title"),
    (HEAD + "[params]\nact = [\"relu\"]\nwidht = 8\n", "params.widht", 7, "did you mean width"),
    (HEAD + "[params]\nwidth = \"wide\"\n", "params.width", 6, "--width must be an integer"),
    (HEAD + "[params]\nwidth = -5\n", "params.width", 6, "--width must be positive"),
    (HEAD + "[params]\ndtype = \"float16\"\n", "params.dtype", 6, "one of float64, float32"),
    (HEAD.replace("spectrum", "spectrom") + "[params]\nwidth = 8\n", "command", 4,
     "did you mean spectrum"),
    (HEAD + "[params]\nwidth = 8\n\n[quick]\nsigma-w = 2\n", "quick.sigma-w", 9,
     "not an option of ntk spectrum"),
    (HEAD + "[params]\njson = true\n", "params.json", 6, "ntk run --json"),
    ('title = 3\ndescription = "d"\npaper = "p"\ncommand = "mask"\n', "title", 1,
     "expected a string"),
    (HEAD + "params = 3\n", "params", 5, "expected a table"),
])
def test_malformed_preset_is_one_line_naming_file_key_and_line(ntk, tmp_path, text, key, line,
                                                                 phrase):
    path = write(tmp_path, "broken.toml", text)
    res = ntk("run", str(path))
    assert res.code == 2, res.out
    assert res.err.startswith("ntk: error:") and res.err.count("\n") == 1, res.err
    assert str(path) in res.err and f"line {line}" in res.err and f"key {key}" in res.err, res.err
    assert phrase in res.err, res.err
    with pytest.raises(UserError):
        presets.load(str(path))


def test_missing_keys_and_unknown_names(ntk, tmp_path):
    path = write(tmp_path, "short.toml", 'title = "t"\n[params]\nwidth = 8\n')
    res = ntk("run", str(path))
    assert res.code == 2 and "missing keys description, paper, command" in res.err
    res = ntk("run", "seed003-fig33")
    assert res.code == 2 and "did you mean seed003-fig3" in res.err and res.err.count("\n") == 1
    res = ntk("run", str(tmp_path / "absent.toml"))
    assert res.code == 2 and "no preset file" in res.err


def test_a_value_the_command_refuses_is_traced_to_its_line(ntk, tmp_path):
    path = write(tmp_path, "badact.toml", HEAD + '[params]\nwidth = 8\nact = ["relu", "relux"]\n')
    res = ntk("run", str(path))
    assert res.code == 2 and res.err.count("\n") == 1, res.err
    assert "unknown activation 'relux'" in res.err
    assert str(path) in res.err and "line 7" in res.err and "key params.act" in res.err


def test_saved_arrays_keep_whole_numbers_beyond_int64_as_floats():
    import numpy as np

    from ntktui.export import collect_arrays

    arrays = collect_arrays({"steps": [1, 2, None], "iterations": [1, 4 * 10**25]})
    assert arrays["steps"].dtype == np.float64 and np.isnan(arrays["steps"][2])
    assert arrays["iterations"].dtype == np.float64 and arrays["iterations"][1] == 4e25
    assert collect_arrays({"k": [1, 2, 3]})["k"].dtype == np.int64


def test_out_dir_on_ctrl_c_saves_the_finished_rows_marked_interrupted(ntk, tmp_path,
                                                                     ctrl_c_on_call):
    import engine.ntk

    ctrl_c_on_call(engine.ntk, "empirical_kernel", 3)
    path = write(tmp_path, "growth.toml", HEAD.replace('"spectrum"', '"lmin"') +
                 '[params]\nact = ["cos", "relu"]\nsamples = "6,12"\nhidden = "4N,16"\nn0 = 8\n')
    out = tmp_path / "saved"
    r = ntk("run", str(path), "--out", str(out))
    assert r.code == 130 and "interrupted" in r.err
    saved = json.loads((out / "result.json").read_text())
    assert saved["interrupted"] is True
    assert {x["activation"]: x["samples"] for x in saved["results"]} == {"cos": [6], "relu": [6]}
    assert "interrupted: the rows above" in (out / "plot.txt").read_text()
