"""`ntk kernel --infinite`, `ntk condition`, `ntk eoc`, `ntk separation`: JSON contracts, the
claims of seeds 001 and 002 on small instances, the digits data set, one-line errors."""

from __future__ import annotations

import contextlib
import io
import json
import math

import numpy as np
import pytest


def cli_json(*args: str) -> dict:
    from ntktui.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main([*args, "--json"]) == 0
    return json.loads(buf.getvalue())


# --- ntk kernel --infinite ---------------------------------------------------------------------

DATA = ("--samples", "12", "--n0", "4")


@pytest.fixture(scope="module")
def infinite_json():
    return cli_json("kernel", "--infinite", "--hidden", "16,16", *DATA, "--sigma-w", "1.3",
                    "--sigma-b", "0.1")


def test_infinite_kernel_has_the_empirical_json_keys(infinite_json):
    empirical = cli_json("kernel", "--hidden", "16,16", *DATA)
    r = infinite_json
    assert set(r) == set(empirical)
    assert r["infinite"] is True and empirical["infinite"] is False
    assert r["parameters"] is None  # infinitely many
    assert r["widths"] == [4, None, None, 1] and r["depth"] == 3 == empirical["depth"]
    assert r["dtype"] == "float64" and r["param"] == "ntk" and r["method"] == "closed form"
    assert r["quadrature_error"] is None
    assert set(r["timings"]) == {"compile_s", "kernel_s", "spectrum_s", "compute_s"}


def test_infinite_kernel_numbers_are_the_engines(infinite_json):
    from engine import activations, infinite as inf
    from engine.data import sphere_points

    r = infinite_json
    x = sphere_points(12, 4, 0)
    K = inf.kernels(x, activations.get("relu"), 3, sigma_w2=1.3**2, sigma_b2=0.1**2).ntk
    ev = np.linalg.eigvalsh(np.asarray(K))
    np.testing.assert_allclose(r["eigenvalues"], ev, rtol=1e-10)
    assert r["lambda_min"] == r["eigenvalues"][0] and r["lambda_max"] == r["eigenvalues"][-1]
    assert r["condition"] == pytest.approx(ev[-1] / ev[0], rel=1e-10)
    assert r["floor"] == pytest.approx(12 * np.finfo(np.float64).eps * ev[-1])


def test_infinite_depth_counts_weight_layers_and_widths_do_not_matter(ntk, infinite_json, tmp_path):
    out = tmp_path / "K.npy"
    r = ntk("kernel", "--infinite", "--depth", "3", *DATA, "--sigma-w", "1.3", "--sigma-b", "0.1",
            "--out", str(out), "--json")
    assert r.code == 0, r.err
    assert r.json()["eigenvalues"] == infinite_json["eigenvalues"]
    assert np.linalg.eigvalsh(np.load(out))[0] == pytest.approx(infinite_json["lambda_min"], rel=1e-12)
    same = ntk("kernel", "--infinite", "--hidden", "7,3000", "--depth", "3", *DATA, "--sigma-w",
               "1.3", "--sigma-b", "0.1", "--json").json()
    assert same["eigenvalues"] == infinite_json["eigenvalues"]
    empirical = ntk("kernel", "--depth", "2", *DATA, "--json").json()  # 512 per hidden layer
    assert empirical["widths"] == [4, 512, 1] and empirical["infinite"] is False


def test_infinite_kernel_by_quadrature_reports_its_error_and_plots(ntk):
    r = ntk("kernel", "--infinite", "--act", "tanh", "--depth", "2", "--samples", "6", "--n0", "3",
            "--json").json()
    assert r["method"] == "quadrature" and r["order"] == 64
    assert 0 <= r["quadrature_error"]["ntk_rel"] < 1e-6
    text = ntk("kernel", "--infinite", "--depth", "2", "--samples", "6", "--n0", "3",
               "--plot-width", "60")
    assert text.code == 0 and "Infinite-width NTK" in text.out and "∞" in text.out


