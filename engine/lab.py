"""The spectral-bias lab: full-batch GD on a coordinate network against its NTK prediction
(docs/lab.md).

Linearised at initialisation θ₀, GD on L(θ) = ½‖f(X) − y‖² with step η moves the training residual
by r ← (I − ηK₀) r, K₀ = J₀J₀ᵀ the empirical NTK. With K₀ = U diag(λ) Uᵀ, component i of the
residual, c_i = u_iᵀ r, decays as (1 − ηλ_i)^t: the fraction of it learned after t steps is seed
003's GD mask 1 − (1 − ηλ_i)^t. A study

- computes K₀ (layer-wise, float64) on the training points, its eigenvectors, their frequencies
  and c₀; refuses η ≥ 2/λ_max (the linearised dynamics diverge) and memory that would not fit;
- trains the network (all layers, or only the last: then the model is linear in what it trains
  and the prediction is exact) by compiled chunks of GD steps, one program for every chunk;
- at log-spaced checkpoints measures the residual's components and their band energies against
  the prediction, the kernel drift ‖K_t − K₀‖_F/‖K₀‖_F, and PSNR on the training and held-out
  points of the network and of the linearised network f^lin_t.

`train_study` does the preparation at once (so a bad request fails before any training) and
returns a `Study`; iterating it yields one `Checkpoint` at a time, so a front end shows each as it
comes and stops between them (and, through `cancelled`, between chunks of steps).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from engine import backend
from engine.errors import EngineError, InsufficientMemory

backend.configure()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.scipy.fft import dct, dctn  # noqa: E402

from engine import mlp, ntk, train as gd  # noqa: E402
from engine.coordinate import Data, Network  # noqa: E402
from engine.data import require_finite  # noqa: E402
from engine.mlp import MLPSpec  # noqa: E402
from engine.reconstruct import psnr  # noqa: E402

TRAIN_MODES = ("all", "last")
DEFAULT_CHECKPOINTS = 20
DEFAULT_CHUNK = gd.DEFAULT_CHUNK  # GD steps per compiled call: the longest a cancel waits
# Bands whose predicted energy is below this are left out of the deviation: their measured
# energy is then round-off and nonlinearity of a component already learned, and its log ratio
# would dominate the mean.
DEVIATION_FLOOR = 1e-6


# --- the prediction, per eigen-component ----------------------------------------------------

def decay(lam, eta: float, t) -> np.ndarray:
    """(1 − ηλ)^t, accurate where ηλ is tiny and t huge (log1p), signed where ηλ > 1."""
    x = eta * np.asarray(lam, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    base = 1.0 - x
    with np.errstate(divide="ignore", invalid="ignore"):
        small = np.exp(t * np.log1p(-np.minimum(x, 0.5)))
        large = np.sign(base) ** t * np.abs(base) ** t
    return np.where(x < 0.5, small, large)


def gain(lam, eta: float, t) -> np.ndarray:
    """g(λ) = (1 − (1 − ηλ)^t)/λ = −expm1(t·log1p(−ηλ))/λ, and ηt where λ = 0: no division by a
    vanishing eigenvalue. f^lin_t = f₀ − K₀(·, X) U diag(g) Uᵀ r₀."""
    lam = np.asarray(lam, dtype=np.float64)
    x = eta * lam
    t = np.asarray(t, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        # −expm1(t·log1p(−x))/x is accurate down to the smallest x; at x = 0 its limit is t.
        small = -np.expm1(t * np.log1p(-np.minimum(x, 0.5))) / x
        large = (1.0 - decay(lam, eta, t)) / x
    ratio = np.where(x == 0, t, np.where(x < 0.5, small, large))
    return eta * ratio


def checkpoint_steps(steps: int, count: int) -> np.ndarray:
    """Log-spaced steps 1 ≤ t₁ < … < t_C = steps (C ≤ count: duplicates at the start merge)."""
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise EngineError(f"steps must be a positive integer, got {steps}")
    if not isinstance(count, (int, np.integer)) or count < 1:
        raise EngineError(f"checkpoints must be a positive integer, got {count}")
    t = np.unique(np.rint(np.geomspace(1, steps, count)).astype(np.int64))
    t[-1] = steps
    return t


def make_bands(n: int, count: int | None = None) -> tuple[tuple[int, int], ...]:
    """Eigen-indices 1…n grouped into log-spaced bands (first, last), 1-based and inclusive.
    Default: doubling bands 1, 2–3, 4–7, …, the last running to n. With `count`, that many bands
    with geometric edges (fewer where small indices would repeat)."""
    if n < 1:
        raise EngineError(f"bands need at least one component, got {n}")
    if count is None:
        k = max(1, int(math.floor(math.log2(n))))
        edges = [2**b for b in range(k)] + [n + 1]
    else:
        if not isinstance(count, (int, np.integer)) or not 1 <= count <= n:
            raise EngineError(f"bands must be an integer from 1 to {n} (the training points), got {count}")
        edges = sorted(set(np.rint(np.geomspace(1, n + 1, count + 1)).astype(int).tolist()))
    return tuple((int(a), int(b) - 1) for a, b in zip(edges[:-1], edges[1:]))


def band_energies(c, c0, bands) -> np.ndarray:
    """E_b = Σ_{i∈b} c_i² / Σ_{i∈b} c_{0,i}² for each band (NaN where c₀ has no energy)."""
    c, c0 = np.asarray(c, np.float64), np.asarray(c0, np.float64)
    out = np.empty(len(bands))
    for k, (a, b) in enumerate(bands):
        den = float(np.sum(c0[a - 1:b] ** 2))
        out[k] = float(np.sum(c[a - 1:b] ** 2)) / den if den > 0 else np.nan
    return out


def deviation(measured, predicted, floor: float = DEVIATION_FLOOR) -> float | None:
    """Mean |log10 E_b − log10 Ê_b| over checkpoints and bands with Ê_b > floor (None if none)."""
    m, p = np.asarray(measured, np.float64), np.asarray(predicted, np.float64)
    ok = np.isfinite(m) & np.isfinite(p) & (p > floor)
    if not ok.any():
        return None
    tiny = np.finfo(np.float64).tiny  # a measured energy of exactly 0 is counted at the bottom
    return float(np.mean(np.abs(np.log10(np.maximum(m[ok], tiny)) - np.log10(p[ok]))))


def frequencies(U, train_shape: tuple[int, ...]) -> np.ndarray:
    """Each eigenvector's frequency: for a signal the index of its largest |DCT-II| coefficient,
    for an image the radial frequency √(k_x² + k_y²) of its largest 2-D DCT-II coefficient."""
    V = jnp.asarray(U).T  # row i = u_i
    if len(train_shape) == 1:
        return np.asarray(jnp.argmax(jnp.abs(dct(V, norm="ortho", axis=1)), axis=1), np.float64)
    h, w = train_shape
    coef = jnp.abs(dctn(V.reshape(-1, h, w), axes=(1, 2), norm="ortho")).reshape(V.shape[0], -1)
    ky, kx = jnp.divmod(jnp.argmax(coef, axis=1), w)
    return np.asarray(jnp.sqrt(kx.astype(jnp.float64) ** 2 + ky.astype(jnp.float64) ** 2))


# --- what is trained ------------------------------------------------------------------------

@dataclass(frozen=True)
class Model:
    """The part of a network GD trains, as an MLP on its own inputs: the whole network on the
    encoded coordinates ("all"), or its last layer on the last hidden layer's activations
    ("last": a linear model, so its kernel never moves)."""

    spec: MLPSpec
    params: list  # float64, at initialisation
    z: np.ndarray  # (L, n₀) float64, the inputs on every sample


def hidden_features(spec: MLPSpec, params, z):
    """a_{L−1}: the last hidden layer's activations."""
    a = z
    for l in range(1, spec.depth):
        a = spec.act.apply(mlp.layer_pre(spec, l, params[l - 1], a), spec.scale)
    return a


