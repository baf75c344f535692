"""The one activation registry (docs/maths.md#activations).

An `Activation` is explicit data: its function φ(t), its derivative φ'(t) (None where it is zero
almost everywhere, so no NTK exists), its family, and, where they exist in closed form, its dual
kernels: E[φ(u)φ(v)] and E[φ'(u)φ'(v)] for (u, v) ~ N(0, [[q₁, c], [c, q₂]]), the layer map of the
infinite-width NNGP and NTK (docs/maths.md#dual-kernels). The kernel code asks the activation for
them and falls back to quadrature where they are None, so an activation, with or without closed
forms, is added here alone (docs/engine.md#adding-an-activation).

The scale s is applied by the caller: φ(s·t) through `apply`, d/dt φ(s·t) = s·φ'(s·t) through
`derivative`; the duals are written for s = 1 (the kernel code maps q, c to s²q, s²c).

Names: the fixed entries of `BASE`, `reluK` for any integer K ≥ 2 (max(0, t)^K), and
`abrelu(a,b)` for a·t + b·|t| (the seeds' convention, not neural-tangents').
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

from engine import backend
from engine.errors import EngineError

backend.configure()

import jax  # noqa: E402  (after float64 is on)
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402
from jax.scipy.special import erf as _erf  # noqa: E402

Fn = Callable[[jnp.ndarray], jnp.ndarray]
# (q₁, q₂, c) ↦ an expectation over (u, v) ~ N(0, [[q₁, c], [c, q₂]]), elementwise.
Dual = Callable[[jnp.ndarray, jnp.ndarray, jnp.ndarray], jnp.ndarray]

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

NO_NTK = "it has no NTK; choose an activation with a derivative"


@dataclass(frozen=True, eq=False)
class Activation:
    """One activation. Equal (and hashed) by name and parameters, so that jit and the compile
    cache, which key on it, reuse one program for every lookup of the same name."""

    name: str
    fn: Fn
    deriv: Fn | None
    family: str  # monotonic | quasi-monotonic | non-monotonic | periodic | abrelu
    order: float | None = None  # the spline order p (seed 003), where it has one
    params: tuple[float, ...] = ()
    dual: Dual | None = None  # E[φ(u)φ(v)] in closed form, None where quadrature is needed
    dual_derivative: Dual | None = None  # E[φ'(u)φ'(v)]; declared exactly when dual and φ' are
    # t ↦ (φ(t), φ'(t)) at once, where that is cheaper than the two apart (None: apply them apart)
    pair: Callable | None = None

    def __post_init__(self):
        if (self.dual_derivative is not None) != (self.dual is not None and self.deriv is not None):
            raise ValueError(f"{self.name}: declare dual_derivative exactly when both the dual "
                             "and the derivative exist")

    def _identity(self):
        return self.name, self.params

    def __eq__(self, other):
        return isinstance(other, Activation) and self._identity() == other._identity()

    def __hash__(self):
        return hash(self._identity())

    @property
    def has_derivative(self) -> bool:
        return self.deriv is not None

    def require_derivative(self, consequence: str = NO_NTK) -> None:
        """The one refusal of an activation whose derivative is zero almost everywhere; the
        caller says what that rules out."""
        if self.deriv is None:
            raise EngineError(
                f"{self.name} has zero derivative almost everywhere, so {consequence}")

    def apply(self, t, scale=1.0):
        return self.fn(scale * t)

    def derivative(self, t, scale=1.0):
        self.require_derivative()
        return scale * self.deriv(scale * t)

    def apply_and_derivative(self, t, scale=1.0):
        """(φ(s·t), d/dt φ(s·t)): what the layer-wise kernel evaluates on every wide layer. With
        `pair` the two share their work and may differ from `apply` and `derivative` by an ulp."""
        self.require_derivative()
        if self.pair is None:
            return self.apply(t, scale), self.derivative(t, scale)
        value, slope = self.pair(scale * t)
        return value, scale * slope


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


# sin and cos together in float64, for the kernel's wide layers (docs/maths.md#sin-and-cos-at-once):
# XLA evaluates each by a scalar libm-style routine (about 25 ns an element on the CPUs measured);
# one Cody–Waite reduction t = n·π/2 + r and fdlibm's kernel polynomials on |r| ≤ π/4 give both
# in about a third of that time, within 1 ulp of them for |t| up to about 100 and 2 ulp beyond.
_PIO2 = (1.57079632673412561417e+00,  # π/2 in three 33-bit parts: n·part is exact for n < 2²⁰
         6.07710050630396597660e-11,
         2.02226624871116645580e-21)
_SIN = (-1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04,
        2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10)
_COS = (4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05,
        -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11)
SINCOS_LIMIT = 2.0**19 * math.pi / 2  # beyond it (and for inf, nan) XLA's own sin and cos


def _sincos_reduced(t):
    n = jnp.round(t * (2 / math.pi))
    r = ((t - n * _PIO2[0]) - n * _PIO2[1]) - n * _PIO2[2]
    z = r * r
    w = z * z
    rs = _SIN[1] + z * (_SIN[2] + z * _SIN[3]) + z * w * (_SIN[4] + z * _SIN[5])
    s = r + z * r * (_SIN[0] + z * rs)
    rc = (z * (_COS[0] + z * (_COS[1] + z * _COS[2]))
          + w * w * (_COS[3] + z * (_COS[4] + z * _COS[5])))
    half = 0.5 * z
    v = 1.0 - half
    c = v + (((1.0 - v) - half) + z * rc)  # 1 − z/2 + z·rc with the rounding of 1 − z/2 recovered
    q = n.astype(jnp.int32)  # the quadrant: sin(t) = ±s or ±c, cos(t) likewise
    odd, negative = (q & 1) == 1, (q & 2) == 2
    sin, cos = jnp.where(odd, c, s), jnp.where(odd, -s, c)
    return jnp.where(negative, -sin, sin), jnp.where(negative, -cos, cos)


def sincos(t):
    """(sin t, cos t). float64 arrays within ±SINCOS_LIMIT (checked at run time) by one shared
    reduction; anything else by jnp.sin and jnp.cos."""
    t = jnp.asarray(t)
    if t.dtype != jnp.float64:
        return jnp.sin(t), jnp.cos(t)
    return lax.cond(jnp.all(jnp.abs(t) < SINCOS_LIMIT), _sincos_reduced,
                    lambda t: (jnp.sin(t), jnp.cos(t)), t)


def _cos_pair(t):
    s, c = sincos(t)
    return c, -s


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


# --- closed-form duals (docs/maths.md#dual-kernels), elementwise in (q₁, q₂, c) ------------

def _angle(q1, q2, c):
    """q₁q₂, √(q₁q₂ − c²) (= √(q₁q₂)·sin θ) and θ = arccos ρ, with no division: θ is exactly 0
    where c² = q₁q₂ (the diagonal). A zero variance (x = 0 with σ_b = 0) has no angle: it is
    taken as θ = π/2 (ρ = 0)."""
    p2 = q1 * q2
    s = jnp.sqrt(jnp.maximum(p2 - c * c, 0.0))
    theta = jnp.where(p2 > 0, jnp.arctan2(s, c), 0.5 * jnp.pi)
    return p2, s, theta


# Cho & Saul's arc-cosine kernels E[relu(u)^n relu(v)^n] of orders 0, 1, 2, written with
# √(q₁q₂)·sin θ = s and √(q₁q₂)·cos θ = c.

def _arccos0(q1, q2, c):
    _, _, theta = _angle(q1, q2, c)
    return (jnp.pi - theta) / (2 * jnp.pi)


def _arccos1(q1, q2, c):
    _, s, theta = _angle(q1, q2, c)
    return (s + (jnp.pi - theta) * c) / (2 * jnp.pi)


def _arccos2(q1, q2, c):
    p2, s, theta = _angle(q1, q2, c)
    return (3 * s * c + (jnp.pi - theta) * (p2 + 2 * c * c)) / (2 * jnp.pi)


def _relu2_dual_derivative(q1, q2, c):
    return 4 * _arccos1(q1, q2, c)  # φ' = 2·relu


def _arccos_k(k: int) -> Dual:
    """Order k ≥ 0 of the arc-cosine kernels, E[relu(u)^k relu(v)^k] = M_k/2π with
    M_k = (q₁q₂)^{k/2} J_k(θ) and Cho and Saul's J_k by the three-term recursion
    M_k = (2k − 1)·c·M_{k−1} + (k − 1)²·s²·M_{k−2} (docs/maths.md#dual-kernels), started from the
    orders 1 and 2 above so that relu and relu2 keep their values bit for bit."""
    base = (_arccos0, _arccos1, _arccos2)
    if k < 3:
        return base[k]

    def dual(q1, q2, c):
        _, s, _ = _angle(q1, q2, c)
        two_pi = 2 * jnp.pi
        m1, m2 = two_pi * _arccos1(q1, q2, c), two_pi * _arccos2(q1, q2, c)
        m1, m2 = jnp.broadcast_arrays(m1, m2)

        def step(j, pair):  # a loop, not unrolled: relu1000 compiles as fast as relu3
            m_prev, m = pair
            return m, (2 * j - 1) * c * m + (j - 1) ** 2 * (s * s) * m_prev

        return jax.lax.fori_loop(3, k + 1, step, (m1, m2))[1] / two_pi

    return dual


def _relu_power_duals(k: int) -> tuple[Dual, Dual]:
    """E[φφ] and E[φ'φ'] for φ = relu^k: φ' = k·relu^{k−1}, so the second is k²·(order k − 1)."""
    lower = _arccos_k(k - 1)
    return _arccos_k(k), (lambda q1, q2, c: (k * k) * lower(q1, q2, c))


def _gelu_dual(q1, q2, c):
    """E[uΦ(u)·vΦ(v)] (docs/maths.md#gelu): with A = 1 + q₁, B = 1 + q₂, D = √(AB − c²),
    c·(¼ + arcsin(c/√(AB))/2π) + (q₁q₂ + c²(1/A + 1/B − 1))/(2πD)."""
    a, b = 1 + q1, 1 + q2
    d = jnp.sqrt(a * b - c * c)
    k = 1 / a + 1 / b - 1
    return (c * (0.25 + jnp.arcsin(jnp.clip(c / jnp.sqrt(a * b), -1.0, 1.0)) / (2 * jnp.pi))
            + (q1 * q2 + c * c * k) / (2 * jnp.pi * d))


def _gelu_dual_derivative(q1, q2, c):
    """E[φ'(u)φ'(v)] = ∂/∂c of the dual (Price's theorem):
    ¼ + arcsin(c/√(AB))/2π + c(1 + 2k)/(2πD) + c(q₁q₂ + c²k)/(2πD³), k = 1/A + 1/B − 1."""
    a, b = 1 + q1, 1 + q2
    d = jnp.sqrt(a * b - c * c)
    k = 1 / a + 1 / b - 1
    return (0.25 + jnp.arcsin(jnp.clip(c / jnp.sqrt(a * b), -1.0, 1.0)) / (2 * jnp.pi)
            + c * (1 + 2 * k) / (2 * jnp.pi * d) + c * (q1 * q2 + c * c * k) / (2 * jnp.pi * d**3))


def _sign_dual(q1, q2, c):
    """E[sign u·sign v] = 1 − 2θ/π = (2/π) arcsin ρ (0 where a variance is zero, as sign 0 = 0)."""
    _, _, theta = _angle(q1, q2, c)
    return jnp.where(q1 * q2 > 0, 1 - 2 * theta / jnp.pi, 0.0)


def _abrelu_duals(a: float, b: float) -> tuple[Dual, Dual]:
    """E[φφ] = a²c + b²·E[|u||v|] and E[φ'φ'] = a² + b²·E[sign u·sign v] for φ = a·t + b·|t|."""

    def dual(q1, q2, c):
        _, s, theta = _angle(q1, q2, c)
        arcsin = 0.5 * jnp.pi - theta
        return a * a * c + b * b * ((2 / jnp.pi) * (s + c * arcsin))

    def dual_derivative(q1, q2, c):
        _, _, theta = _angle(q1, q2, c)
        return a * a + b * b * (2 / jnp.pi) * (0.5 * jnp.pi - theta)

    return dual, dual_derivative


def _erf_dual(q1, q2, c):
    d1, d2 = 1 + 2 * q1, 1 + 2 * q2
    return (2 / jnp.pi) * jnp.arcsin(jnp.clip(2 * c / jnp.sqrt(d1 * d2), -1.0, 1.0))


def _erf_dual_derivative(q1, q2, c):
    d1, d2 = 1 + 2 * q1, 1 + 2 * q2
    return (4 / jnp.pi) / jnp.sqrt(d1 * d2 - 4 * c * c)


def _cosh_dual(q1, q2, c):
    """e^{−(q₁+q₂)/2}·cosh c (E[cos u cos v]), written overflow-free."""
    half = -0.5 * (q1 + q2)
    return 0.5 * (jnp.exp(half + c) + jnp.exp(half - c))


def _sinh_dual(q1, q2, c):
    """e^{−(q₁+q₂)/2}·sinh c (E[sin u sin v])."""
    half = -0.5 * (q1 + q2)
    return 0.5 * (jnp.exp(half + c) - jnp.exp(half - c))


def _gaussian_dual(q1, q2, c):
    return 1 / jnp.sqrt((1 + q1) * (1 + q2) - c * c)


def _gaussian_dual_derivative(q1, q2, c):
    return c / ((1 + q1) * (1 + q2) - c * c) ** 1.5


BASE: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("heaviside", _heaviside, None, "monotonic", 1, dual=_arccos0),
        Activation("tanh", jnp.tanh, _tanh_grad, "monotonic", 1),
        Activation("relu", _relu, _relu_grad, "monotonic", 2,
                   dual=_arccos1, dual_derivative=_arccos0),
        Activation("gelu", _gelu, _gelu_grad, "quasi-monotonic", 2,
                   dual=_gelu_dual, dual_derivative=_gelu_dual_derivative),
        Activation("silu", _silu, _silu_grad, "quasi-monotonic", 2),
        Activation("sinc", _sinc, _sinc_grad, "non-monotonic"),
        Activation("gaussian", _gaussian, _gaussian_grad, "non-monotonic",
                   dual=_gaussian_dual, dual_derivative=_gaussian_dual_derivative),
        Activation("cos", jnp.cos, lambda t: -jnp.sin(t), "periodic",
                   dual=_cosh_dual, dual_derivative=_sinh_dual, pair=_cos_pair),
        Activation("sin", jnp.sin, jnp.cos, "periodic",
                   dual=_sinh_dual, dual_derivative=_cosh_dual, pair=sincos),
        Activation("abs", jnp.abs, _sign, "abrelu", None, (0.0, 1.0), *_abrelu_duals(0.0, 1.0)),
        Activation("linear", _identity, _one, "abrelu", None, (1.0, 0.0), *_abrelu_duals(1.0, 0.0)),
        Activation("sign", _sign, None, "monotonic", 1, dual=_sign_dual),
        Activation("erf", _erf, _erf_grad, "monotonic",
                   dual=_erf_dual, dual_derivative=_erf_dual_derivative),
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

    duals = (_arccos2, _relu2_dual_derivative) if k == 2 else _relu_power_duals(k)
    return Activation(f"relu{k}", fn, deriv, "monotonic", k + 1, (float(k),), *duals)


def _abrelu(a: float, b: float) -> Activation:
    def fn(t):
        return a * t + b * jnp.abs(t)

    def deriv(t):
        return a + b * jnp.sign(t)

    return Activation(f"abrelu({a:g},{b:g})", fn, deriv, "abrelu", None, (a, b),
                      *_abrelu_duals(a, b))


def get(spec: str) -> Activation:
    """The activation a name stands for (case and spaces ignored)."""
    key = spec = spec.strip().lower().replace(" ", "")
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
