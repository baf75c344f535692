"""`ntk kernel --model FILE.py:NAME` (issue 14): a researcher's own model in each form gives the
same exact kernel as the engine called directly, the implementations agree, the matrix-free
spectrum agrees with the dense one within its own error bounds, and everything that can go wrong
in the user's file is one line naming it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error

MODELS = str(Path(__file__).with_name("user_models.py"))
FORMS = ("function", "nnx_model", "equinox_model", "linen_model")
DATA = ("--n0", "3", "--samples", "12", "--seed", "1")


@pytest.fixture(scope="module")
def reference():
    """The kernel of the function form from the engine directly, and by autodiff."""
    import importlib.util

    from engine import data, models, ntk

    spec = importlib.util.spec_from_file_location("user_models_ref", MODELS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    apply, params = module.function()
    x = data.sphere_points(12, 3, 1)
    K = models.empirical_ntk(models.as_model((apply, params)), x).matrix
    K_autodiff = ntk.autodiff_ntk(apply, params, x)
    return np.asarray(K), np.asarray(K_autodiff)


@pytest.mark.parametrize("form", FORMS)
def test_every_model_form_gives_the_engines_kernel(ntk, tmp_path, reference, form):
    out = tmp_path / "K.npy"
    r = ntk("kernel", "--model", f"{MODELS}:{form}", *DATA, "--out", str(out), "--json")
    assert r.code == 0, r.err
    K = np.load(out)
    np.testing.assert_allclose(K, reference[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(K, reference[1], rtol=1e-10, atol=1e-10)  # autodiff, independently
    j = r.json()
    assert j["out_dim"] == 2 and j["trace"] == pytest.approx(np.trace(K), rel=1e-12)
    assert j["lambda_max"] == pytest.approx(np.linalg.eigvalsh(K)[-1], rel=1e-12)
    assert j["model"].startswith(f"user_models.py:{form} (")


def test_contraction_and_products_agree_and_outputs_full_traces_to_the_kernel(ntk, tmp_path):
    kernels = {}
    for impl in ("contraction", "products"):
        out = tmp_path / f"{impl}.npy"
        r = ntk("kernel", "--model", f"{MODELS}:function", *DATA, "--implementation", impl,
                "--out", str(out), "--json")
        assert r.code == 0 and r.json()["implementation"] == impl, r.err
        kernels[impl] = np.load(out)
    np.testing.assert_allclose(kernels["contraction"], kernels["products"], rtol=1e-10, atol=1e-12)
    out = tmp_path / "full.npy"
    r = ntk("kernel", "--model", f"{MODELS}:function", *DATA, "--outputs", "full", "--out",
            str(out), "--json")
    assert r.code == 0 and r.json()["size"] == 24, r.err
    full = np.load(out).reshape(12, 2, 12, 2)
    np.testing.assert_allclose(np.einsum("iojo->ij", full), kernels["products"], rtol=1e-12)


def test_the_matrix_free_spectrum_agrees_with_the_dense_one_within_its_bounds(ntk, tmp_path):
    out = tmp_path / "K.npy"
    dense = ntk("kernel", "--model", f"{MODELS}:function", *DATA, "--top", "4", "--out", str(out),
                "--json")
    assert dense.code == 0, dense.err
    ev = np.linalg.eigvalsh(np.load(out))[::-1]
    free = ntk("kernel", "--model", f"{MODELS}:function", *DATA, "--matrix-free", "--top", "4",
               "--json")
    assert free.code == 0, free.err
    j = free.json()
    assert j["matrix_free"] and j["matrix_free_reason"] == "asked for"
    for theta, res, lam in zip(j["top_eigenvalues"], j["residuals"], ev):
        assert abs(theta - lam) <= res + 1e-12 * ev[0]  # the residual bounds the error
    assert j["trace"] == pytest.approx(ev.sum(), rel=1e-10)
    if j["lambda_min"] is not None:  # converged: equal to the dense λ_min within its residual
        assert abs(j["lambda_min"] - ev[-1]) <= j["lambda_min_residual"] + 1e-12 * ev[0]
    else:  # not converged or below the floor: its upper bound still bounds the true λ_min
        assert ev[-1] <= j["lambda_min_upper_bound"] + 1e-12 * ev[0]
    np.testing.assert_allclose(dense.json()["top_eigenvalues"], ev[:4], rtol=1e-12)


def test_a_kernel_too_large_to_form_goes_matrix_free_by_itself(ntk, monkeypatch):
    # three copies of a 1200² float64 kernel (33 MiB) do not fit; a 1200 × 100 Krylov space does
    monkeypatch.setenv("NTK_MEMORY_BUDGET", "20MiB")
    r = ntk("kernel", "--model", f"{MODELS}:function", "--n0", "3", "--samples", "1200",
            "--top", "2", "--json")
    assert r.code == 0, r.err
    j = r.json()
    assert j["matrix_free"] and j["matrix_free_reason"] == "the dense kernel would not fit"


def test_grid_data_and_the_density(ntk):
    r = ntk("kernel", "--grid", "6", "--hidden", "16", "--density", "--json")
    assert r.code == 0, r.err
    j = r.json()
    assert j["samples"] == 36 and "6 × 6 grid" in j["data"]
    grid, values = np.array(j["density"]["grid"]), np.array(j["density"]["values"])
    assert np.trapezoid(values, grid) == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("spec, message", [
    ("user_models.py", "must be FILE.py:NAME"),
    ("absent.py:function", "no such file"),
    ("{models}:nothing", "has no 'nothing'; it defines apply, function"),
    ("{models}:not_a_model", "not_a_model() returned int: not a model"),
    ("{models}:broken", "broken() failed: RuntimeError: the weights file is missing"),
    ("{models}:mixes_samples", "outputs mix samples"),
    ("{models}:W1", "is not a function"),
])
def test_a_users_file_that_goes_wrong_is_one_line_naming_it(ntk, spec, message):
    r = ntk("kernel", "--model", spec.format(models=MODELS), *DATA)
    assert_one_line_error(r, message)


def test_a_file_that_does_not_import_is_one_line(ntk, tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n")
    assert_one_line_error(ntk("kernel", "--model", f"{bad}:f", *DATA), "bad.py: importing it "
                          "failed: SyntaxError")


@pytest.mark.parametrize("args, message", [
    (("--hidden", "64"), "--hidden describe ntk's own network"),
    (("--infinite",), "--infinite describe ntk's own network"),
    (("--implementation", "layerwise"), "a model from a file takes auto, contraction or products"),
    (("--matrix-free", "--out", "K.npy"), "--matrix-free never forms it"),
])
def test_options_that_do_not_go_with_a_model_file(ntk, args, message):
    assert_one_line_error(ntk("kernel", "--model", f"{MODELS}:function", *DATA, *args), message)


def test_grid_goes_with_no_other_data(ntk):
    assert_one_line_error(ntk("kernel", "--grid", "4", "--samples", "3"), "--grid makes the data")
