"""The empirical NTK of any model (a researcher's own, or ntk's MLP through the generic engine), and
its spectrum with or without forming the kernel: the part of `ntk kernel` behind --model,
--implementation, --outputs, --top, --matrix-free and --density (docs/models.md).

Dense: engine.models.empirical_ntk (Jacobian contraction, NTK-vector products or the layer-wise
formula, chosen from a cost model or as asked), then every eigenvalue in float64 with the round-off
floor. Matrix-free (asked for, or chosen when the dense kernel would not fit): products K·V by one
vjp and one jvp, the top eigenpairs by block Lanczos with their residuals as error bounds, λ_min
through the same iteration ("not converged" with its upper bound where it does not), tr K exactly,
and with --density the eigenvalue density by stochastic Lanczos quadrature with its error.
"""

from __future__ import annotations

import time

from ntktui.errors import UserError

TOP_DEFAULT = 10  # eigenpairs the matrix-free spectrum reports when --top is not given


def analyse(progress, *, model, k: int, description: str, x, data: str, implementation: str,
            outputs: str, top: int | None, matrix_free: bool, density: bool, dtype: str, seed: int,
            out: str | None):
    """`model` an engine Model whose k outputs depend each on its own sample (checked)."""
    from engine import backend, distributed
    from engine.models import dense_memory_need
    from ntktui.report import Report

    N = x.shape[0]
    size = N * (k if outputs == "full" else 1)
    dense_bytes = dense_memory_need(N, k, outputs, dtype)
    if distributed.active():  # this process's share of the rows split (process 0's the most)
        dense_bytes = distributed.rows_memory_need(size, backend.resolve_dtype(dtype).itemsize)
    available = backend.available_bytes()
    chosen = "asked for" if matrix_free else None
    # one decision for every process: a process alone going matrix-free would wait for the others
    if not matrix_free and not distributed.all_true(dense_bytes <= available):
        matrix_free, chosen = True, "the dense kernel would not fit"
    if matrix_free and out is not None:
        raise UserError("--out saves the dense kernel; with --matrix-free (or a kernel too large "
                        f"to form: {size:,} × {size:,}) there is none to save")
    head = {"model": description, "data": data, "samples": N, "outputs": outputs, "out_dim": k,
            "size": size, "dtype": backend.resolve_dtype(dtype).name,
            "device": backend.default_device_name(), "matrix_free": matrix_free,
            "matrix_free_reason": chosen, "dense_memory_bytes": dense_bytes}
    if matrix_free:
        payload = _matrix_free(progress, model, x, outputs, top or TOP_DEFAULT, density, dtype,
                               seed)
    else:
        payload = _dense(progress, model, x, implementation, outputs, top, density, dtype, out)
    if payload is None:  # another process than 0: its share is done, process 0 reports
        return Report({}, [])
    from ntktui.studies.kernel import sharing

    payload = {**head, **payload, **sharing("products" if matrix_free else "rows")}
    return Report(payload, blocks(payload))


def _progress(progress, label: str, total: int):
    """A callback for the engine's iterations: one step per product, Ctrl-C and the dashboard's
    cancel taking effect between products."""
    progress.begin(label, total)
    seen = [0]

    def step(done, *_):
        progress.step(max(0, min(done, total) - seen[0]))
        seen[0] = max(seen[0], min(done, total))

    return step


