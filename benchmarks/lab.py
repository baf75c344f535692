"""The spectral-bias lab's training speed (issue 13) against a plain jitted GD loop, same run.

Both train the same network from the same initialisation on the same points by full-batch GD on
½‖f − y‖² with the same η, for the same number of steps:

- reference: one `jax.jit` of a `lax.scan` over every step (the fastest plain loop: one call, no
  checkpoint), compiled beforehand;
- lab: `engine.lab.train_study` iterated to the end: chunks of GD steps (one compiled program for
  every chunk), stopping at the log-spaced checkpoints to measure.

Reported: steps/s of each and their ratio (lab training time only; target ≥ 0.9), the ratio with
the checkpoints included, and the checkpoints' share of the lab's run (evaluation on every
sample, projections on K₀'s eigenvectors, the kernel drift K_t, f^lin_t). Best of `--repeats`
alternating runs. K₀, its eigendecomposition and compilation are reported apart.

    scripts/bench lab                          # 1-D camera row, relu 256-256-256, float64
    scripts/bench lab --case image --steps 300 # 2-D 64 × 64 camera, Fourier features, relu 256-256
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import backend, coordinate as co, lab, train  # noqa: E402

backend.configure()
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

from benchkit import machine, save  # noqa: E402


def case(name: str):
    from skimage.data import camera

    img = camera().astype(np.float64) / 255.0
    if name == "row":
        return co.signal_data(img[100]), co.CoordinateSpec(1, (256, 256, 256), activation="relu")
    if name == "image":
        small = img[::8, ::8]  # 64 × 64
        return co.image_data(small), co.CoordinateSpec(2, (256, 256), activation="relu",
                                                       encoding="fourier", fourier_scale=10.0,
                                                       fourier_features=128)
    raise SystemExit(f"unknown case {name!r}: row or image")


def reference_program(spec, steps: int):
    """A plain loop: lax.scan over `steps` GD steps, parameters and data as arguments."""
    grad = jax.grad(partial(train.loss, spec))

    def run(params, z, y, lr):
        def step(p, _):
            return jax.tree.map(lambda w, d: w - lr * d, p, grad(p, z, y)), None

        return lax.scan(step, params, None, length=steps)[0]

    return jax.jit(run)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default="row", choices=("row", "image"))
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--checkpoints", type=int, default=lab.DEFAULT_CHECKPOINTS)
    ap.add_argument("--chunk", type=int, default=lab.DEFAULT_CHUNK)
    ap.add_argument("--dtype", default="float64")
    ap.add_argument("--train", default="all", choices=lab.TRAIN_MODES)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    data, spec = case(args.case)
    net = co.build(spec, seed=0)
    dtype = jnp.dtype(args.dtype)
    print(f"machine: {machine()}")
    print(f"case {args.case}: {spec.describe()}, N = {data.train_samples} training points, "
          f"{data.y.size} in all, {args.steps} steps, {args.checkpoints} checkpoints, "
          f"chunk {args.chunk}, {dtype.name}, train {args.train}")

    def study():
        return lab.train_study(net, data, steps=args.steps, checkpoints=args.checkpoints,
                               train=args.train, dtype=dtype, chunk=args.chunk)

    first = study()  # K₀, eigenvectors and every compilation, timed once here
    model = first.model
    params = jax.tree.map(lambda a: jnp.asarray(a, dtype), model.params)
    z = jnp.asarray(model.z[data.train], dtype)
    y = jnp.asarray(data.y_train, dtype)
    lr = first.initial.lr
    start = time.perf_counter()
    ref = reference_program(model.spec, args.steps).lower(params, z, y, lr).compile()
    ref_compile_s = time.perf_counter() - start
    list(first)  # warms the checkpoint programs (evaluation, kernel, f^lin)

    ref_s, lab_train_s, lab_measure_s, lab_total_s = [], [], [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        jax.block_until_ready(ref(params, z, y, lr))
        ref_s.append(time.perf_counter() - start)
        s = study()
        start = time.perf_counter()
        list(s)
        lab_total_s.append(time.perf_counter() - start)
        summary = s.summary()
        lab_train_s.append(summary.train_s)
        lab_measure_s.append(summary.measure_s)
    best = int(np.argmin(lab_total_s))
    row = {
        "case": args.case, "network": spec.describe(), "train": args.train, "dtype": dtype.name,
        "train_samples": data.train_samples, "samples": int(data.y.size), "steps": args.steps,
        "checkpoints": len(first.initial.steps), "chunk": args.chunk,
        "kernel0_s": first.initial.kernel_s, "lab_compile_s": first.initial.compile_s,
        "reference_compile_s": ref_compile_s,
        "reference_s": min(ref_s), "lab_train_s": lab_train_s[best],
        "lab_measure_s": lab_measure_s[best], "lab_total_s": lab_total_s[best],
    }
    row["reference_steps_per_s"] = args.steps / row["reference_s"]
    row["lab_steps_per_s"] = args.steps / row["lab_train_s"]
    row["ratio_training"] = row["lab_steps_per_s"] / row["reference_steps_per_s"]
    row["ratio_with_checkpoints"] = row["reference_s"] / row["lab_total_s"]
    row["checkpoint_share"] = row["lab_measure_s"] / row["lab_total_s"]
    row["measure_s_per_checkpoint"] = row["lab_measure_s"] / row["checkpoints"]
    print(f"K₀ + eigenvectors + frequencies {row['kernel0_s']:.2f} s; compile: lab chunk "
          f"{row['lab_compile_s']:.2f} s, reference scan {ref_compile_s:.2f} s")
    print(f"reference lax.scan: {row['reference_steps_per_s']:.1f} steps/s ({row['reference_s']:.2f} s)")
    print(f"lab training:       {row['lab_steps_per_s']:.1f} steps/s ({row['lab_train_s']:.2f} s)  "
          f"ratio {row['ratio_training']:.3f}")
    print(f"lab with checkpoints: {row['lab_total_s']:.2f} s  ratio {row['ratio_with_checkpoints']:.3f}; "
          f"checkpoints {row['lab_measure_s']:.2f} s = {100 * row['checkpoint_share']:.1f} % of the run "
          f"({1000 * row['measure_s_per_checkpoint']:.0f} ms each)")
    save(f"lab_{args.case}", {"machine": machine(), "rows": [row]})


if __name__ == "__main__":
    main()