def last_layer_spec(spec: MLPSpec) -> MLPSpec:
    """The last layer alone as a one-layer MLP: same parameterisation, so the same factors
    (σ_w/√n_{L−1}, σ_b); its activation is never applied."""
    return MLPSpec((spec.widths[-2], spec.widths[-1]), "linear", 1.0, spec.param, spec.sigma_w,
                   spec.sigma_b)


def trained_model(net: Network, data: Data, train: str) -> Model:
    z = net.features(data.x)
    if train == "all":
        return Model(net.spec, net.params, z)
    a = np.asarray(_hidden(net.spec, net.params, jnp.asarray(z)))
    return Model(last_layer_spec(net.spec), [net.params[-1]], a)


_hidden = jax.jit(hidden_features, static_argnums=0)


# --- memory ---------------------------------------------------------------------------------

def memory_needed(spec: MLPSpec, train_samples: int, samples: int, train: str, dtype) -> int:
    """Bytes a study needs at its peak, from the sizes alone: what stays (θ₀ in float64 and θ_t,
    the inputs, K₀ and its eigenvectors U, N × N in float64) plus the largest of what comes and
    goes (the eigensolver's copy and workspace, the layer-wise kernel at a checkpoint, a GD step,
    the network and its linearisation on every sample)."""
    item = jnp.dtype(dtype).itemsize
    N, L = int(train_samples), int(samples)
    P = spec.parameter_count
    n = spec.widths
    n_in = n[-2] if train == "last" else n[0]
    trained = last_layer_spec(spec) if train == "last" else spec
    units = sum(trained.widths[1:])
    # the inputs: on the host, on the device in float64 and in the training dtype
    stays = P * (8 + item) + 2 * N * N * 8 + L * n_in * (16 + item) + 6 * L * 8
    kplan = ntk.make_plan(trained, N, ntk.DEFAULT_CHUNK, 1, jnp.float64)
    comes = max(
        2 * N * N * 8,
        ntk.memory_estimate(trained, kplan, jnp.float64),
        2 * trained.parameter_count * item + 4 * N * units * item,
        L * sum(n[1:]) * 8 + 4 * L * units * 8,
    )
    return int(stays + comes)


