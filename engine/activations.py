"""The one activation registry (SPEC §1).

An `Activation` is explicit data: its function φ(t), its derivative φ'(t) (None where it is zero
almost everywhere, so no NTK exists), and the family it belongs to. The scale s is applied by the
caller through `apply`/`derivative`: φ(s·t) and d/dt φ(s·t) = s·φ'(s·t).

Names: the fixed entries of `BASE`, `reluK` for any integer K ≥ 2 (max(0, t)^K), and
`abrelu(a,b)` for a·t + b·|t| (SPEC's convention, not neural-tangents').
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Callable

from engine import backend
from engine.errors import EngineError

backend.configure()

import jax.numpy as jnp  # noqa: E402  (after float64 is on)
from jax.scipy.special import erf as _erf  # noqa: E402

Fn = Callable[[jnp.ndarray], jnp.ndarray]

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@dataclass(frozen=True)
class Activation:
    name: str
    fn: Fn
    deriv: Fn | None
    family: str  # monotonic | quasi-monotonic | non-monotonic | periodic | linear-type
    order: float | None = None  # the spline order p of SPEC §1 / seed 003, where it has one
    params: tuple[float, ...] = ()

    @property
    def has_derivative(self) -> bool:
        return self.deriv is not None

    def apply(self, t, scale=1.0):
        return self.fn(scale * t)

    def derivative(self, t, scale=1.0):
        if self.deriv is None:
            raise EngineError(
                f"{self.name} has zero derivative almost everywhere, so it has no NTK; "
                "choose an activation with a derivative"
            )
        return scale * self.deriv(scale * t)


# --- elementary functions, all finite and jit-safe at t = 0 ---------------------------------

def _heaviside(t):
    return jnp.where(t >= 0, 1.0, 0.0).astype(jnp.result_type(t, float))


def _relu(t):
    return jnp.maximum(t, 0.0)


def _relu_grad(t):
    return jnp.where(t > 0, 1.0, 0.0).astype(jnp.result_type(t, float))


def _norm_cdf(t):
    return 0.5 * (1.0 + _erf(t / _SQRT2))


def _norm_pdf(t):
    return _INV_SQRT_2PI * jnp.exp(-0.5 * t * t)


def _gelu(t):
    return t * _norm_cdf(t)


def _gelu_grad(t):
    return _norm_cdf(t) + t * _norm_pdf(t)


def _sigmoid(t):
    return 0.5 * (jnp.tanh(0.5 * t) + 1.0)  # overflow-free logistic


def _silu(t):
    return t * _sigmoid(t)


def _silu_grad(t):
    s = _sigmoid(t)
    return s * (1.0 + t * (1.0 - s))


# Below this |t| the Taylor series of sinc and its derivative are exact to round-off in float64.
_SINC_SMALL = 1e-4


def _sinc(t):
    return jnp.sinc(t)


def _sinc_grad(t):
    # (πt·cos πt − sin πt) / (π t²); the double `where` keeps the unused branch finite under grad.
    small = jnp.abs(t) < _SINC_SMALL
    ts = jnp.where(small, 1.0, t)
    pt = jnp.pi * ts
    exact = (pt * jnp.cos(pt) - jnp.sin(pt)) / (jnp.pi * ts * ts)
    taylor = -(jnp.pi**2) * t / 3.0 + (jnp.pi**4) * t**3 / 30.0
    return jnp.where(small, taylor, exact)


def _gaussian(t):
    return jnp.exp(-0.5 * t * t)


def _gaussian_grad(t):
    return -t * jnp.exp(-0.5 * t * t)


def _tanh_grad(t):
    return 1.0 - jnp.tanh(t) ** 2


def _sign(t):
    return jnp.sign(t)


def _erf_grad(t):
    return (2.0 / math.sqrt(math.pi)) * jnp.exp(-t * t)


def _one(t):
    return jnp.ones_like(t)


def _identity(t):
    return t


BASE: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("heaviside", _heaviside, None, "monotonic", 1),
        Activation("tanh", jnp.tanh, _tanh_grad, "monotonic", 1),
        Activation("relu", _relu, _relu_grad, "monotonic", 2),
        Activation("gelu", _gelu, _gelu_grad, "quasi-monotonic", 2),
        Activation("silu", _silu, _silu_grad, "quasi-monotonic", 2),
        Activation("sinc", _sinc, _sinc_grad, "non-monotonic"),
        Activation("gaussian", _gaussian, _gaussian_grad, "non-monotonic"),
        Activation("cos", jnp.cos, lambda t: -jnp.sin(t), "periodic"),
        Activation("sin", jnp.sin, jnp.cos, "periodic"),
        Activation("abs", jnp.abs, _sign, "abrelu", None, (0.0, 1.0)),
        Activation("linear", _identity, _one, "abrelu", None, (1.0, 0.0)),
        Activation("erf", _erf, _erf_grad, "monotonic"),
    )
}

PARAMETRIC = ("reluK", "abrelu(a,b)")
_RELU_K = re.compile(r"^relu(\d+)$")
_ABRELU = re.compile(r"^abrelu\(\s*([^,()]+)\s*,\s*([^,()]+)\s*\)$")


def names() -> list[str]:
    """Every name the registry accepts, parametric ones as patterns."""
    return [*BASE, "relu2", *PARAMETRIC]


def _relu_power(k: int) -> Activation:
    def fn(t):
        return jnp.maximum(t, 0.0) ** k

    def deriv(t):
        return k * jnp.maximum(t, 0.0) ** (k - 1)

    return Activation(f"relu{k}", fn, deriv, "monotonic", k + 1, (float(k),))


def _abrelu(a: float, b: float) -> Activation:
    def fn(t):
        return a * t + b * jnp.abs(t)

    def deriv(t):
        return a + b * jnp.sign(t)

    return Activation(f"abrelu({a:g},{b:g})", fn, deriv, "abrelu", None, (a, b))


def get(spec: str) -> Activation:
    """The activation a name stands for (case and spaces ignored)."""
    return _lookup(spec.strip().lower().replace(" ", ""))


@functools.lru_cache(maxsize=None)
def _lookup(key: str) -> Activation:
    # Cached so that jit, which keys on the Activation object, compiles once per activation.
    spec = key
    if key in BASE:
        return BASE[key]
    m = _RELU_K.match(key)
    if m:
        k = int(m.group(1))
        if k == 1:
            return BASE["relu"]
        if k < 1:
            raise EngineError(f"reluK needs an integer K ≥ 1, got {spec!r}")
        return _relu_power(k)
    m = _ABRELU.match(key)
    if m:
        try:
            a, b = float(m.group(1)), float(m.group(2))
        except ValueError:
            a = b = math.nan
        if not (math.isfinite(a) and math.isfinite(b)):
            raise EngineError(f"abrelu(a,b) needs two finite numbers, got {spec!r}")
        return _abrelu(a, b)
    raise EngineError(f"unknown activation {spec!r}; valid names: {', '.join(names())}")