def _dense(progress, model, x, implementation, outputs, top, density, dtype, out) -> dict:
    import numpy as np

    from engine.models import empirical_ntk
    from engine.ntk import kernel_spectrum

    from engine import distributed

    progress.begin(f"the empirical NTK of {x.shape[0]} samples", 1)
    if distributed.active():  # the rows split over the processes, gathered on process 0
        r = distributed.kernel_rows(model, x, implementation=implementation, outputs=outputs,
                                    dtype=dtype)
        if r.matrix is None:
            return None
    else:
        r = empirical_ntk(model, x, implementation=implementation, outputs=outputs, dtype=dtype)
    progress.step()
    start = time.perf_counter()
    K = np.asarray(r.matrix, np.float64)
    spectrum = kernel_spectrum(r.matrix, dtype)
    spectrum_s = time.perf_counter() - start
    ev = spectrum.eigenvalues  # ascending
    payload = {**spectrum.as_dict(), "implementation": r.implementation, "reason": r.reason,
               "block": r.block, "memory_bytes": r.memory_estimate,
               "eigenvalues": [float(v) if v > spectrum.floor else None for v in ev],
               "trace": float(np.trace(K)),
               "timings": {"compile_s": r.compile_s, "kernel_s": r.compute_s,
                           "spectrum_s": spectrum_s}}
    if top:
        count = min(top, K.shape[0])
        lam, vec = np.linalg.eigh(K)
        lam, vec = lam[::-1][:count], vec[:, ::-1][:, :count]
        residuals = np.linalg.norm(K @ vec - vec * lam, axis=0)
        payload["top_eigenvalues"] = [float(v) if v > spectrum.floor else None for v in lam]
        payload["residuals"] = residuals.tolist()
    if density:
        payload["density"] = _dense_density(ev, spectrum.floor)
    if out is not None:
        from ntktui.output import write_atomic

        write_atomic(out, lambda fh: np.save(fh, K), binary=True)
        payload["saved"] = out
    return payload


def _dense_density(ev, floor) -> dict:
    """The eigenvalue density of a dense spectrum, smoothed on the same grid the matrix-free
    estimate uses (exact here: no sampling error)."""
    import numpy as np

    top = float(ev[-1])
    sigma = top / 100
    grid = np.linspace(-3 * sigma, top + 3 * sigma, 200)
    d = grid[None, :] - ev[:, None]
    values = np.exp(-0.5 * (d / sigma) ** 2).sum(0) / (ev.size * sigma * np.sqrt(2 * np.pi))
    return {"method": "exact (dense eigenvalues)", "grid": grid.tolist(),
            "values": values.tolist(), "standard_error": None, "sigma": sigma,
            "below_floor_fraction": float((ev <= floor).mean())}


def _matrix_free(progress, model, x, outputs, top, density, dtype, seed) -> dict:
    from engine import matfree

    op = matfree.KernelOperator(model, x, outputs=outputs, dtype=dtype)
    count = min(top, op.size)
    start = time.perf_counter()
    pairs = matfree.eigsh(op, count, seed=seed,
                          progress=_progress(progress, f"top {count} eigenpairs (products)",
                                             max(3 * count + 64, 100)))
    top_s = time.perf_counter() - start
    low = matfree.lambda_min(op, seed=seed, progress=_progress(progress, "λ_min (products)", 512))
    progress.begin("tr K (per-sample gradients)", 1)
    tr = matfree.exact_trace(op)
    progress.step()
    converged = bool(pairs.all_converged)
    payload = {"implementation": "matrix-free (NTK-vector products, block Lanczos)",
               "top_eigenvalues": pairs.as_dict()["eigenvalues"],
               "residuals": [float(r) for r in pairs.residuals],
               "converged": [bool(c) for c in pairs.converged],
               "all_converged": converged, "krylov_dim": pairs.krylov_dim,
               "products": op.products, "floor": pairs.floor,
               "lambda_max": float(pairs.values[0]), "lambda_max_residual": float(pairs.residuals[0]),
               "lambda_min": low.value, "lambda_min_converged": low.converged,
               "lambda_min_upper_bound": low.upper_bound, "lambda_min_residual": low.residual,
               "below_floor": low.below_floor, "condition": low.condition,
               "trace": tr.trace,
               "timings": {"kernel_s": op.product_s, "spectrum_s": top_s,
                           "product_s": op.product_s / max(op.products, 1)}}
    if density:
        d = matfree.density(op, seed=seed,
                            progress=_progress(progress, "eigenvalue density (products)", 8 * 40))
        payload["density"] = {"method": "stochastic Lanczos quadrature", **d.as_dict()}
    from engine import distributed

    return payload if distributed.is_main() else None  # every product is done; 0 reports