def check_memory(spec: MLPSpec, train_samples: int, samples: int, inputs: int, train: str,
                 dtype) -> None:
    """Refuse a study before anything is allocated, naming how many training points would fit."""
    need = memory_needed(spec, train_samples, samples, train, dtype)
    available = backend.available_bytes()
    if need <= available:
        return
    ratio = samples / train_samples
    lo, hi = 0, int(train_samples)
    while hi - lo > 1:  # the largest N that fits, the whole data scaled alike
        mid = (lo + hi) // 2
        if memory_needed(spec, mid, math.ceil(mid * ratio), train, dtype) <= available:
            lo = mid
        else:
            hi = mid
    if lo < 1:
        hint = "; not even one training point fits: use a smaller network"
    elif inputs == 1:
        hint = f"; a signal of up to {2 * lo} samples ({lo} training points) would fit"
    else:
        hint = f"; an image of up to {2 * math.isqrt(lo)} × {2 * math.isqrt(lo)} would fit"
    raise InsufficientMemory(f"training {list(spec.widths)} on {train_samples} points "
                             f"(K₀ and its eigenvectors: {train_samples} × {train_samples})",
                             need, available, hint)


# --- records --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Initial:
    """What a study knows before training: K₀'s spectrum (descending, float64; values at or below
    `floor` = N·ε·λ_max are round-off), each eigenvector's frequency, c₀ = Uᵀr₀, the bands, η."""

    train: str
    train_samples: int
    test_samples: int
    lr: float
    lr_from_kernel: bool
    eigenvalues: np.ndarray
    floor: float
    frequency: np.ndarray
    residual0: np.ndarray
    bands: tuple[tuple[int, int], ...]
    steps: np.ndarray  # 0 and the checkpoints' steps
    target: np.ndarray  # y on every sample, in `shape`
    shape: tuple[int, ...]
    kernel_s: float  # K₀, its eigenvectors and their frequencies
    compile_s: float  # the GD program

    @property
    def resolved(self) -> np.ndarray:
        return self.eigenvalues > self.floor

    @property
    def eigenvalues_clipped(self) -> np.ndarray:
        """λ clipped at 0: rounding leaves some just below it; the prediction uses these."""
        return np.clip(self.eigenvalues, 0.0, None)

    @property
    def lambda_max(self) -> float:
        return float(self.eigenvalues[0])

    @property
    def learn_steps(self) -> np.ndarray:
        """T_i = −1/ln(1 − ηλ_i): steps to learn component i to 1 − 1/e (inf where λ_i ≤ 0)."""
        x = self.lr * np.clip(self.eigenvalues, 0.0, None)
        with np.errstate(divide="ignore"):
            return np.where(x > 0, -1.0 / np.log1p(-np.minimum(x, 1 - 1e-16)), np.inf)


