"""Symmetric N × N kernels by tiles: which tiles to form, how large, and how to report them.

Every kernel ntk computes is symmetric, so only the tiles on or above the diagonal are formed
(t(t + 1)/2 of t² tiles) and the rest are mirrored. Each tile is one call of a compiled program,
so the host sees the work advance tile by tile: it reports progress(done, total) after each one
and a Ctrl-C (or the dashboard's cancel, raised from the progress callback) stops the kernel
within one tile's time instead of the whole kernel's (docs/engine.md#tiled-kernels).

The tile size rule: tiles of equal size, as close to the platform's target as N allows
(t = ⌈N / target⌉ tiles of ⌈N / t⌉ rows, so the padding is under t rows). The target is the
smallest size at which the platform's matrix product runs at its full rate: on the 2-core CPU
XLA's float64 product of a 500-row tile with an 8000-wide partner ran at the rate of 1000- and
2000-row tiles (about 100 GFLOP/s), while the tiles on the diagonal cost extra (a share of about
T/N of the triangle), so the smaller the better; GPUs need larger products to fill their matrix
units.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Callable

from engine import backend

backend.configure()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

TILE_CPU = 512
TILE_GPU = 2048

Progress = Callable[[int, int], None]  # progress(done, total), called after each step


def tile_size(n: int, platform: str = "cpu", target: int | None = None) -> int:
    """Rows of one tile for an n × n kernel: equal tiles of at most `target` rows (the
    platform's: TILE_CPU, or TILE_GPU on an accelerator)."""
    if n < 1:
        raise ValueError(f"a kernel needs at least one row, got {n}")
    target = target or (TILE_CPU if platform == "cpu" else TILE_GPU)
    return math.ceil(n / math.ceil(n / target))


def count(n: int, tile: int) -> int:
    """Tiles along one side."""
    return math.ceil(n / tile)


def upper(t: int) -> list[tuple[int, int]]:
    """The tiles (i, j) on or above the diagonal of a t × t tiling, row by row."""
    return [(i, j) for i in range(t) for j in range(i, t)]


def upper_count(t: int) -> int:
    return t * (t + 1) // 2


class Ticker:
    """Counts a kernel's steps for a progress callback, keeping one step in flight: after
    dispatching step s it waits for step s − 1, so the device always has work queued while the
    host can still stop between steps (JAX dispatches asynchronously: without the wait the host
    would queue every step at once and a cancel would come too late)."""

    def __init__(self, total: int, progress: Progress | None):
        self.total, self.done, self.progress = total, 0, progress
        self._pending = None
        if progress is not None:
            progress(0, total)

    def step(self, out) -> None:
        """Call with the arrays a step just dispatched."""
        self._settle()
        self._pending = out

    def finish(self) -> None:
        self._settle()

    def finished(self) -> None:
        """Count a step the host has already waited for (its result copied to the host)."""
        self._settle()
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)

    def _settle(self) -> None:
        if self._pending is None:
            return
        jax.block_until_ready(self._pending)
        self._pending = None
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)


def _mirrored(tiles: tuple):
    """(i, j, block) for every block of the t × t tiling, from the upper tiles (in the order of
    `upper`): a block below the diagonal is its mirror's transpose, and a diagonal tile is averaged
    with its transpose, so the matrix is exactly symmetric (its two halves differ only by the
    summation order inside one product)."""
    t = math.isqrt(8 * len(tiles) + 1) // 2
    index = {ij: k for k, ij in enumerate(upper(t))}
    for i in range(t):
        for j in range(t):
            if j < i:
                yield i, j, tiles[index[j, i]].T
            elif j == i:
                d = tiles[index[i, i]]
                yield i, j, (d + d.T) * 0.5
            else:
                yield i, j, tiles[index[i, j]]


@partial(jax.jit, static_argnames=("n",))
def assemble(tiles: tuple, n: int):
    """The n × n matrix from its upper tiles (in the order of `upper`), mirrored below the
    diagonal (see `_mirrored`)."""
    t = math.isqrt(8 * len(tiles) + 1) // 2
    blocks = list(_mirrored(tiles))
    rows = [jnp.concatenate([b for _, _, b in blocks[i * t:(i + 1) * t]], axis=1) for i in range(t)]
    return jnp.concatenate(rows, axis=0)[:n, :n]


def assemble_host(tiles: tuple, n: int) -> np.ndarray:
    """`assemble` of NumPy tiles on the host, each block written in place: the matrix and the
    tiles, no copy of either."""
    size = tiles[0].shape[0]
    out = np.empty((n, n), tiles[0].dtype)
    for i, j, block in _mirrored(tiles):
        r, c = min(n, (i + 1) * size) - i * size, min(n, (j + 1) * size) - j * size  # padding off
        out[i * size:i * size + r, j * size:j * size + c] = block[:r, :c]
    return out
