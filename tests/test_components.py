"""Principal components of the shallow Jacobian (docs/maths.md#the-shallow-jacobian and
#principal-components-in-2-d; seed 003 Fig. 4, 5, 9)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.activations import get
from engine.shallow import dst_basis_2d, principal_components, principal_components_2d

N = 96
COUNT = 6
SIDE = 12
WIDTH_2D = 96
SEEDS = (0, 1, 2)


def unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


@pytest.fixture(scope="module")
def heaviside():
    return principal_components(get("heaviside"), N, N, 32.0, COUNT)


@pytest.fixture(scope="module")
def tanh_sharp():
    """tanh at a scale where s/N ≫ 1: A_ij → sign(i − j) (0 on the diagonal)."""
    return principal_components(get("tanh"), N, N, 1e3, COUNT)


@pytest.fixture(scope="module")
def relu_2d():
    relu = get("relu")
    rank_one = principal_components_2d(relu, SIDE, WIDTH_2D, 32.0, "rank-one", COUNT)
    full = [principal_components_2d(relu, SIDE, WIDTH_2D, 32.0, "full-rank", COUNT, seed=s)
            for s in SEEDS]
    return rank_one, full


def test_heaviside_components_are_the_dst_like_basis(heaviside):
    """Aligned grids make A the lower-triangular ones matrix L, and L Lᵀ = [min(i, j)]: the
    covariance of a discrete random walk, whose eigenvectors are sin((2k−1)π·i/(2N+1)), i = 1..N,
    with eigenvalues 1/(4 sin²((2k−1)π/(4N+2))) (a second difference with one free end)."""
    _, u, sigma = heaviside
    i = np.arange(1, N + 1)
    for k in range(1, COUNT + 1):
        basis = unit(np.sin((2 * k - 1) * np.pi * i / (2 * N + 1)))
        assert abs(basis @ u[:, k - 1]) > 0.999999
        assert sigma[k - 1] == pytest.approx(1 / (2 * np.sin((2 * k - 1) * np.pi / (4 * N + 2))),
                                             rel=1e-12)


def test_dst_vectors_are_eigenvectors_of_the_walk_covariance():
    """The closed form itself, checked against the matrix (no SVD involved)."""
    n = 20
    i = np.arange(1, n + 1)
    cov = np.minimum(i[:, None], i[None, :]).astype(float)
    for k in range(1, n + 1):
        v = np.sin((2 * k - 1) * np.pi * i / (2 * n + 1))
        lam = 1 / (4 * np.sin((2 * k - 1) * np.pi / (4 * n + 2)) ** 2)
        np.testing.assert_allclose(cov @ v, lam * v, rtol=0, atol=1e-10 * lam)


def test_heaviside_component_k_has_k_minus_1_sign_changes(heaviside):
    """A frequency basis: the k-th component crosses zero k − 1 times (Fig. 4a)."""
    _, u, _ = heaviside
    for k in range(1, COUNT + 1):
        s = np.sign(u[:, k - 1])
        assert int((s[1:] != s[:-1]).sum()) == k - 1


def test_sharp_tanh_components_are_fourier_pairs(tanh_sharp):
    """sign(i − j) is skew-circulant (its wrapped entries flip sign), so it is diagonalised by
    e^{iθm} with θ = (2k−1)π/N: its principal components come in pairs spanning
    {cos θm, sin θm}, with σ = cot((2k−1)π/(2N)) — a frequency basis, like heaviside's (Fig. 4b)."""
    _, u, sigma = tanh_sharp
    m = np.arange(N)
    for k in range(1, COUNT // 2 + 1):
        theta = (2 * k - 1) * np.pi / N
        pair = u[:, 2 * k - 2: 2 * k]
        for f in (unit(np.cos(theta * m)), unit(np.sin(theta * m))):
            assert np.linalg.norm(pair.T @ f) > 0.999
        expected = 1 / np.tan((2 * k - 1) * np.pi / (2 * N))
        np.testing.assert_allclose(sigma[2 * k - 2: 2 * k], expected, rtol=1e-6)


def test_rank_one_2d_is_the_1d_problem_on_the_row_major_order(relu_2d):
    """With every w_j = (1/side, 1), wᵀx_i = (row·side + col)/side²: the Jacobian is exactly the
    1-D one on side² equally spaced samples, so its components are the 1-D components read in
    row-major order, with the same singular values."""
    (images, sigma), _ = relu_2d
    _, u, sigma_1d = principal_components(get("relu"), SIDE * SIDE, WIDTH_2D, 32.0, COUNT)
    np.testing.assert_allclose(sigma[:COUNT], sigma_1d[:COUNT], rtol=1e-10)
    for k in range(COUNT):
        assert abs(images[k].ravel() @ u[:, k]) > 0.999999


def directional_variation(images):
    imgs = np.asarray(images)
    horizontal = np.abs(np.diff(imgs, axis=2)).sum(axis=(1, 2))
    vertical = np.abs(np.diff(imgs, axis=1)).sum(axis=(1, 2))
    return horizontal, vertical


def test_rank_one_components_vary_in_one_direction(relu_2d):
    """A smooth f(row + col/side) changes side times less along a row than down a column."""
    (images, _), _ = relu_2d
    h, v = directional_variation(images)
    assert np.all(h / v < 2.0 / SIDE)


def test_full_rank_components_vary_in_both_directions(relu_2d):
    _, full = relu_2d
    for images, _ in full:
        h, v = directional_variation(images)
        assert 0.5 < h.sum() / v.sum() < 2.0


def test_full_rank_leading_components_are_smoother(relu_2d):
    """Seed 003 Appendix E: full-rank weights restore smooth leading components; rank-one ones
    have more total variation (unit-norm components)."""
    (rank_one, _), full = relu_2d
    tv_rank_one = sum(directional_variation(rank_one))
    for images, _ in full:
        tv_full = sum(directional_variation(images))
        assert tv_full.sum() < 0.8 * tv_rank_one.sum()
        assert tv_full[0] < tv_rank_one[0]


def test_dst_basis_2d_is_orthogonal_and_separable():
    side, count = 10, 8
    d = dst_basis_2d(side, count).reshape(count, -1)
    gram = d @ d.T
    np.testing.assert_allclose(gram, np.diag(np.diag(gram)), atol=1e-12)
    for img in dst_basis_2d(side, count):
        assert np.linalg.matrix_rank(img, tol=1e-10) == 1


def test_render_images_draws_every_panel():
    from ntktui.render import ImageGrid, render_images

    side = 8
    imgs = dst_basis_2d(side, 3)
    text = render_images(ImageGrid("t", [("row a", list(imgs)), ("row b", list(-imgs))]),
                         width=80, color=False)
    lines = text.splitlines()
    assert lines[0] == "t" and "row a" in lines and "row b" in lines
    body = [ln for ln in lines if set(ln) <= set(" .:-=+*#%@") and ln.strip()]
    assert len(body) == 2 * side // 2  # two pixel rows per text line, two groups
    # the first DST image is positive everywhere with its peak in the middle: darkest shade there
    first = [ln[:side] for ln in body[: side // 2]]
    assert "@" in first[side // 4 - 1] + first[side // 4]
    # the negated row shows the opposite end of the ramp
    assert " " in body[side // 2 + side // 4][:side]
    coloured = render_images(ImageGrid("t", [("a", list(imgs))]), width=80, color=True)
    assert "\x1b[38;2;" in coloured


def test_render_images_fits_width():
    from ntktui.render import ImageGrid, render_images

    imgs = [np.random.default_rng(0).standard_normal((40, 40)) for _ in range(4)]
    text = render_images(ImageGrid("t", [("r", imgs)]), width=60, color=False)
    assert max(len(ln) for ln in text.splitlines()) <= 60
