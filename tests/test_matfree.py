"""Spectra without forming K (engine.matfree): products against the dense kernel, block Lanczos
against dense eigh with its residual bounds checked, the exact trace, λ_min converged, not
converged and below the floor, and stochastic Lanczos quadrature's moments and density."""

from __future__ import annotations

import math

import numpy as np
import pytest

import model_zoo as zoo
from engine import matfree, mlp, models
from engine.errors import EngineError, InsufficientMemory

import jax.numpy as jnp  # noqa: E402


def _coordinate_net(samples=400, seed=0):
    """A 2-32-32-1 sin network on random points of [0, 1)² (a coordinate MLP in small)."""
    spec = mlp.MLPSpec((2, 32, 32, 1), "sin", 3.0, "standard", 1.0, 0.1)
    x = np.random.default_rng(seed).random((samples, 2))
    return (spec, mlp.init(spec, seed)), x


@pytest.fixture(scope="module")
def coordinate():
    model, x = _coordinate_net()
    K = models.empirical_ntk(model, x).matrix
    op = matfree.KernelOperator(model, x, rows=96)  # 400 rows in 5 blocks, the last padded
    return op, K, np.linalg.eigh(K)


@pytest.mark.parametrize("form", ["nnx", "equinox"])
@pytest.mark.parametrize("outputs", ["trace", "full"])
def test_products_equal_the_dense_kernel_times_the_vectors(form, outputs):
    model = zoo.model("layernorm", form)
    x = zoo.inputs("layernorm", 13)
    K = models.empirical_ntk(model, x, outputs=outputs).matrix
    op = matfree.KernelOperator(model, x, outputs=outputs, rows=4)
    V = np.random.default_rng(0).standard_normal((op.size, 3))
    assert op.size == (26 if outputs == "full" else 13)
    KV = op.matvec(V)
    assert np.abs(KV - K @ V).max() <= 1e-12 * np.abs(K).max() * np.abs(V).sum(axis=0).max()
    assert np.allclose(op.matvec(V[:, 1]), KV[:, 1], rtol=0, atol=1e-12 * np.abs(KV).max())
    assert op.products == 4


def test_top_eigenpairs_match_dense_eigh_within_their_residuals(coordinate):
    op, K, (ev, evec) = coordinate
    pairs = matfree.eigsh(op, 12, tol=1e-10, seed=1)
    top = ev[::-1][:12]
    assert pairs.all_converged and pairs.krylov_dim < op.size
    assert np.all(np.abs(pairs.values - top) <= pairs.residuals + 1e-12 * top[0])
    assert np.abs(pairs.values - top).max() <= 1e-9 * top[0]
    # The residuals are the true ones: recomputed with the dense kernel.
    R = K @ pairs.vectors - pairs.vectors * pairs.values
    assert np.allclose(np.linalg.norm(R, axis=0), pairs.residuals, rtol=1e-3, atol=1e-11 * top[0])
    assert np.allclose(pairs.vectors.T @ pairs.vectors, np.eye(12), atol=1e-10)


def test_residual_bounds_hold_for_pairs_that_have_not_converged(coordinate):
    """A Krylov space too small to converge: every Ritz value still has an eigenvalue within its
    residual, lies below the matching eigenvalue (Cauchy interlacing), and the block residual
    bounds them all (Kahan)."""
    op, K, (ev, _) = coordinate
    pairs = matfree.eigsh(op, 8, tol=1e-14, block_size=4, max_dim=12, seed=2)
    assert not pairs.all_converged and pairs.krylov_dim == 12
    dist = np.abs(pairs.values[:, None] - ev[None, :]).min(axis=1)
    assert np.all(dist <= pairs.residuals * (1 + 1e-9))
    assert np.all(pairs.values <= ev[::-1][:8] * (1 + 1e-12))
    assert pairs.block_residual >= pairs.residuals.max() * (1 - 1e-12)


def test_exact_trace_is_the_dense_trace_and_diagonal(coordinate):
    op, K, _ = coordinate
    tr = matfree.exact_trace(op, block=64)
    assert tr.trace == pytest.approx(np.trace(K), rel=1e-12)
    assert np.allclose(tr.diagonal, np.diag(K), rtol=1e-12)
    model = zoo.model("mlp", "linen")
    x = zoo.inputs("mlp", 7)
    full = models.empirical_ntk(model, x, outputs="full").matrix
    tr_full = matfree.exact_trace(matfree.KernelOperator(model, x, outputs="full"), block=3)
    assert np.allclose(tr_full.diagonal, np.diag(full), rtol=1e-12)


