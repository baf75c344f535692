"""Coordinate networks on d = 1 or 2 inputs and the data they are trained on (docs/lab.md).

A coordinate network maps a position x ∈ [0, 1)^d to a value: a signal's sample (d = 1) or a grey
pixel (d = 2). It is one of the deep MLPs of `engine.mlp` (every registry activation, every
parameterisation), or SIREN, applied to the coordinates or to a fixed Fourier-feature encoding

    γ(x) = [cos(2πBx), sin(2πBx)],  B ∈ ℝ^{m×d},  B_ij ~ N(0, σ²)   (not trained).

SIREN (sin(ω₀t) with its own uniform initialisation) is an MLP too: activation `sin` at scale ω₀,
the standard parameterisation (h = W a + b) with biases, and the weights drawn as Sitzmann et al.
draw them. So every network here has an `MLPSpec`, and the layer-wise empirical NTK of
`engine.ntk` applies to all of them (the encoding is fixed, so it only changes the inputs).

Data: a 1-D signal of L samples sits at x_i = i/L and trains on the even i; an H × W image sits at
x = (j/W, i/H) for pixel (i, j) and trains on the pixels with even row and column. Both are
evaluated on every sample. Targets must lie in [0, 1] (the front end scales them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine import backend
from engine.errors import EngineError

backend.configure()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from engine import mlp  # noqa: E402
from engine.mlp import PARAMETERISATIONS, MLPSpec  # noqa: E402

INITS = ("default", "siren")
ENCODINGS = ("none", "fourier")
SIREN_OMEGA0 = 30.0
# Registry networks without a choice made: relu, NTK parameterisation, σ_w = σ_b = 1. The bias
# matters: without it a relu network of a scalar x ≥ 0 is x·f(1), a kernel of rank one.
_REGISTRY_DEFAULTS = {"activation": "relu", "param": "ntk", "scale": 1.0, "sigma_w": 1.0, "sigma_b": 1.0}


@dataclass(frozen=True)
class CoordinateSpec:
    """What network to build. Fields left None take the initialisation's defaults: for "default",
    relu / ntk / scale 1 / σ_w = σ_b = 1; SIREN fixes sin, standard, scale ω₀ and refuses other
    values (its initialisation has no σ_w or σ_b; σ = 1 stands for "with biases")."""

    inputs: int = 1
    hidden: tuple[int, ...] = (256, 256, 256)
    activation: str | None = None
    param: str | None = None
    scale: float | None = None
    sigma_w: float | None = None
    sigma_b: float | None = None
    init: str = "default"
    omega0: float = SIREN_OMEGA0
    encoding: str = "none"
    fourier_scale: float = 10.0
    fourier_features: int = 256

    def __post_init__(self):
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        if self.inputs not in (1, 2):
            raise EngineError(f"a coordinate network takes 1 or 2 inputs, got {self.inputs}")
        set_("hidden", tuple(int(h) for h in self.hidden))
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise EngineError(f"hidden widths must be positive and at least one, got {list(self.hidden)}")
        if self.init not in INITS:
            raise EngineError(f"unknown initialisation {self.init!r}; choose one of: {', '.join(INITS)}")
        if self.encoding not in ENCODINGS:
            raise EngineError(f"unknown encoding {self.encoding!r}; choose one of: {', '.join(ENCODINGS)}")
        if self.encoding == "fourier":
            if not (math.isfinite(self.fourier_scale) and self.fourier_scale > 0):
                raise EngineError(f"the Fourier scale σ must be positive, got {self.fourier_scale}")
            if int(self.fourier_features) < 1:
                raise EngineError(f"the Fourier features m must be positive, got {self.fourier_features}")
            set_("fourier_features", int(self.fourier_features))
        if self.init == "siren":
            if not (math.isfinite(self.omega0) and self.omega0 > 0):
                raise EngineError(f"SIREN's ω₀ must be positive, got {self.omega0}")
            fixed = {"activation": "sin", "param": "standard", "scale": float(self.omega0),
                     "sigma_w": 1.0, "sigma_b": 1.0}
            for name, value in fixed.items():
                given = getattr(self, name)
                if given is not None and given != value:
                    what = "its ω₀ (omega0)" if name == "scale" else repr(value)
                    raise EngineError(f"SIREN fixes {name.replace('_', '-')} to {what}; "
                                      f"drop {name.replace('_', '-')} = {given!r}")
                set_(name, value)
        else:
            for name, value in _REGISTRY_DEFAULTS.items():
                if getattr(self, name) is None:
                    set_(name, value)
            if self.param not in PARAMETERISATIONS:
                raise EngineError(f"unknown parameterisation {self.param!r}; choose one of: "
                                  f"{', '.join(PARAMETERISATIONS)}")
        self.mlp  # refuses bad activations and scales now

    @property
    def encoded_inputs(self) -> int:
        """n₀: what the first layer sees (2m with Fourier features)."""
        return 2 * self.fourier_features if self.encoding == "fourier" else self.inputs

    @property
    def mlp(self) -> MLPSpec:
        return MLPSpec((self.encoded_inputs, *self.hidden, 1), self.activation, float(self.scale),
                       self.param, float(self.sigma_w), float(self.sigma_b))

    def describe(self) -> str:
        body = ("SIREN ω₀={:g}".format(self.omega0) if self.init == "siren"
                else f"{self.activation} {self.param} σ_w={self.sigma_w:g} σ_b={self.sigma_b:g}"
                + (f" s={self.scale:g}" if self.scale != 1 else ""))
        enc = (f", Fourier m={self.fourier_features} σ={self.fourier_scale:g}"
               if self.encoding == "fourier" else "")
        return f"{self.inputs}-D {body}, hidden {list(self.hidden)}{enc}"


@dataclass(frozen=True)
class Network:
    """An initialised coordinate network: the MLP, its float64 parameters at initialisation and
    the fixed Fourier matrix B (m × d), or None for the raw coordinates."""

    spec: MLPSpec
    params: list
    encoding: np.ndarray | None = None

    @property
    def inputs(self) -> int:
        return self.spec.widths[0] if self.encoding is None else self.encoding.shape[1]

    def features(self, x: np.ndarray) -> np.ndarray:
        """What the first layer sees: x itself, or γ(x) = [cos 2πBx, sin 2πBx]."""
        x = np.asarray(x, dtype=np.float64)
        if self.encoding is None:
            return x
        return fourier_features(x, self.encoding)


def fourier_features(x: np.ndarray, B: np.ndarray) -> np.ndarray:
    phase = 2.0 * np.pi * (np.asarray(x, np.float64) @ np.asarray(B, np.float64).T)
    return np.concatenate([np.cos(phase), np.sin(phase)], axis=1)


def fourier_matrix(features: int, inputs: int, scale: float, seed: int) -> np.ndarray:
    """B ∈ ℝ^{m×d}, B_ij ~ N(0, σ²), from its own stream of the seed (apart from the weights')."""
    return scale * np.random.default_rng([seed, 13]).standard_normal((features, inputs))


def siren_init(spec: MLPSpec, omega0: float, seed: int = 0) -> list[dict]:
    """SIREN's draws (Sitzmann et al. 2020): first layer W ~ U(−1/n₀, 1/n₀), later layers
    W ~ U(−√(6/n)/ω₀, √(6/n)/ω₀) with n the fan-in, every bias U(−1/√n, 1/√n)."""
    key = jax.random.key(seed)
    params = []
    for l in range(1, spec.depth + 1):
        key, kw, kb = jax.random.split(key, 3)
        n = spec.widths[l - 1]
        bound = 1.0 / n if l == 1 else math.sqrt(6.0 / n) / omega0
        shape = (spec.widths[l], n)
        layer = {"W": jax.random.uniform(kw, shape, jnp.float64, -bound, bound)}
        b = 1.0 / math.sqrt(n)
        layer["b"] = jax.random.uniform(kb, (spec.widths[l],), jnp.float64, -b, b)
        params.append(layer)
    return params


def build(spec: CoordinateSpec, seed: int = 0) -> Network:
    """The network a spec describes, initialised from the seed (float64; cast to train)."""
    net = spec.mlp
    params = siren_init(net, spec.omega0, seed) if spec.init == "siren" else mlp.init(net, seed)
    B = (fourier_matrix(spec.fourier_features, spec.inputs, spec.fourier_scale, seed)
         if spec.encoding == "fourier" else None)
    return Network(net, params, B)


# --- data ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Data:
    """Targets on a grid of coordinates; `train` marks the training samples. `shape` is the
    signal's (L,) or the image's (H, W); `train_shape` the training grid's, in the same row-major
    order as the training rows (the eigenvectors' frequencies are read on it)."""

    x: np.ndarray  # (L, d) every coordinate
    y: np.ndarray  # (L,) targets in [0, 1]
    train: np.ndarray  # (L,) bool
    shape: tuple[int, ...]
    train_shape: tuple[int, ...]

    @property
    def inputs(self) -> int:
        return self.x.shape[1]

    @property
    def x_train(self) -> np.ndarray:
        return self.x[self.train]

    @property
    def y_train(self) -> np.ndarray:
        return self.y[self.train]

    @property
    def train_samples(self) -> int:
        return int(self.train.sum())

    @property
    def test_samples(self) -> int:
        return int(self.train.size - self.train.sum())


def _check_targets(y: np.ndarray, what: str) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    if not np.all(np.isfinite(y)):
        raise EngineError(f"{what} contains non-finite values")
    if y.min() < 0 or y.max() > 1:
        raise EngineError(f"{what} must lie in [0, 1], got values in [{y.min():.3g}, {y.max():.3g}]")
    return y


def signal_data(values) -> Data:
    """A 1-D signal of L samples at x_i = i/L; trains on the even i (N = ⌈L/2⌉)."""
    y = np.asarray(values).reshape(-1)
    if y.size < 4:
        raise EngineError(f"a signal needs at least 4 samples, got {y.size}")
    y = _check_targets(y, "the signal")
    L = y.size
    train = np.arange(L) % 2 == 0
    return Data((np.arange(L) / L)[:, None], y, train, (L,), (int(train.sum()),))


def image_data(image) -> Data:
    """An H × W grey image at x = (j/W, i/H) for pixel (i, j); trains on even rows and columns."""
    img = np.asarray(image)
    if img.ndim != 2 or min(img.shape) < 2:
        raise EngineError(f"an image must be a 2-D array of at least 2 × 2, got shape {img.shape}")
    img = _check_targets(img, "the image")
    H, W = img.shape
    i, j = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    x = np.stack([j.ravel() / W, i.ravel() / H], axis=1)
    train = ((i % 2 == 0) & (j % 2 == 0)).ravel()
    return Data(x, img.ravel(), train, (H, W), ((H + 1) // 2, (W + 1) // 2))