def test_tolerance_raises_the_order_and_says_when_it_is_not_met(ntk):
    base = ("--act", "tanh", "--depth", "3", "--samples", "6", "--n0", "3", "--sigma-w", "1.3",
            "--sigma-b", "0.2", "--order", "8")
    r = ntk("kernel", "--infinite", *base, "--tolerance", "1e-7", "--json").json()
    err = r["quadrature_error"]
    assert r["order"] == err["order"] > 8 and err["tolerance_met"] is True
    assert err["ntk_rel"] <= 1e-7 and err["resolved"] is True
    # the same order given directly: the same kernel
    direct = ntk("kernel", "--infinite", *base[:-1], str(r["order"]), "--json").json()
    assert direct["eigenvalues"] == r["eigenvalues"]
    c = ntk("condition", *base, "--tolerance", "1e-7", "--json").json()["results"][0]
    assert c["quadrature_order"] == r["order"] and c["tolerance_met"] is True
    assert 0 < c["quadrature_error"] <= 1e-7
    bad = ntk("kernel", *base, "--tolerance", "1e-7")
    assert bad.code == 2 and "--infinite" in bad.err
    assert ntk("kernel", "--infinite", *base, "--tolerance", "0").code == 2


def test_an_unconverged_bound_is_unresolved_not_a_number(ntk):
    r = ntk("kernel", "--infinite", "--act", "sinc", "--scale", "2", "--sigma-w", "2",
            "--depth", "3", "--samples", "8", "--n0", "4", "--order", "8", "--json").json()
    assert r["quadrature_error"]["resolved"] is False and r["quadrature_error"]["ntk_rel"] is None
    text = ntk("kernel", "--infinite", "--act", "sinc", "--scale", "2", "--sigma-w", "2",
               "--depth", "3", "--samples", "8", "--n0", "4", "--order", "8")
    assert text.code == 0 and "unresolved" in text.out


# --- ntk condition (seeds 001, 002) ------------------------------------------------------------

DEPTHS = [1, 2, 5, 10, 20, 30]


@pytest.fixture(scope="module")
def conditions():
    # 16 points on the sphere in 24 dimensions: the Gram matrix has full rank (κ ≈ 113)
    return cli_json("condition", "--samples", "16", "--n0", "24",
                    "--depth", ",".join(map(str, DEPTHS)))


def test_condition_json_contract(conditions):
    r = conditions
    assert r["infinite"] is True and r["width"] is None and r["samples"] == 16 and r["n0"] == 24
    assert [x["activation"] for x in r["results"]] == ["relu", "linear", "abs"]
    for row in r["results"]:
        assert row["depth"] == DEPTHS and len(row["condition"]) == len(DEPTHS)
        assert row["below_floor"] == [False] * len(DEPTHS)
        assert row["condition"] == pytest.approx(np.divide(row["lambda_max"], row["lambda_min"]))
    sw = {x["activation"]: x["sigma_w"] for x in r["results"]}
    assert sw == {"relu": pytest.approx(math.sqrt(2)), "linear": 1.0, "abs": 1.0}  # the EOC


def test_linear_keeps_the_gram_conditioning_at_every_depth(conditions):
    gram = conditions["gram_condition"]
    assert gram is not None and gram > 50
    linear = conditions["results"][1]["condition"]
    assert linear == pytest.approx([gram] * len(DEPTHS), rel=1e-9)


def test_relu_conditioning_falls_with_depth_and_abs_is_lower_deep(conditions):
    relu, _, abs_ = (x["condition"] for x in conditions["results"])
    assert relu[0] == pytest.approx(conditions["gram_condition"])  # depth 1 is linear in x
    assert relu[1] < relu[0] / 5  # the first nonlinearity does most of it (113 → 12)
    assert all(b < a for a, b in zip(relu, relu[1:]))
    limit = (16 + 3) / 3  # both tend to ∝ ¾I + ¼·11ᵀ
    for d in (20, 30):  # seed 001: abs (Δφ = 1) nearer the deep limit than relu (Δφ = ½)
        i = DEPTHS.index(d)
        assert limit < abs_[i] < relu[i]