def test_lambda_min_converges_where_the_krylov_space_can_reach_it():
    """N = 40 points and 1,000 parameters: λ_min well above the floor. The full Krylov space
    gives it to its residual; a space of 8 vectors gives only an upper bound."""
    model, x = _coordinate_net(samples=40, seed=3)
    ev = np.linalg.eigvalsh(models.empirical_ntk(model, x).matrix)
    op = matfree.KernelOperator(model, x)
    lm = matfree.lambda_min(op, max_dim=40, block_size=4)
    assert lm.converged and lm.value is not None
    assert abs(lm.value - ev[0]) <= lm.residual + 1e-12 * ev[-1]
    assert lm.condition == pytest.approx(ev[-1] / ev[0], rel=1e-6)
    rough = matfree.lambda_min(op, max_dim=8, block_size=4, tol=1e-12)
    assert not rough.converged and rough.value is None and rough.condition is None
    assert rough.upper_bound >= ev[0]
    assert rough.as_dict()["lambda_min"] is None


def test_lambda_min_of_a_rank_deficient_kernel_is_below_the_floor():
    w = {"w": jnp.array([0.3, -1.2, 0.7])}
    x = np.random.default_rng(4).standard_normal((30, 3))  # K = x xᵀ has rank 3
    op = matfree.KernelOperator((lambda p, x: x @ p["w"], w), x)
    lm = matfree.lambda_min(op)
    assert lm.below_floor and lm.value is None and lm.ritz <= lm.floor


def test_stochastic_lanczos_quadrature_is_exact_on_polynomials(coordinate):
    """Gauss quadrature with s Lanczos steps integrates polynomials of degree < 2s exactly:
    Σ_j w_j θ_j^p = qᵀ K^p q for p < 2s, for each probe q."""
    op, K, (ev, evec) = coordinate
    q = np.random.default_rng(5).standard_normal((op.size, 3))
    q /= np.linalg.norm(q, axis=0)
    steps = 5
    nodes, weights, *_ = matfree.lanczos_quadrature(op, 3, steps, vectors=q)
    scale = ev[-1]
    for p in range(2 * steps):
        exact = np.einsum("np,n,np->p", evec.T @ q, (ev / scale) ** p, evec.T @ q)
        assert np.allclose(np.sum(weights * (nodes / scale) ** p, axis=1), exact, rtol=1e-8, atol=1e-12)


def test_density_matches_the_dense_spectrum_within_its_errors():
    """The smoothed density within its sampling and quadrature errors, the fraction of eigenvalues
    below each threshold within the Chebyshev–Markov–Stieltjes bounds (± sampling error), the
    trace estimate within its sampling error of the exact trace."""
    model, x = _coordinate_net(samples=120, seed=6)
    K = models.empirical_ntk(model, x).matrix
    ev = np.linalg.eigvalsh(K)
    op = matfree.KernelOperator(model, x)
    d = matfree.density(op, probes=24, steps=30, points=120, seed=7)
    assert np.sum(d.values) * (d.grid[1] - d.grid[0]) == pytest.approx(1.0, abs=1e-3)
    dense = np.exp(-0.5 * ((d.grid[:, None] - ev[None]) / d.sigma) ** 2).sum(1) / (
        len(ev) * d.sigma * math.sqrt(2 * math.pi))
    assert np.all(np.abs(d.values - dense) <= 4 * d.standard_error + d.quadrature_change + 1e-12)
    fraction = (ev[None, :] <= d.thresholds[:, None]).mean(axis=1)
    slack = 4 * d.cdf_standard_error + 1e-9
    assert np.all(d.cdf_lower - slack <= fraction) and np.all(fraction <= d.cdf_upper + slack)
    assert np.all(d.cdf_lower <= d.cdf_upper) and d.cdf_upper[-1] == pytest.approx(1.0)
    assert np.mean(d.cdf_upper - d.cdf_lower) < 0.5  # the bounds say something
    assert abs(d.trace_estimate - np.trace(K)) <= 4 * d.trace_standard_error


def test_requests_that_cannot_be_met_are_refused(coordinate, monkeypatch):
    op, _, _ = coordinate
    with pytest.raises(EngineError, match="between 1 and 400"):
        matfree.eigsh(op, 401)
    with pytest.raises(EngineError, match="at least 2 probes"):
        matfree.density(op, probes=1)
    monkeypatch.setenv("NTK_MEMORY_BUDGET", "100000")
    with pytest.raises(InsufficientMemory, match="smaller Krylov space"):
        matfree.eigsh(op, 10)
