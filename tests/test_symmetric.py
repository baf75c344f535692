"""Kernels at the symmetric limit (docs/engine.md#tiled-kernels): every N × N kernel formed from
its tiles on or above the diagonal equals the whole computation to round-off, for odd N, N
smaller than a tile and N not a multiple of it; progress is reported per tile and a cancel raised
there stops the kernel between tiles."""

from __future__ import annotations

import numpy as np
import pytest

from engine import data, infinite, mlp, models, ntk, tiles
from engine.activations import get

ROUND = 1e-13  # float64 round-off of these small kernels, relative to their largest entry


def _rel(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(np.abs(a - b).max() / np.abs(b).max())


# --- the tiling itself ------------------------------------------------------------------------

def test_upper_tiles_cover_the_triangle_once():
    for t in (1, 2, 5):
        pairs = tiles.upper(t)
        assert len(pairs) == tiles.upper_count(t) == t * (t + 1) // 2
        assert set(pairs) == {(i, j) for i in range(t) for j in range(t) if i <= j}


@pytest.mark.parametrize("n", [1, 7, 512, 513, 1000, 4000, 4097])
def test_tiles_are_equal_and_at_most_the_target(n):
    size = tiles.tile_size(n, "cpu")
    t = tiles.count(n, size)
    assert size <= tiles.TILE_CPU and t == -(-n // tiles.TILE_CPU)
    assert 0 <= t * size - n < t  # padding under one row per tile
    assert tiles.tile_size(n, "gpu") <= tiles.TILE_GPU


@pytest.mark.parametrize("assemble", [tiles.assemble, tiles.assemble_host])
def test_assemble_mirrors_the_upper_tiles(assemble):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((7, 5))
    K = a @ a.T
    T, t = 3, 3  # 7 rows padded to 9
    P = np.zeros((9, 9))
    P[:7, :7] = K
    P[3:6, 3:6] += 1e-3 * rng.standard_normal((3, 3))  # an unsymmetric diagonal tile: averaged
    parts = tuple(P[i * T:(i + 1) * T, j * T:(j + 1) * T] for i, j in tiles.upper(t))
    out = np.asarray(assemble(parts, n=7))
    assert out.shape == (7, 7) and np.array_equal(out, out.T)
    mid = P[3:6, 3:6]
    assert np.array_equal(out[3:6, 3:6], (mid + mid.T) * 0.5)
    off = np.ones((7, 7), bool)
    off[3:6, 3:6] = False
    assert _rel(out[off], K[off]) < 1e-15


# --- the layer-wise empirical NTK ----------------------------------------------------------------

NETS = {
    "stored": (5, 13, 7, 2),  # no layer streams; two outputs
    "streamed": (5, 37, 11, 23, 1),  # with chunk 4: layers 1 and 3 stream, layer 3 back-propagates
}


SPEC = mlp.MLPSpec(NETS["streamed"], "cos", 1.3, "ntk", 1.2, 0.3)


@pytest.mark.parametrize("net,samples,tile", [
    ("stored", 9, 4),  # odd, 9 = 4 + 4 + 1: not a multiple of the tile
    ("stored", 5, 16),  # smaller than a tile
    ("streamed", 11, 3),  # width chunks by tiles: 11 = 3 + 3 + 3 + 2 padded
])
def test_layerwise_by_tiles_equals_the_whole_computation(net, samples, tile):
    spec = mlp.MLPSpec(NETS[net], "cos", 1.3, "ntk", 1.2, 0.3)
    x = data.sphere_points(samples, spec.widths[0], 1)
    p = mlp.init(spec, 0)
    chunk = 4 if net == "streamed" else None
    tiled = np.asarray(ntk.layerwise_ntk(spec, p, x, chunk=chunk, tile=tile))
    ref = ntk.autodiff_ntk(lambda q, xb: mlp.apply(spec, q, xb), p, x)
    assert np.array_equal(tiled, tiled.T) and _rel(tiled, ref) < 1e-12
    if net == "stored":  # the one-tile program: one product per term
        whole = np.asarray(ntk.layerwise_ntk(spec, p, x, tile=samples))
        assert _rel(tiled, whole) < ROUND


@pytest.mark.parametrize("net,samples,tile,dtype", [
    ("stored", 9, 4, "float64"),  # two outputs: Δ_l of rows × 2 × n_l
    ("stored", 9, 4, "float32"),
    ("streamed", 11, 3, "float64"),
    ("streamed", 11, 3, "float32"),
])
def test_host_blas_tiles_equal_xla_tiles(monkeypatch, net, samples, tile, dtype):
    """On one CPU device the tile products run on the host's BLAS (syrk on the diagonal), and
    so do the passes' products where no layer streams; every other platform runs them in XLA.
    The two give the same kernel to the dtype's round-off."""
    spec = mlp.MLPSpec(NETS[net], "cos", 1.3, "ntk", 1.2, 0.3)
    x = data.sphere_points(samples, spec.widths[0], 1).astype(dtype)
    p = mlp.init(spec, 0, dtype)
    chunk = 4 if net == "streamed" else None
    host = ntk.layerwise_ntk(spec, p, x, chunk=chunk, tile=tile)
    assert ntk.choose_plan(spec, samples, x.dtype, chunk, tile=tile).host
    monkeypatch.setattr(ntk, "host_products", lambda devices: False)
    assert not ntk.choose_plan(spec, samples, x.dtype, chunk, tile=tile).host
    on_xla = ntk.layerwise_ntk(spec, p, x, chunk=chunk, tile=tile)
    assert host.dtype == on_xla.dtype == np.dtype(dtype)
    assert np.array_equal(np.asarray(host), np.asarray(host).T)
    assert _rel(host, on_xla) < (ROUND if dtype == "float64" else 1e-5)


def test_progress_is_reported_per_tile_and_chunk_group():
    x = data.sphere_points(11, 5, 2)
    calls = []
    ntk.layerwise_ntk(SPEC, mlp.init(SPEC, 0), x, chunk=4, tile=3,
                      progress=lambda done, total: calls.append((done, total)))
    t, u = 4, 10  # 11 rows in tiles of 3; 10 upper tiles
    groups = {1: 10, 3: 6}  # ⌈37/4⌉ and ⌈23/4⌉ chunks on one device
    total = t + u + sum(u + g * (t + u) for g in groups.values()) + 1
    assert calls == [(k, total) for k in range(total + 1)]


def test_progress_of_row_panels_and_a_cancel_between_them():
    """Nothing streamed on the host: a step per block of passes, per diagonal tile and per row
    panel (the tiles right of one diagonal tile in one product), then the assembly; a cancel
    raised at a step stops the kernel there."""
    spec = mlp.MLPSpec(NETS["stored"], "cos", 1.3, "ntk", 1.2, 0.3)
    x = data.sphere_points(11, 5, 2)
    calls = []
    ntk.layerwise_ntk(spec, mlp.init(spec, 0), x, tile=3,
                      progress=lambda done, total: calls.append((done, total)))
    t = 4  # 11 rows in tiles of 3
    host = ntk.choose_plan(spec, 11, x.dtype, tile=3).host  # elsewhere a step per upper tile
    total = t + t + (t - 1) + 1 if host else t + tiles.upper_count(t) + 1
    assert calls == [(k, total) for k in range(total + 1)]

    def progress(done, total):
        calls.append(done)
        if done == 6:
            raise Stop

    calls = []
    with pytest.raises(Stop):
        ntk.layerwise_ntk(spec, mlp.init(spec, 0), x, tile=3, progress=progress)
    assert calls == [0, 1, 2, 3, 4, 5, 6]


class Stop(Exception):
    pass


def test_a_cancel_raised_in_progress_stops_between_tiles():
    x = data.sphere_points(11, 5, 2)
    calls = []

    def progress(done, total):
        calls.append(done)
        if done == 5:
            raise Stop

    with pytest.raises(Stop):
        ntk.empirical_kernel(SPEC, x, chunk=4, tile=3, progress=progress)
    assert calls == [0, 1, 2, 3, 4, 5]  # nothing ran on after the cancel


def test_the_kernel_study_advances_per_tile_and_cancels(monkeypatch):
    """The dashboard's cancel is raised at progress.step: the kernel study stops between tiles."""
    from ntktui.report import compute  # noqa: F401  (the study registry)
    from ntktui.studies import kernel

    monkeypatch.setattr(tiles, "TILE_CPU", 4)

    class Cancelled(Exception):
        pass

    class Progress:
        def __init__(self):
            self.begun, self.steps = [], 0

        def begin(self, label, total):
            self.begun.append(total)

        def step(self, n=1, partial=None):
            self.steps += n
            if self.steps >= 3:
                raise Cancelled

    progress = Progress()
    values = {**kernel.STUDY.defaults(), "samples": 10, "n0": 3, "hidden": "6,5"}
    with pytest.raises(Cancelled):
        kernel.STUDY.analyse(progress, **values)
    assert progress.begun and progress.begun[0] > 3 and progress.steps == 3


# --- the autodiff and contraction paths ------------------------------------------------------------

@pytest.mark.parametrize("samples,block", [(9, 4), (7, 3), (5, 8)])
def test_autodiff_by_upper_tiles_equals_the_whole_jacobian(samples, block):
    spec = mlp.MLPSpec((3, 6, 2), "sin", 1.0, "standard", 1.0, 0.3)
    x = data.sphere_points(samples, 3, 0)
    p = mlp.init(spec, 1)
    f = lambda q, xb: mlp.apply(spec, q, xb)  # noqa: E731
    calls = []
    tiled = ntk.autodiff_ntk(f, p, x, block=block, progress=lambda d, t: calls.append((d, t)))
    assert np.array_equal(tiled, tiled.T) and _rel(tiled, ntk.autodiff_ntk(f, p, x)) < ROUND
    t = -(-samples // block)
    assert calls == [(k, t * (t + 1) // 2) for k in range(t * (t + 1) // 2 + 1)] or block >= samples


def test_the_cross_kernel_of_x_with_itself_is_formed_by_upper_blocks():
    spec = mlp.MLPSpec((3, 6, 1), "tanh", 1.0, "ntk", 1.0, 0.2)
    x = data.sphere_points(9, 3, 0)
    model = (spec, mlp.init(spec, 0))
    counts = {}
    for name, x2 in (("none", None), ("same", x), ("copy", x.copy())):
        calls = []
        r = models.empirical_ntk(model, x, x2, implementation="contraction", block=4,
                                 progress=lambda d, t: calls.append(d))
        counts[name] = (r.matrix, len(calls) - 1)
    other = models.empirical_ntk(model, x, x + 0.0 * x[::-1] + 1e-300, implementation="contraction",
                                 block=4).matrix  # equal values a step apart: still symmetric
    assert all(c == 6 for _, c in counts.values())  # 3 blocks: 6 upper of 9
    for K, _ in counts.values():
        assert np.array_equal(K, K.T) and _rel(K, counts["none"][0]) < ROUND
    assert _rel(other, counts["none"][0]) < ROUND
    ref = ntk.autodiff_ntk(lambda q, xb: mlp.apply(spec, q, xb), model[1], x)
    assert _rel(counts["same"][0], ref) < 1e-12


# --- the infinite-width recursion ------------------------------------------------------------------

@pytest.mark.parametrize("act", ["erf", "cos", "relu"])
@pytest.mark.parametrize("samples", [7, 10])
def test_infinite_width_by_upper_tiles_equals_one_tile(monkeypatch, act, samples):
    X = data.sphere_points(samples, 4, 0)
    opts = dict(sigma_w2=1.7, sigma_b2=0.2)
    whole = infinite.kernels(X, get(act), 4, **opts)
    monkeypatch.setattr(tiles, "TILE_CPU", 3)  # 7 = 3 + 3 + 1, 10 = 3 + 3 + 3 + 1 (4 × 3 padded)
    calls = []
    tiled = infinite.kernels(X, get(act), 4, progress=lambda d, t: calls.append((d, t)), **opts)
    t = -(-samples // 3)
    per_layer = t * (t + 1) // 2 + 2
    assert calls == [(k, 3 * per_layer) for k in range(3 * per_layer + 1)]
    for a, b in ((tiled.ntk, whole.ntk), (tiled.nngp, whole.nngp)):
        assert np.array_equal(np.asarray(a), np.asarray(a).T)
        # relu's arccos amplifies the last bit of ρ = 1 on the diagonal to ~√ε
        assert _rel(a, b) < (1e-7 if act == "relu" else ROUND)