def test_condition_at_finite_width_is_near_the_infinite_one(ntk):
    small = ("--act", "relu", "--samples", "8", "--n0", "12", "--depth", "1,2")
    wide = ntk("condition", *small, "--width", "4096", "--json").json()
    inf_ = ntk("condition", *small, "--json").json()
    assert wide["infinite"] is False and wide["width"] == 4096
    assert wide["results"][0]["method"] == "empirical"
    k_wide, k_inf = wide["results"][0]["condition"], inf_["results"][0]["condition"]
    assert k_wide[0] == pytest.approx(wide["gram_condition"], rel=1e-9)  # depth 1: σ_w²/n0·XXᵀ
    assert k_wide[1] == pytest.approx(k_inf[1], rel=0.15)  # measured 2 % at width 4096


def test_condition_on_digits_table_and_plot(ntk):
    r = ntk("condition", "--dataset", "digits", "--samples", "20", "--depth", "1,3", "--json")
    assert r.code == 0, r.err
    d = r.json()
    assert d["n0"] == 64 and d["samples"] == 20 and "digits" in d["data"]
    assert d["gram_condition"] is not None
    assert d["results"][1]["condition"][1] == pytest.approx(d["gram_condition"], rel=1e-9)
    # 100 digits in 64 dimensions: XXᵀ is singular, so linear is below the floor; relu is not
    d = ntk("condition", "--dataset", "digits", "--samples", "100", "--depth", "1,3",
            "--act", "linear", "--act", "relu", "--json").json()
    assert d["gram_condition"] is None and d["gram_below_floor"] is True
    assert d["results"][0]["condition"] == [None, None]
    assert d["results"][1]["condition"][0] is None and d["results"][1]["condition"][1] > 1
    text = ntk("condition", "--dataset", "digits", "--samples", "100", "--depth", "1:4",
               "--act", "linear", "--act", "relu", "--plot-width", "60")
    assert text.code == 0 and "below floor" in text.out and "depth L" in text.out


def test_digits_rows_have_norm_root_n0():
    from ntktui.data import digits

    p = digits(30)
    assert p.values.shape == (30, 64)
    np.testing.assert_allclose(np.linalg.norm(p.values, axis=1), 8.0)


# --- ntk eoc (seed 001) ------------------------------------------------------------------------

def test_eoc_json_iterates_and_conditions(ntk):
    from engine import infinite as inf

    r = ntk("eoc", "--a", "0.25", "--b", "0.75", "--rho", "0.3", "--depth", "1:12", "--samples",
            "12", "--n0", "16", "--json").json()
    assert r["delta_phi"] == pytest.approx(0.9) and r["sigma_w2"] == pytest.approx(1.6)
    it = inf.eoc_iterates(0.3, 0.9, 12)
    np.testing.assert_allclose(r["iterates"]["rho"], it.rho, rtol=1e-12)
    np.testing.assert_allclose(r["iterates"]["ntk_rho"], it.ntk_rho, rtol=1e-12)
    rows = {x["activation"]: x for x in r["results"]}
    assert list(rows) == ["abrelu(0.25,0.75)", "relu", "abs", "linear"]
    assert [rows[a]["delta_phi"] for a in ("relu", "abs", "linear")] == [0.5, 1.0, 0.0]
    assert [rows[a]["sigma_w2"] for a in ("relu", "abs", "linear")] == [2.0, 1.0, 1.0]
    assert rows["linear"]["condition"] == pytest.approx([r["gram_condition"]] * 12, rel=1e-9)
    assert rows["linear"]["rho"] == pytest.approx([0.3] * 12)  # Δφ = 0: the map is the identity
    assert r["limit_condition"] == pytest.approx(5.0)
    assert all(k > r["limit_condition"] for a in rows for k in rows[a]["condition"])


