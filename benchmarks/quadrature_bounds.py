"""Reported quadrature error bounds against the true errors (docs/maths.md#quadrature-error-bounds).

For each activation without a usable closed form (tanh, silu, sinc) and gelu computed by
quadrature (its closed form is the exact reference), at depths 2–4 (depth 1 has no quadrature)
and a grid of σ_w, σ_b and scales, the infinite-width NNGP and NTK at order --order are compared
with a reference (order --reference, or gelu's closed form). Prints reported bound, true error and
their ratio for Θ and Σ; exits 1 if any bound understates its true error.

    PYTHONPATH=$PWD python benchmarks/quadrature_bounds.py [--order 64] [--reference 400]
"""

from __future__ import annotations

import argparse
import itertools
import sys

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--order", type=int, default=64)
    ap.add_argument("--reference", type=int, default=400)
    ap.add_argument("--samples", type=int, default=24)
    ap.add_argument("--n0", type=int, default=8)
    ap.add_argument("--acts", default="tanh,silu,sinc,gelu")
    args = ap.parse_args(argv)

    from engine import data, infinite as inf
    from engine.activations import get

    x = data.sphere_points(args.samples, args.n0, seed=3)
    grid = list(itertools.product(args.acts.split(","), (4,), (0.8, 1.3, 2.0), (0.0, 0.2),
                                  (1.0, 2.0)))
    print(f"{'act':5} {'σ_w':>4} {'σ_b':>4} {'s':>3} {'L':>2}  {'Θ bound':>9} {'Θ true':>9} "
          f"{'ratio':>6}  {'Σ bound':>9} {'Σ true':>9} {'ratio':>6}")
    worst, bad, unresolved = 0.0, 0, 0
    for name, depth, sw, sb, s in grid:
        act = get(name)
        opts = dict(sigma_w2=sw * sw, sigma_b2=sb * sb, scale=s)
        got = list(inf.layers(x, act, depth, method="quadrature", order=args.order, **opts))
        if inf.has_closed_form(act):
            ref = list(inf.layers(x, act, depth, method="closed", **opts))
        else:
            ref = list(inf.layers(x, act, depth, order=args.reference, check_error=False, **opts))
        for g, r in zip(got[1:], ref[1:]):
            e = g.error
            t_true = float(np.max(np.abs(np.asarray(g.ntk) - np.asarray(r.ntk))))
            s_true = float(np.max(np.abs(np.asarray(g.nngp) - np.asarray(r.nngp))))
            cells = []
            for bound, true in ((e.ntk_abs, t_true), (e.sigma_abs, s_true)):
                if bound is None:
                    unresolved += 1
                    cells.append(f"{'unresolved':>9} {true:9.1e} {'':>6}")
                    continue
                ratio = true / bound
                worst = max(worst, ratio)
                bad += ratio > 1
                cells.append(f"{bound:9.1e} {true:9.1e} {ratio:6.2f}")
            print(f"{name:5} {sw:4.1f} {sb:4.1f} {s:3.0f} {g.depth:2d}  {'  '.join(cells)}")
    print(f"largest true/bound: {worst:.2f}; bounds exceeded: {bad}; unresolved: {unresolved}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