def blocks(p: dict) -> list:
    from ntktui.output import fmt
    from ntktui.render import Plot, Series
    from ntktui.report import Note, Table

    out = []
    if p.get("eigenvalues"):
        ev = [v for v in p["eigenvalues"][::-1] if v is not None]
        out.append(Plot(f"NTK eigenvalues, largest first (N={p['samples']})", "k", "λ_k",
                        [Series("eigenvalues", list(range(1, len(ev) + 1)), ev)], log_y=True,
                        hlines=[(p["floor"], "round-off floor")] if p["floor"] > 0 else []))
    elif p.get("top_eigenvalues"):
        kept = [(i + 1, v) for i, v in enumerate(p["top_eigenvalues"]) if v is not None]
        if kept:
            out.append(Plot(f"Top {len(p['top_eigenvalues'])} NTK eigenvalues (matrix-free, "
                            f"N={p['samples']})", "k", "λ_k",
                            [Series("Ritz values", [k for k, _ in kept], [v for _, v in kept])],
                            log_y=True))
    if p.get("density"):
        d = p["density"]
        out.append(Plot(f"Eigenvalue density ({d['method']})", "λ", "density",
                        [Series("density", d["grid"], d["values"])]))
    if p["matrix_free"]:
        lmin = p["lambda_min"]
        lmin_text = ("below floor" if p["below_floor"] else fmt(lmin) if lmin is not None else
                     f"not converged (≤ {fmt(p['lambda_min_upper_bound'])}, residual "
                     f"{fmt(p['lambda_min_residual'])})")
        worst = max(p["residuals"]) if p["residuals"] else None
        rows = [("model", p["model"]), ("data", p["data"]),
                ("kernel", f"{p['size']:,} × {p['size']:,} ({p['outputs']}), never formed: "
                           f"{p['matrix_free_reason']}"),
                ("λ_max", f"{fmt(p['lambda_max'])} ± {fmt(p['lambda_max_residual'])}"),
                ("λ_min", lmin_text),
                ("condition κ", "—" if p["condition"] is None else fmt(p["condition"])),
                ("tr K (exact)", fmt(p["trace"])),
                ("top pairs converged", f"{sum(p['converged'])} of {len(p['converged'])} "
                                        f"(largest residual {fmt(worst)})"),
                ("products", f"{p['products']:,}, {p['timings']['product_s']:.3g} s each")]
        out.append(Table("Matrix-free NTK spectrum", ["", "value"], rows))
        out.append(Note("[dim]Each Ritz value θ has a residual r = ‖Ku − θu‖: some eigenvalue of K "
                        "lies within r of θ.[/dim]"))
    else:
        rows = [("model", p["model"]), ("data", p["data"]),
                ("implementation", f"{p['implementation']} ({p['reason']})"),
                ("λ_min", "below floor" if p["below_floor"] else p["lambda_min"]),
                ("λ_max", p["lambda_max"]),
                ("condition κ", "—  (λ_min below floor)" if p["below_floor"] else p["condition"]),
                ("round-off floor", p["floor"]), ("tr K", p["trace"]),
                ("compile / kernel / spectrum", " / ".join(f"{p['timings'][k]:.2f} s" for k in
                                                           ("compile_s", "kernel_s",
                                                            "spectrum_s")))]
        out.append(Table("Empirical NTK", ["", "value"], rows))
    if p.get("top_eigenvalues") and not p["matrix_free"]:
        out.append(Table("Top eigenpairs", ["k", "λ_k", "residual"],
                         [(i + 1, v, r) for i, (v, r) in
                          enumerate(zip(p["top_eigenvalues"], p["residuals"]))]))
    if p.get("saved"):
        out.append(Note(f"[dim]kernel saved to {p['saved']}[/dim]"))
    return out