def test_eoc_text(ntk):
    r = ntk("eoc", "--depth", "1:4", "--samples", "8", "--n0", "10", "--plot-width", "60")
    assert r.code == 0 and "Δφ = 0.9" in r.out and "NTK correlation" in r.out


# --- ntk separation (seed 002) -----------------------------------------------------------------

def test_separation_relu_pairs_approach_one_angle_linear_keeps_the_input_angle(ntk):
    angles = [2.0, 10.0, 40.0]
    r = ntk("separation", "--angles", "2,10,40", "--depth", "1:25", "--n0", "16", "--json").json()
    relu, linear = r["results"]
    assert r["input_angles_deg"] == angles and relu["activation"] == "relu"
    for q, a in zip(linear["pairs"], angles):
        np.testing.assert_allclose(q["angle_deg"], a, atol=1e-6)
    assert linear["deep_limit_deg"] is None
    ang = np.array([q["angle_deg"] for q in relu["pairs"]])  # pair × depth
    np.testing.assert_allclose(ang[:, 0], angles, atol=1e-6)  # depth 1: the input angle
    assert np.all(np.diff(ang, axis=1) > 0)  # every pair separates with depth
    assert np.all(ang < relu["deep_limit_deg"])  # from below, toward arccos ¼ ≈ 75.5°
    assert relu["deep_limit_deg"] == pytest.approx(math.degrees(math.acos(0.25)))
    ratio = np.array(relu["ratio"])
    assert ratio[0] == pytest.approx(20.0) and np.all(np.diff(ratio) < 0) and ratio[-1] < 4


def test_separation_text(ntk):
    r = ntk("separation", "--depth", "1:3", "--n0", "8", "--plot-width", "60")
    assert r.code == 0 and "relu 1°" in r.out and "deep limit 75.5°" in r.out


# --- errors and help -------------------------------------------------------------------------

TINY = ("--samples", "4", "--n0", "3")


@pytest.mark.parametrize("args, message", [
    (("kernel", "--infinite", "--act", "heaviside", *TINY), "NTK"),
    (("kernel", "--infinite", "--depth", "0", *TINY), "--depth"),
    (("kernel", "--infinite", "--depth", "2", "--hidden", "8,8", *TINY), "disagrees"),
    (("kernel", "--infinite", "--param", "standard", *TINY), "ntk parameterisation"),
    (("kernel", "--infinite", "--dtype", "float32", *TINY), "float64"),
    (("kernel", "--infinite", "--chunk", "64", *TINY), "--chunk"),
    (("kernel", "--infinite", "--dataset", "mnist"), "--dataset"),
    (("condition", "--act", "heaviside", *TINY), "NTK"),
    (("condition", "--depth", "0", *TINY), "--depth"),
    (("condition", "--depth", "1:x", *TINY), "--depth"),
    (("condition", "--width", "0", *TINY), "--width"),
    (("condition", "--dataset", "mnist"), "--dataset"),
    (("condition", "--data", "/nonexistent.npy"), "no such file"),
    (("condition", "--data", "x.npy", "--dataset", "digits"), "not both"),
    (("condition", "--dataset", "digits", "--n0", "10"), "n0"),
    (("condition", "--dataset", "digits", "--samples", "5000"), "1797"),
    (("condition", "--dtype", "float32", *TINY), "--width"),
    (("eoc", "--a", "0", "--b", "0", *TINY), "a² + b²"),
    (("eoc", "--rho", "1.5", *TINY), "--rho"),
    (("separation", "--angles", "0,5"), "--angles"),
    (("separation", "--angles", "x"), "--angles"),
    (("separation", "--n0", "1"), "--n0"),
])
def test_bad_input_is_one_line(ntk, args, message):
    r = ntk(*args)
    assert r.code == 2 and message in r.err and len(r.err.strip().splitlines()) == 1, r.err
