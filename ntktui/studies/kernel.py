"""NTK of a deep MLP, empirical or at infinite width: λ_min, λ_max, condition number, spectrum.

The empirical kernel is computed layer by layer (docs/maths.md), never forming the Jacobian; layers
wider than the chunk stream through memory and are spread over every local device. --infinite
gives the infinite-width NTK Θ^L instead (ntk parameterisation, σ_w² = sigma_w², in
float64): closed forms where they exist, else Gauss–Hermite quadrature with its error estimate
(--order). Its depth L counts weight layers: --depth L, or the number of --hidden widths + 1
(the widths themselves do not matter then); the JSON has "parameters": null and null hidden
widths (infinitely many). A λ_min below the round-off floor N·ε·λ_max is reported as "below
floor", not as a number. Inputs: --data FILE, --dataset NAME, --grid S (the S × S coordinates
of [0, 1)², n0 = 2) or synthetic Gaussian rows of norm √n0. Hidden widths default to 512,512 (or
512 repeated L − 1 times with --depth L).

Your own model: --model FILE.py:NAME, NAME a function returning a Flax NNX module, an Equinox
module, (linen_module, variables) or (apply, params) (docs/models.md). Its exact kernel comes from
Jacobian contraction or NTK-vector products (--implementation, chosen from a cost model by
default), summed over outputs or --outputs full. --top K reports the K largest eigenpairs with
their residuals; --matrix-free never forms the kernel (chosen by itself when the kernel would not
fit): top eigenpairs by block Lanczos with error bounds, λ_min (or "not converged" with its bound),
tr K exactly, and --density the eigenvalue density by stochastic Lanczos quadrature.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ntktui.errors import UserError
from ntktui.params import FLAG, INT, TEXT, Param, widths
from ntktui.studies import Study, shared

DEFAULT_WIDTH = 512


def analyse(progress, *, act, hidden, depth, infinite, data, dataset, samples, n0, scale, param,
            sigma_w, sigma_b, seed, dtype, chunk, order, out, model, grid, implementation,
            outputs, top, matrix_free, density, tolerance=None):
    from ntktui import data as datasets
    from ntktui.report import Report

    pts = datasets.grid(grid) if grid is not None else datasets.points(
        data, samples, n0, seed, default_samples=100, default_n0=10, dataset=dataset)
    x = pts.values
    if model is not None or generic(implementation, outputs, top, matrix_free, density):
        return any_model(progress, x, pts.description, model, act, hidden, depth, scale, param,
                         sigma_w, sigma_b, seed, dtype, out, implementation, outputs, top,
                         matrix_free, density)
    hidden_widths = resolve_hidden(hidden, depth, x.shape[0])

    from engine import distributed

    if infinite:
        if not distributed.is_main():  # no collectives: process 0 computes it alone
            return Report({}, [])
        report, matrix = infinite_kernel(
            x, act, len(hidden_widths) + 1, scale, sigma_w, sigma_b, order,
            keep_matrix=out is not None, tolerance=tolerance, progress=shared.kernel_progress(
                progress, f"infinite-width NTK of {x.shape[0]} samples (tiles)"))
    else:
        from engine import backend
        from engine.mlp import MLPSpec
        from engine.ntk import empirical_kernel

        spec = MLPSpec((x.shape[1], *hidden_widths, 1), act, scale, param, sigma_w, sigma_b)
        label = (f"empirical NTK of {x.shape[0]} samples, {spec.parameter_count:,} parameters "
                 "(tiles)")
        if distributed.split() == "rows":
            progress.begin(label, 1)
            report, matrix = rows_kernel(spec, x, seed, backend.resolve_dtype(dtype))
            progress.step()
        else:
            result = empirical_kernel(spec, x, seed=seed, dtype=backend.resolve_dtype(dtype),
                                      chunk=chunk, keep_matrix=out is not None,
                                      progress=shared.kernel_progress(progress, label))
            report, matrix = (KernelReport.empirical(result) if result.spectrum is not None
                              else None), result.matrix
        if report is None:  # another process than 0: its share is done, process 0 reports
            return Report({}, [])
        report.extra.update(sharing())
    if out is not None:
        _save(out, matrix)
    return Report(result_json(report, pts.description),
                  kernel_blocks(report, pts.description, out))


def sharing(split: str | None = None) -> dict:
    """How the work was shared among processes (width, rows or products), for the JSON
    (nothing on one process)."""
    from engine import distributed

    if not distributed.active():
        return {}
    return {"distributed": {"processes": distributed.process_count(),
                            "devices": distributed.device_count(),
                            "split": split or distributed.split()}}


def rows_kernel(spec, x, seed, dtype):
    """ntk's MLP with the kernel's rows split over the processes (engine.distributed): a
    KernelReport and the matrix on process 0, (None, None) elsewhere."""
    from engine import distributed
    from engine.mlp import init
    from engine.ntk import kernel_spectrum

    start = time.perf_counter()
    r = distributed.kernel_rows((spec, init(spec, seed, dtype)), x, dtype=dtype)
    if r.matrix is None:
        return None, None
    kernel_s = time.perf_counter() - start - r.compile_s
    start = time.perf_counter()
    spectrum = kernel_spectrum(r.matrix, dtype)
    report = KernelReport(spectrum, x.shape[0], r.dtype, spec.act.name, spec.scale,
                          list(spec.widths), spec.param, spec.sigma_w, spec.sigma_b,
                          spec.parameter_count, distributed.device_count(), None, [],
                          r.memory_estimate, r.compile_s, kernel_s, time.perf_counter() - start,
                          extra={"method": f"rows split ({r.implementation})", "order": None,
                                 "quadrature_error": None})
    return report, r.matrix


def generic(implementation, outputs, top, matrix_free, density) -> bool:
    """Options only the generic engine (engine.models, engine.matfree) serves."""
    return (implementation != "auto" or outputs != "trace" or top is not None or matrix_free
            or density)


def any_model(progress, x, description, model, act, hidden, depth, scale, param, sigma_w,
              sigma_b, seed, dtype, out, implementation, outputs, top, matrix_free, density):
    """The user's model (--model), or ntk's MLP through the generic engine."""
    from ntktui import anymodel, usermodel

    if model is not None:
        user = usermodel.load(model)
        k = usermodel.check_model(user, x)
        the_model, name = user.model, user.description
    else:
        from engine.mlp import MLPSpec, init
        from engine.models import as_model

        spec = MLPSpec((x.shape[1], *resolve_hidden(hidden, depth, x.shape[0]), 1), act, scale,
                       param, sigma_w, sigma_b)
        the_model = as_model((spec, init(spec, seed)))
        k, name = 1, f"ntk's MLP {list(spec.widths)}, {act}, {param}"
    return anymodel.analyse(progress, model=the_model, k=k, description=name, x=x,
                            data=description, implementation=implementation, outputs=outputs,
                            top=top, matrix_free=matrix_free, density=density, dtype=dtype,
                            seed=seed, out=out)


NETWORK = ("act", "hidden", "depth", "scale", "param", "sigma_w", "sigma_b", "chunk")


def resolve_hidden(hidden: str | None, depth: int | None, samples: int) -> list[int]:
    """Hidden widths from --hidden and/or --depth (L weight layers = L − 1 hidden layers)."""
    if hidden is None:
        return [DEFAULT_WIDTH] * ((depth or 3) - 1)
    hidden_widths = widths(hidden, samples)
    if depth is not None and depth != len(hidden_widths) + 1:
        raise UserError(f"--depth {depth} disagrees with --hidden {hidden!r} "
                        f"({len(hidden_widths)} hidden layers = depth {len(hidden_widths) + 1}); "
                        "give one of them")
    return hidden_widths


def check(values: dict) -> None:
    """Options that apply to one kernel only; one source of data."""
    shared.check_data_options(values)
    if values["grid"] is not None:
        given = [f"--{k}" for k in ("data", "dataset", "samples", "n0") if values[k] is not None]
        if given:
            raise UserError(f"--grid makes the data (S × S points of [0, 1)², n0 = 2); drop "
                            f"{', '.join(given)}")
    if values["model"] is not None:
        defaults = STUDY.defaults()
        given = [STUDY.param(k).flag for k in (*NETWORK, "infinite")
                 if values[k] != defaults[k]]
        if given:
            raise UserError(f"{', '.join(given)} describe ntk's own network; with --model your "
                            "file defines the network")
    if values["implementation"] == "layerwise" and values["model"] is not None:
        raise UserError("--implementation layerwise is ntk's own MLP formula; a model from a "
                        "file takes auto, contraction or products")
    if values["infinite"] and generic(values["implementation"], values["outputs"], values["top"],
                                      values["matrix_free"], values["density"]):
        raise UserError("--infinite is the closed-form kernel; --implementation, --outputs, "
                        "--top, --matrix-free and --density apply to empirical kernels")
    if values["matrix_free"] and values["out"] is not None:
        raise UserError("--out saves the dense kernel; --matrix-free never forms it")
    if values["infinite"]:
        if values["param"] != "ntk":
            raise UserError(f"--infinite uses the ntk parameterisation; drop --param "
                            f"{values['param']}")
        if values["dtype"] != "float64":
            raise UserError(f"--infinite computes in float64; --dtype {values['dtype']} applies "
                            "to the empirical kernel only")
        if values["chunk"] is not None:
            raise UserError("--chunk applies to the empirical kernel only, not --infinite")
    elif values.get("tolerance") is not None:
        raise UserError("--tolerance applies to the infinite-width kernel (--infinite) only")


@dataclass
class KernelReport:
    """What the output needs from either kernel: the spectrum, the network and the run. Hidden
    widths are None (infinite) for the infinite-width kernel, whose parameter count is None."""

    spectrum: object  # engine.ntk.KernelSpectrum
    samples: int
    dtype: str
    activation: str
    scale: float
    widths: list
    param: str
    sigma_w: float
    sigma_b: float
    parameters: int | None
    devices: int
    chunk: int | None
    streamed_layers: list
    memory_bytes: int
    compile_s: float
    kernel_s: float  # the kernel alone
    spectrum_s: float  # its eigenvalues
    infinite: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def depth(self) -> int:
        return len(self.widths) - 1

    @classmethod
    def empirical(cls, r) -> "KernelReport":
        spec = r.spec
        return cls(r.spectrum, r.samples, r.dtype, spec.act.name, spec.scale, list(spec.widths),
                   spec.param, spec.sigma_w, spec.sigma_b, spec.parameter_count, r.plan.devices,
                   r.plan.chunk, list(r.plan.streamed_layers), r.memory_estimate, r.compile_s,
                   r.kernel_s, r.spectrum_s, extra={"method": "layer-wise", "order": None,
                                       "quadrature_error": None})


def infinite_kernel(x, act_name: str, depth: int, scale: float, sigma_w: float, sigma_b: float,
                    order: int, keep_matrix: bool = False, tolerance: float | None = None,
                    progress=None):
    """Θ^depth on x and its spectrum, as a KernelReport (and the matrix if asked for)."""
    import numpy as np

    from engine import infinite as inf
    from engine.activations import get
    from engine.ntk import kernel_spectrum

    act = get(act_name)
    opts = dict(sigma_w2=sigma_w**2, sigma_b2=sigma_b**2, scale=scale, order=order)
    start = time.perf_counter()
    compile_s = inf.compile_layers(x, act, depth, **opts) if tolerance is None else 0.0
    k = inf.kernels(x, act, depth, tolerance=tolerance, progress=progress, **opts)
    kernel_s = time.perf_counter() - start - compile_s
    start = time.perf_counter()
    spectrum = kernel_spectrum(k.ntk, "float64")
    matrix = np.asarray(k.ntk) if keep_matrix else None
    spectrum_s = time.perf_counter() - start
    closed = inf.has_closed_form(act)
    errors = [e.as_dict() for e in k.errors]
    rels = [e["sigma_rel"] for e in errors]
    extra = {"method": "closed form" if closed else "quadrature",
             "order": None if closed else (errors[-1]["order"] if errors else order),
             # the last layer's bound (followed through every layer) and the worst per-layer
             # relative bound of Σ^l; None where a bound is unresolved
             "quadrature_error": None if not errors else {
                 **errors[-1],
                 "worst_sigma_rel": None if None in rels else max(rels),
                 "ntk_rel": None if errors[-1]["ntk_abs"] is None
                 else errors[-1]["ntk_abs"] / spectrum.lambda_max}}
    report = KernelReport(spectrum, x.shape[0], "float64", act.name, scale,
                          [x.shape[1], *[None] * (depth - 1), 1], "ntk", sigma_w, sigma_b, None, 1,
                          None, [], inf.memory_bytes(x.shape[0], act, order=order), compile_s,
                          kernel_s, spectrum_s, infinite=True, extra=extra)
    return report, matrix


def _save(path: str, matrix) -> None:
    import numpy as np

    from ntktui.output import write_atomic

    write_atomic(path, lambda fh: np.save(fh, matrix), binary=True)


def result_json(report: KernelReport, description: str) -> dict:
    from engine import backend

    s = report.spectrum
    ev = s.eigenvalues
    return {
        **s.as_dict(),
        "samples": report.samples,
        "parameters": report.parameters,  # null at infinite width
        "dtype": report.dtype,
        "device": backend.default_device_name(),
        "devices": report.devices,
        "infinite": report.infinite,
        "depth": report.depth,
        "activation": report.activation,
        "scale": report.scale,
        "widths": list(report.widths),  # null hidden widths: infinite
        "param": report.param,
        "sigma_w": report.sigma_w,
        "sigma_b": report.sigma_b,
        "data": description,
        "chunk": report.chunk,
        "streamed_layers": report.streamed_layers,
        "memory_bytes": report.memory_bytes,
        **report.extra,
        # ascending; values at or below the floor are noise and appear as null
        "eigenvalues": [float(v) if v > s.floor else None for v in ev],
        # compute_s = kernel_s + spectrum_s, kept for earlier readers
        "timings": {"compile_s": report.compile_s, "kernel_s": report.kernel_s,
                    "spectrum_s": report.spectrum_s,
                    "compute_s": report.kernel_s + report.spectrum_s},
    }


def eigen_plot(spectrum, title: str):
    import numpy as np

    from ntktui.render import Plot, Series

    ev = spectrum.eigenvalues[::-1]
    keep = ev > spectrum.floor
    k = np.arange(1, ev.size + 1)
    # The floor line is drawn only where it matters: it would squash a well-resolved spectrum.
    near = spectrum.below_floor or spectrum.floor > 1e-3 * spectrum.eigenvalues[0]
    return Plot(title=title, xlabel="k", ylabel="λ_k", log_y=True,
                series=[Series("eigenvalues", k[keep], ev[keep])],
                hlines=[(spectrum.floor, "round-off floor")] if near and spectrum.floor > 0 else [])


def kernel_blocks(report: KernelReport, description: str, out=None) -> list:
    from engine import backend
    from engine.errors import format_bytes
    from ntktui.report import Note, Table

    s = report.spectrum
    r = report
    if r.infinite:
        network = (f"{r.activation} s={r.scale:g}, depth {r.depth}, infinite width, ntk, "
                   f"σ_w={r.sigma_w:g}, σ_b={r.sigma_b:g}")
        err = r.extra.get("quadrature_error")
        method = r.extra["method"] + (
            f" (order {r.extra['order']}, NTK error "
            + ("unresolved" if err["ntk_rel"] is None else f"≤ {err['ntk_rel']:.1e} of λ_max")
            + ("; tolerance not met" if err.get("tolerance_met") is False else "") + ")"
            if err else "")
        setup = [("method", method)]
    else:
        network = (f"{r.activation} s={r.scale:g}, widths {r.widths}, {r.param}, "
                   f"σ_w={r.sigma_w:g}, σ_b={r.sigma_b:g}")
        setup = [("chunk", f"{r.chunk} (streamed layers: {r.streamed_layers or 'none'})")]
    rows = [
        ("network", network),
        ("data", description),
        ("parameters", "∞ (infinite width)" if r.parameters is None else r.parameters),
        ("λ_min", "below floor" if s.below_floor else s.lambda_min),
        ("λ_max", s.lambda_max),
        ("condition κ", "—  (λ_min below floor)" if s.below_floor else s.condition),
        ("round-off floor", s.floor),
        ("dtype / device", f"{r.dtype} / {backend.default_device_name()} × {r.devices}"),
        *setup,
        ("memory", format_bytes(r.memory_bytes)),
        ("compile / kernel / eigenvalues",
         f"{r.compile_s:.2f} s / {r.kernel_s:.2f} s / {r.spectrum_s:.2f} s"),
    ]
    kind = "Infinite-width NTK" if r.infinite else "Empirical NTK"
    blocks = [eigen_plot(s, f"{'Infinite-width ' if r.infinite else ''}NTK eigenvalues, "
                            f"largest first (N={r.samples})"),
              Table(kind, ["", "value"], rows)]
    if out:
        blocks.append(Note(f"[dim]kernel saved to {out}[/dim]"))
    return blocks


def check_model_spec(spec: str, p: Param) -> None:
    from ntktui.usermodel import check_spec

    check_spec(spec, p)


def npy_file(path: str, p: Param) -> None:
    if not path.endswith(".npy"):
        raise p.error(f"must name a .npy file, got {path!r}")


def memory(values: dict) -> None:
    from ntktui.data import points_shape

    if values["grid"] is not None:
        N, n0 = values["grid"] ** 2, 2
    else:
        N, n0 = points_shape(values["data"], values["samples"], values["n0"], 100, 10,
                             values["dataset"])
    shared.data_memory(N, n0)
    if values["model"] is not None or generic(values["implementation"], values["outputs"],
                                              values["top"], values["matrix_free"],
                                              values["density"]):
        return  # the engine checks the model's kernel (or its products) before allocating
    hidden = resolve_hidden(values["hidden"], values["depth"], N)
    if values["infinite"]:
        shared.infinite_memory(N, values["act"], values["order"], values.get("tolerance"))
        return
    widths = (n0, *hidden, 1)
    check = lambda: shared.empirical_memory(widths, values["act"], values["scale"],  # noqa: E731
                                            values["param"], values["sigma_w"], values["sigma_b"],
                                            N, values["dtype"], values["chunk"])
    if shared.resolve_split(check) == "rows":
        shared.rows_memory(N, values["dtype"])
    else:
        check()


STUDY = Study(
    name="kernel", order=70, help=__doc__, analyse=analyse, memory=memory, check=check,
    distributed=True,
    params=(
        shared.ACT,
        shared.HIDDEN.with_(default_text="512,512"),
        Param("depth", INT, None, help="Weight layers L (hidden layers + 1); must agree with "
              "--hidden if both are given.", flags=("--depth", "-L"), lo=1, hi=shared.MAX_DEPTH,
              default_text="3"),
        Param("infinite", FLAG, False, help="The infinite-width NTK (ntk parameterisation, "
              "float64) instead of a sampled network."),
        shared.DATA,
        shared.DATASET,
        shared.DATA_SAMPLES,
        shared.N0.with_(default_text="10"),
        shared.ACT_SCALE,
        shared.PARAM,
        shared.SIGMA_W,
        shared.SIGMA_B,
        shared.SEED,
        shared.DTYPE,
        shared.CHUNK,
        shared.ORDER.with_(help="Gauss–Hermite order for activations without a closed form "
                           "(--infinite)."),
        shared.TOLERANCE,
        Param("out", TEXT, None, help="Save the kernel matrix to FILE.npy.", unit="file",
              check=npy_file, lookup=shared.writable_file),
        Param("model", TEXT, None, help="Your own model: FILE.py:NAME, NAME a function returning "
              "a Flax NNX module, an Equinox module, (linen_module, variables) or (apply, "
              "params).", unit="file", check=check_model_spec),
        Param("grid", INT, None, help="Data: the S × S coordinates of [0, 1)² (n0 = 2, N = S²).",
              lo=2, hi=4096),
        Param("implementation", TEXT, "auto", help="How the exact kernel is computed: auto (a "
              "cost model), contraction, products or layerwise (ntk's MLP).",
              choices=("auto", "contraction", "products", "layerwise")),
        Param("outputs", TEXT, "trace", help="Several outputs: trace (summed, N × N) or full "
              "(Nk × Nk).", choices=("trace", "full")),
        Param("top", INT, None, help="Report the K largest eigenpairs with their residuals.",
              lo=1, hi=10000, default_text="none (matrix-free: 10)"),
        Param("matrix_free", FLAG, False, help="Never form the kernel: top eigenpairs, λ_min and "
              "tr K from kernel-vector products (chosen when the kernel would not fit)."),
        Param("density", FLAG, False, help="The eigenvalue density (stochastic Lanczos "
              "quadrature when matrix-free)."),
    ),
)