@dataclass(frozen=True)
class Checkpoint:
    step: int
    residual: np.ndarray  # c_t = Uᵀ(f_t(X) − y), measured
    predicted_residual: np.ndarray  # (1 − ηλ)^t c₀
    measured: np.ndarray  # band energies E_b
    predicted: np.ndarray  # Ê_b
    drift: float  # ‖K_t − K₀‖_F / ‖K₀‖_F
    psnr_train: float
    psnr_test: float
    psnr_train_linearised: float
    psnr_test_linearised: float
    network: np.ndarray  # f_t on every sample, in the data's shape
    linearised: np.ndarray  # f^lin_t on every sample
    train_s: float  # GD since the previous checkpoint
    measure_s: float  # this checkpoint's evaluation, projections, drift and f^lin


@dataclass(frozen=True)
class Summary:
    """A study's checkpoints as arrays (rows = checkpoints, columns = bands)."""

    steps: np.ndarray
    measured: np.ndarray
    predicted: np.ndarray
    drift: np.ndarray
    psnr_train: np.ndarray
    psnr_test: np.ndarray
    psnr_train_linearised: np.ndarray
    psnr_test_linearised: np.ndarray
    deviation: float | None
    train_s: float
    measure_s: float


def summarise(checkpoints: list[Checkpoint]) -> Summary:
    """Stack the checkpoints; the deviation leaves out step 0 (there E_b = Ê_b = 1 by definition)."""
    if not checkpoints:
        raise EngineError("no checkpoint has been reached yet")
    col = lambda name: np.array([getattr(c, name) for c in checkpoints])  # noqa: E731
    later = [c for c in checkpoints if c.step > 0]
    dev = deviation([c.measured for c in later], [c.predicted for c in later]) if later else None
    return Summary(col("step"), col("measured"), col("predicted"), col("drift"), col("psnr_train"),
                   col("psnr_test"), col("psnr_train_linearised"), col("psnr_test_linearised"),
                   dev, float(col("train_s").sum()), float(col("measure_s").sum()))


# --- compiled pieces ------------------------------------------------------------------------

def _kernel_times(spec: MLPSpec, params, z_train, z_all, v):
    """K₀(all, X) v = J₀(all) J₀(X)ᵀ v: one vjp on the training points and one jvp on every
    sample, so the L × N cross kernel is never formed."""
    _, pull = jax.vjp(lambda p: mlp.apply(spec, p, z_train)[:, 0], params)
    (w,) = pull(v)
    return jax.jvp(lambda p: mlp.apply(spec, p, z_all)[:, 0], (params,), (w,))[1]


_kernel_times_jit = jax.jit(_kernel_times, static_argnums=0)
_apply = jax.jit(lambda spec, params, z: mlp.apply(spec, params, z)[:, 0], static_argnums=0)


def _eigh_descending(K):
    """Eigenpairs in float64, largest first: LAPACK on the host for CPU arrays, else the device's.
    Returns U as a host array on a CPU (projections then stay in numpy) or a device array."""
    require_finite(np.asarray(K), "the initial kernel K₀")
    if jax.default_backend() == "cpu":
        lam, U = np.linalg.eigh(np.asarray(K, dtype=np.float64))
    else:
        lam, U = jnp.linalg.eigh(jnp.asarray(K, jnp.float64))
        lam = np.asarray(lam)
    return lam[::-1].copy(), U[:, ::-1]


# --- the study ------------------------------------------------------------------------------

