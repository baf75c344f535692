"""`ntk kernel` and `ntk lmin`: the JSON contract, files, the floor, one-line errors, Ctrl-C."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import assert_one_line_error

SMALL = ("--hidden", "16,16", "--samples", "12", "--n0", "4")


@pytest.fixture(scope="module")
def kernel_json():
    from ntktui.cli import main
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["kernel", *SMALL, "--act", "tanh", "--sigma-b", "0.1", "--json"]) == 0
    return json.loads(buf.getvalue())


def test_kernel_json_contract(kernel_json):
    r = kernel_json
    for key in ("lambda_min", "lambda_max", "condition", "below_floor", "floor", "samples",
                "parameters", "dtype", "device", "timings"):
        assert key in r
    assert set(r["timings"]) >= {"compile_s", "compute_s"}
    assert r["samples"] == 12 and r["dtype"] == "float64" and r["widths"] == [4, 16, 16, 1]
    assert r["parameters"] == 4 * 16 + 16 + 16 * 16 + 16 + 16 + 1
    ev = np.array(r["eigenvalues"], dtype=float)
    assert ev.size == 12 and np.all(np.diff(ev) >= 0)
    assert r["lambda_min"] == ev[0] and r["lambda_max"] == ev[-1]
    assert r["condition"] == pytest.approx(ev[-1] / ev[0])
    assert r["floor"] == pytest.approx(12 * np.finfo(np.float64).eps * ev[-1])


def test_kernel_out_saves_the_matrix_the_numbers_come_from(ntk, tmp_path, kernel_json):
    out = tmp_path / "K.npy"
    r = ntk("kernel", *SMALL, "--act", "tanh", "--sigma-b", "0.1", "--out", str(out), "--json")
    assert r.code == 0
    K = np.load(out)
    assert K.shape == (12, 12) and np.allclose(K, K.T, rtol=0, atol=1e-13 * np.abs(K).max())
    assert np.linalg.eigvalsh(K)[0] == pytest.approx(kernel_json["lambda_min"], rel=1e-9)


def test_kernel_reads_data_files_and_reports_a_singular_kernel_below_the_floor(ntk, tmp_path):
    x = np.random.default_rng(0).standard_normal((8, 3))
    x[7] = x[2]  # a repeated input: K is exactly singular
    np.save(tmp_path / "x.npy", x)
    np.savetxt(tmp_path / "x.csv", x, delimiter=",")
    a = ntk("kernel", "--data", str(tmp_path / "x.npy"), "--hidden", "32", "--json")
    b = ntk("kernel", "--data", str(tmp_path / "x.csv"), "--hidden", "32", "--json")
    assert a.code == 0 and b.code == 0
    for r in (a.json(), b.json()):
        assert r["below_floor"] is True and r["lambda_min"] is None and r["condition"] is None
        assert r["eigenvalues"][0] is None and r["eigenvalues"][1] is not None
    text = ntk("kernel", "--data", str(tmp_path / "x.npy"), "--hidden", "32", "--plot-width", "60")
    assert text.code == 0 and "below floor" in text.out


def test_kernel_float32(ntk):
    r = ntk("kernel", *SMALL, "--dtype", "float32", "--json").json()
    assert r["dtype"] == "float32"
    assert r["floor"] == pytest.approx(12 * np.finfo(np.float32).eps * r["lambda_max"], rel=1e-6)


TINY = ("--samples", "4", "--n0", "2")


@pytest.mark.parametrize("args, message", [
    (("--act", "heaviside", *TINY), "no NTK"),
    (("--hidden", "16,0", *TINY), "positive"),
    (("--hidden", "8M", *TINY), "widths"),
    (("--param", "mup", *TINY), "--param"),
    (("--sigma-w", "0", *TINY), "--sigma-w"),
    (("--data", "/nonexistent.npy"), "no such file"),
    (("--data", "x.npy", "--samples", "3"), "not both"),
    (("--dtype", "float16", *TINY), "dtype"),
    (("--out", "K.txt", *TINY), ".npy"),
])
def test_kernel_bad_input_is_one_line(ntk, args, message):
    r = ntk("kernel", *args)
    assert r.code == 2 and message in r.err and len(r.err.strip().splitlines()) == 1


def test_kernel_over_memory_budget_is_one_line_with_a_chunk_that_fits(ntk, monkeypatch):
    monkeypatch.setenv("NTK_MEMORY_BUDGET", "3000000")
    r = ntk("kernel", "--hidden", "20000", "--samples", "60", "--n0", "3", "--chunk", "20000")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1
    assert "would need" in r.err and "--chunk" in r.err


# --- lmin -----------------------------------------------------------------------------------

LMIN = ("lmin", "--samples", "6,12,24", "--n0", "20")


@pytest.fixture(scope="module")
def lmin_json():
    import contextlib
    import io

    from ntktui.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main([*LMIN, "--json"]) == 0
    return json.loads(buf.getvalue())


def test_lmin_json_contract_and_exponent(lmin_json):
    from engine.ntk import growth_exponent

    r = lmin_json
    assert r["interrupted"] is False and [x["activation"] for x in r["results"]] == ["cos", "relu"]
    for row in r["results"]:
        assert row["samples"] == [6, 12, 24] and len(row["lambda_min"]) == 3
        assert row["below_floor"] == [False] * 3
        assert row["exponent"] == pytest.approx(growth_exponent(row["samples"], row["lambda_min"]))
        # the exponent is the log–log slope of the numbers shown
        slope = np.polyfit(np.log(row["samples"]), np.log(row["lambda_min"]), 1)[0]
        assert row["exponent"] == pytest.approx(slope)


def test_lmin_matches_kernel_for_the_same_network(ntk, lmin_json):
    """A row of the study is `ntk kernel` on the same network and data."""
    r = ntk("kernel", "--act", "cos", "--hidden", "8N,400", "--samples", "12", "--n0", "20",
            "--param", "unscaled", "--sigma-w", "0.05", "--json").json()
    assert r["lambda_min"] == pytest.approx(lmin_json["results"][0]["lambda_min"][1], rel=1e-12)


def test_lmin_table_and_plot(ntk):
    r = ntk(*LMIN, "--act", "relu", "--plot-width", "70")
    assert r.code == 0
    assert "λ_min growth" in r.out and "fitted exponent" in r.out and "relu" in r.out


def test_lmin_out_is_rewritten_per_row_and_ctrl_c_keeps_finished_rows(ntk, tmp_path,
                                                                    ctrl_c_on_call):
    import engine.ntk

    ctrl_c_on_call(engine.ntk, "empirical_kernel", 3)
    out = tmp_path / "growth.json"
    r = ntk(*LMIN, "--out", str(out))
    assert r.code == 130 and "interrupted" in r.err
    saved = json.loads(out.read_text())
    assert saved["interrupted"] is True
    done = {x["activation"]: x["samples"] for x in saved["results"]}
    assert done == {"cos": [6], "relu": [6]}  # the two finished rows, nothing half-written
    assert "interrupted" in r.out and "cos" in r.out


@pytest.mark.parametrize("args, message", [
    (("--samples", "6,x"), "--samples"),
    (("--act", "heaviside"), "no NTK"),
    (("--hidden", "8M"), "--hidden"),
    (("--out", "g.txt"), ".json"),
    # the sweeps' options
    (("--sweep", "width", "--wide", "3"), "--wide 3"),
    (("--sweep", "width", "--widths", "40"), "at least two --widths"),
    (("--sweep", "sideways"), "--sweep"),
    (("--dataset", "digits"), "--dataset"),
    (("--seeds", "0"), "--seeds"),
])
def test_lmin_bad_input_is_one_line(ntk, args, message):
    assert_one_line_error(ntk("lmin", "--samples", "4", "--n0", "3", *args), message)


# --- lmin: the width sweep, seeds and confidence intervals (issue 16) -------------------------

WIDTH_SWEEP = ("lmin", "--samples", "12", "--n0", "20", "--sweep", "width", "--widths",
               "40,80,160", "--seeds", "2", "--act", "cos", "--json")


def test_lmin_width_sweep_json_contract_and_intervals(ntk):
    from engine.ntk import growth_exponent

    r = ntk(*WIDTH_SWEEP).json()
    assert r["results"] == [] and r["setting"]["seeds"] == 2
    (w,) = r["width_results"]
    assert w["fixed_samples"] == 12 and w["widths"] == [40, 40, 80, 80, 160, 160]
    assert w["seed"] == [0, 1] * 3 and w["points"] == 6
    # the pooled exponent is the log–log slope of every point; each seed's is its own slope
    assert w["exponent"] == pytest.approx(growth_exponent(w["widths"], w["lambda_min"]))
    for k, e in zip((0, 1), w["seed_exponents"]):
        assert e == pytest.approx(growth_exponent(w["widths"][k::2], w["lambda_min"][k::2]))
    lo, hi = w["exponent_ci"]
    assert lo < w["exponent"] < hi
    # the interval is the t interval of the regression slope (scipy's linregress, independently)
    from scipy.stats import linregress, t

    fit = linregress(np.log(w["widths"]), np.log(w["lambda_min"]))
    assert hi - w["exponent"] == pytest.approx(t.ppf(0.975, 4) * fit.stderr, rel=1e-9)
    assert len(w["local_exponents"]) == 2


def test_lmin_width_row_is_the_kernel_of_that_network(ntk):
    """The wide layer (--wide 1) set to n_k at fixed N, seed 1: `ntk kernel` on that network."""
    r = ntk(*WIDTH_SWEEP).json()["width_results"][0]
    k = ntk("kernel", "--act", "cos", "--hidden", "80,400", "--samples", "12", "--n0", "20",
            "--param", "unscaled", "--sigma-w", "0.05", "--seed", "1", "--json").json()
    assert k["lambda_min"] == pytest.approx(r["lambda_min"][3], rel=1e-12)


def test_lmin_datasets_differ_and_have_unit_variance():
    from engine import data

    g, u = data.gaussian_points(2000, 50, 3), data.uniform_points(2000, 50, 3)
    assert abs(g.var() - 1) < 0.02 and abs(u.var() - 1) < 0.02 and np.abs(u).max() <= 3**0.5
    assert np.linalg.norm(g, axis=1).std() > 0.3  # norms spread (the sphere: all √50)


def test_lmin_width_sweep_memory_is_checked_before_the_first_row(ntk, monkeypatch):
    # a small first width and an impossible last one: refused before anything is computed
    import engine.ntk

    calls = []
    monkeypatch.setattr(engine.ntk, "empirical_kernel", lambda *a, **k: calls.append(a))
    r = ntk("lmin", "--samples", "4", "--n0", "3", "--sweep", "width", "--widths", "8,10000000",
            "--fixed-n", "40000")
    assert r.code == 2 and "would need" in r.err and calls == []
