"""Deep MLPs (docs/maths.md#the-empirical-ntk): an explicit spec, seeded initialisation and the
forward pass.

The three parameterisations share the same standard-normal draws z, so at initialisation they
compute the same function when their scales agree; only where the scale sits differs:

| param     | weights W        | forward h_l                         | NTK factors (c_l, c_b)  |
| --------- | ---------------- | ----------------------------------- | ----------------------- |
| ntk       | z                | σ_w/√n_{l−1} · W a + σ_b · β        | (σ_w²/n_{l−1}, σ_b²)    |
| standard  | σ_w/√n_{l−1} · z | W a + b,  b = σ_b · z'              | (1, 1)                  |
| unscaled  | σ_w · z          | W a + b,  b = σ_b · z'              | (1, 1)                  |

σ_b = 0 means the network has no biases (and no bias parameters).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

from engine import backend
from engine.errors import EngineError

backend.configure()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from engine.activations import Activation, get  # noqa: E402
# The one point generator under the name ntktui and benchmarks import.

PARAMETERISATIONS = ("ntk", "standard", "unscaled")


@dataclass(frozen=True)
class MLPSpec:
    """Widths (n₀, n₁, …, n_L): input, hidden, output; L = len(widths) − 1 weight layers."""

    widths: tuple[int, ...]
    activation: str = "relu"
    scale: float = 1.0
    param: str = "ntk"
    sigma_w: float = 1.0
    sigma_b: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        if len(self.widths) < 2:
            raise EngineError("an MLP needs an input width and at least one layer")
        if any(w < 1 for w in self.widths):
            raise EngineError(f"widths must be positive, got {list(self.widths)}")
        if self.param not in PARAMETERISATIONS:
            raise EngineError(
                f"unknown parameterisation {self.param!r}; choose one of: {', '.join(PARAMETERISATIONS)}"
            )
        for name, value in (("scale", self.scale), ("sigma_w", self.sigma_w), ("sigma_b", self.sigma_b)):
            if not math.isfinite(value):
                raise EngineError(f"{name} must be a finite number, got {value}")
        if self.sigma_w <= 0:
            raise EngineError(f"sigma_w must be positive, got {self.sigma_w}")
        if self.sigma_b < 0:
            raise EngineError(f"sigma_b must be ≥ 0 (0 means no bias), got {self.sigma_b}")
        self.act  # an unknown activation fails here, before anything is computed

    @cached_property
    def act(self) -> Activation:
        return get(self.activation)

    @property
    def depth(self) -> int:
        return len(self.widths) - 1

    @property
    def has_bias(self) -> bool:
        return self.sigma_b > 0

    @property
    def outputs(self) -> int:
        return self.widths[-1]

    @property
    def parameter_count(self) -> int:
        n = self.widths
        return sum(n[l] * n[l - 1] + (n[l] if self.has_bias else 0) for l in range(1, len(n)))

    def forward_factors(self, l: int) -> tuple[float, float]:
        """(c_w, c_b) multiplying W a and the bias in layer l (1-based)."""
        if self.param == "ntk":
            return self.sigma_w / math.sqrt(self.widths[l - 1]), self.sigma_b
        return 1.0, 1.0

    def init_factors(self, l: int) -> tuple[float, float]:
        """Standard deviations of W and b at initialisation in layer l."""
        if self.param == "ntk":
            return 1.0, 1.0
        if self.param == "standard":
            return self.sigma_w / math.sqrt(self.widths[l - 1]), self.sigma_b
        return self.sigma_w, self.sigma_b

    def ntk_factors(self, l: int) -> tuple[float, float]:
        """(c_l, c_b) of the layer-wise formula K = Σ_l ΔΔᵀ ⊙ (c_l·AAᵀ + c_b)."""
        cw, cb = self.forward_factors(l)
        return cw * cw, (cb * cb if self.has_bias else 0.0)


def init(spec: MLPSpec, seed: int = 0, dtype=jnp.float64) -> list[dict]:
    """Seeded parameters [{"W": (n_l, n_{l−1}), "b": (n_l,)}, …]; "b" only with biases.

    Draws are made in float64 and cast, so float32 and float64 runs share one network."""
    key = jax.random.key(seed)
    params = []
    for l in range(1, spec.depth + 1):
        key, kw, kb = jax.random.split(key, 3)
        sw, sb = spec.init_factors(l)
        shape = (spec.widths[l], spec.widths[l - 1])
        layer = {"W": (sw * jax.random.normal(kw, shape, jnp.float64)).astype(dtype)}
        if spec.has_bias:
            layer["b"] = (sb * jax.random.normal(kb, (spec.widths[l],), jnp.float64)).astype(dtype)
        params.append(layer)
    return params


def layer_pre(spec: MLPSpec, l: int, layer: dict, a):
    """h_l = c_w · a Wᵀ + c_b · b for a batch a (N × n_{l−1})."""
    cw, cb = spec.forward_factors(l)
    h = cw * jnp.matmul(a, layer["W"].T, precision=jax.lax.Precision.HIGHEST)
    if "b" in layer:
        h = h + cb * layer["b"]
    return h


def apply(spec: MLPSpec, params, x):
    """f(params, x) → (N, n_L): the network on a batch of inputs (a₀ = x, a_l = φ(s·h_l), f = h_L)."""
    a = x
    for l, layer in enumerate(params, start=1):
        h = layer_pre(spec, l, layer, a)
        a = spec.act.apply(h, spec.scale) if l < spec.depth else h
    return a