@dataclass
class Study:
    """A prepared training run; iterate it for its checkpoints (see `train_study`)."""

    initial: Initial
    model: Model
    data: Data
    dtype: jnp.dtype
    chunk: int
    cancelled: Callable[[], bool] | None
    done: list[Checkpoint] = field(default_factory=list)
    _state: dict = field(default_factory=dict, repr=False)

    def __iter__(self) -> Iterator[Checkpoint]:
        return self.run()

    @property
    def finished(self) -> bool:
        return len(self.done) == len(self.initial.steps)

    @property
    def diverged(self) -> bool:
        """The network's outputs stopped being finite (GD left the stable region)."""
        return bool(self._state.get("diverged"))

    def summary(self) -> Summary:
        return summarise(self.done)

    def run(self) -> Iterator[Checkpoint]:
        """Yield the checkpoints not yet reached, training between them; stops early (keeping
        what is done) when the consumer stops iterating or `cancelled()` turns true between
        chunks. A later `run()` continues from where it stopped. A checkpoint whose outputs are
        no longer finite is the last one: training has diverged."""
        s = self._state
        if self.diverged:
            return
        for t in self.initial.steps[len(self.done):]:
            t = int(t)
            start = time.perf_counter()
            while s["step"] < t:
                if self.cancelled is not None and self.cancelled():
                    return
                n = min(self.chunk, t - s["step"])
                s["params"], _ = s["program"](s["params"], s["z_train"], s["y_train"], s["lr"], n)
                s["step"] += n
            jax.block_until_ready(s["params"])
            train_s = time.perf_counter() - start
            checkpoint = self._measure(t, train_s)
            self.done.append(checkpoint)
            s["diverged"] = not np.all(np.isfinite(checkpoint.network))
            yield checkpoint
            if self.diverged:
                return

    def _measure(self, t: int, train_s: float) -> Checkpoint:
        start = time.perf_counter()
        s, ini, data = self._state, self.initial, self.data
        spec, train_mask = self.model.spec, data.train
        f = np.asarray(_apply(spec, s["params"], s["z_all"]), dtype=np.float64)
        c = np.asarray(s["xp"].asarray(f[train_mask] - data.y_train) @ s["U"])  # Uᵀr
        c_hat = decay(ini.eigenvalues_clipped, ini.lr, t) * ini.residual0
        measured = band_energies(c, ini.residual0, ini.bands)
        predicted = band_energies(c_hat, ini.residual0, ini.bands)
        if t == 0:
            drift = 0.0  # θ_t = θ₀
        else:
            p64 = jax.tree.map(lambda a: a.astype(jnp.float64), s["params"])
            K = ntk.layerwise_ntk(spec, p64, s["z_train64"])
            drift = float(jnp.linalg.norm(K - s["K0"]) / s["K0_norm"])
            del K
        v = s["U"] @ s["xp"].asarray(gain(ini.eigenvalues_clipped, ini.lr, t) * ini.residual0)
        lin = s["f0"] - np.asarray(_kernel_times_jit(spec, self.model.params, s["z_train64"],
                                                     s["z_all64"], jnp.asarray(v)), np.float64)
        y, test = data.y, ~train_mask
        score = lambda pred, mask: float(psnr(pred[mask], y[mask])) if mask.any() else math.nan  # noqa: E731
        return Checkpoint(
            t, c, c_hat, measured, predicted, drift,
            score(f, train_mask), score(f, test), score(lin, train_mask), score(lin, test),
            f.reshape(data.shape), lin.reshape(data.shape), train_s, time.perf_counter() - start)


def train_study(net: Network, data: Data, *, steps: int, lr: float | None = None,
                checkpoints: int = DEFAULT_CHECKPOINTS, bands: int | None = None,
                train: str = "all", dtype="float64", chunk: int = DEFAULT_CHUNK,
                cancelled: Callable[[], bool] | None = None) -> Study:
    """Prepare a study: check the request and the memory, compute K₀ on the training points (in
    float64), its eigenvectors, their frequencies and c₀, fix η (default 1/λ_max(K₀); η ≥ 2/λ_max
    is refused) and compile the GD chunk. Iterate the returned Study for the checkpoints: step 0
    and `checkpoints` log-spaced steps up to `steps`."""
    if train not in TRAIN_MODES:
        raise EngineError(f"unknown training mode {train!r}; choose one of: {', '.join(TRAIN_MODES)}")
    dtype = backend.resolve_dtype(dtype) if isinstance(dtype, str) else jnp.dtype(dtype)
    if not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise EngineError(f"chunk must be a positive integer, got {chunk}")
    if lr is not None and not (math.isfinite(lr) and lr > 0):
        raise EngineError(f"the learning rate must be a positive finite number, got {lr}")
    if data.inputs != net.inputs:
        raise EngineError(f"the network takes {net.inputs}-D coordinates but the data are "
                          f"{data.inputs}-D")
    if train == "all" and not net.spec.act.has_derivative:
        raise EngineError(f"{net.spec.act.name} has zero derivative almost everywhere, so GD cannot "
                          "train its hidden layers; train only the last layer, or choose an "
                          "activation with a derivative")
    schedule = np.concatenate([[0], checkpoint_steps(steps, checkpoints)])
    N, L = data.train_samples, data.y.size
    band_list = make_bands(N, bands)
    check_memory(net.spec, N, L, data.inputs, train, dtype)

    start = time.perf_counter()
    model = trained_model(net, data, train)
    on_cpu = jax.default_backend() == "cpu"
    xp = np if on_cpu else jnp
    z_all64 = jnp.asarray(model.z)
    z_train64 = jnp.asarray(model.z[data.train])
    K0 = ntk.layerwise_ntk(model.spec, model.params, z_train64)
    lam, U = _eigh_descending(K0)
    if not np.all(np.isfinite(lam)) or not lam[0] > 0:
        raise EngineError("the initial NTK is zero or not finite, so gradient descent cannot be "
                          "predicted from it")
    floor = backend.roundoff_floor(N, lam[0], jnp.float64)
    if lr is not None and lr * lam[0] >= 2:
        raise EngineError(f"the step η = {lr:.4g} is at or beyond the stability edge "
                          f"2/λ_max(K₀) = {2 / lam[0]:.4g}: GD would diverge; choose a smaller one")
    eta = float(1.0 / lam[0]) if lr is None else float(lr)
    f0 = np.asarray(_apply(model.spec, model.params, z_all64), np.float64)
    c0 = np.asarray(xp.asarray(f0[data.train] - data.y_train) @ U)
    freq = frequencies(U, data.train_shape)
    kernel_s = time.perf_counter() - start

    start = time.perf_counter()
    params = jax.tree.map(lambda a: jnp.asarray(a, dtype), model.params)
    z_train = jnp.asarray(model.z[data.train], dtype)
    y_train = jnp.asarray(data.y_train, dtype)
    program = gd.compiled_chunk(model.spec, chunk, params, z_train, y_train)
    compile_s = time.perf_counter() - start

    initial = Initial(train, N, data.test_samples, eta, lr is None, lam, floor, freq, c0,
                      band_list, schedule, data.y.reshape(data.shape), data.shape, kernel_s, compile_s)
    state = {"step": 0, "params": params, "program": program, "lr": eta, "z_train": z_train,
             "y_train": y_train, "z_all": jnp.asarray(model.z, dtype), "z_all64": z_all64,
             "z_train64": z_train64, "K0": K0, "K0_norm": float(jnp.linalg.norm(K0)), "U": U,
             "xp": xp, "f0": f0}
    return Study(initial, model, data, dtype, int(chunk), cancelled, _state=state)


# --- the study as plain data ----------------------------------------------------------------

def _numbers(a) -> list:
    """A float array as a (nested) list, None where a value is not a finite number."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim > 1:
        return [_numbers(row) for row in a]
    return [float(v) if math.isfinite(v) else None for v in a]


def payload(initial: Initial, checkpoints: list[Checkpoint]) -> dict:
    """The study as JSON-ready data (issue 13's keys): eigenvalues at or below the round-off floor
    and PSNRs that are not finite (a perfect fit) are None. `steps` lists the checkpoints reached
    (0 first); per band `measured` and `predicted` follow them. The reconstruction is the last
    checkpoint's, in the data's shape."""
    s = summarise(checkpoints)
    last = checkpoints[-1]
    lam = np.where(initial.resolved, initial.eigenvalues, np.nan)
    return {
        "train": initial.train,
        "train_samples": initial.train_samples,
        "test_samples": initial.test_samples,
        "lr": initial.lr,
        "lr_from_kernel": initial.lr_from_kernel,
        "lambda_max": initial.lambda_max,
        "floor": initial.floor,
        "eigenvalues": _numbers(lam),
        "frequency": _numbers(initial.frequency),
        "learn_steps": _numbers(initial.learn_steps),
        "residual0": _numbers(initial.residual0),
        "steps": [int(t) for t in s.steps],
        "finished": len(checkpoints) == len(initial.steps),
        "diverged": not np.all(np.isfinite(checkpoints[-1].network)),
        "bands": [{"first": a, "last": b, "measured": _numbers(s.measured[:, k]),
                   "predicted": _numbers(s.predicted[:, k])}
                  for k, (a, b) in enumerate(initial.bands)],
        "kernel_drift": _numbers(s.drift),
        "deviation": s.deviation,
        "psnr_train": _numbers(s.psnr_train),
        "psnr_test": _numbers(s.psnr_test),
        "psnr_train_linearised": _numbers(s.psnr_train_linearised),
        "psnr_test_linearised": _numbers(s.psnr_test_linearised),
        "shape": list(initial.shape),
        "target": _numbers(initial.target),
        "network": _numbers(last.network),
        "linearised": _numbers(last.linearised),
        "kernel_s": initial.kernel_s,
        "compile_s": initial.compile_s,
        "train_s": s.train_s,
        "measure_s": s.measure_s,
    }
