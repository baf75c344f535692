"""Small models of four architectures (an MLP, a CNN, one with LayerNorm, a Fourier-feature
network) in each of the four forms `engine.models.as_model` accepts: a function with its
parameters, a Flax NNX module, an Equinox module and a Flax Linen module with its variables.
Every model maps a batch (N, n₀) to (N, k); the CNN reshapes its 16 inputs into a 4 × 4 image.
The functions take no arguments, so a `--model FILE.py:NAME` front end can call them as they are."""

from __future__ import annotations

import math

from engine import backend

backend.configure()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

ARCHS = {"mlp": (3, 2), "cnn": (16, 2), "layernorm": (3, 2), "fourier": (2, 1)}  # (n₀, k)
FORMS = ("function", "nnx", "equinox", "linen")
F64 = jnp.float64
_B = np.random.default_rng(7).standard_normal((4, 2))  # the Fourier features' fixed frequencies


def _normal(key, shape, fan_in):
    return jax.random.normal(key, shape, F64) / math.sqrt(fan_in)


def _fourier_features(B, x):
    z = 2 * math.pi * x @ B.T
    return jnp.concatenate([jnp.sin(z), jnp.cos(z)], axis=-1)


def _layer_norm(h, scale, bias, eps=1e-6):
    mu = h.mean(-1, keepdims=True)
    var = ((h - mu) ** 2).mean(-1, keepdims=True)
    return (h - mu) / jnp.sqrt(var + eps) * scale + bias


# --- functions with their parameters ---------------------------------------------------------

def _dense(key, n_in, n_out):
    return {"W": _normal(key, (n_in, n_out), n_in), "b": 0.1 * jnp.ones((n_out,), F64)}


def function_model(arch: str):
    keys = jax.random.split(jax.random.key(0), 4)
    if arch == "mlp":
        params = [_dense(keys[0], 3, 6), _dense(keys[1], 6, 5), _dense(keys[2], 5, 2)]

        def apply(p, x):
            for layer in p[:-1]:
                x = jnp.tanh(x @ layer["W"] + layer["b"])
            return x @ p[-1]["W"] + p[-1]["b"]
    elif arch == "cnn":
        params = {"conv": _normal(keys[0], (3, 3, 1, 3), 9), "cb": 0.1 * jnp.ones((3,), F64),
                  "out": _dense(keys[1], 48, 2)}

        def apply(p, x):
            img = x.reshape(-1, 4, 4, 1)
            h = jax.lax.conv_general_dilated(img, p["conv"], (1, 1), "SAME",
                                             dimension_numbers=("NHWC", "HWIO", "NHWC"))
            h = jnp.tanh(h + p["cb"]).reshape(x.shape[0], -1)
            return h @ p["out"]["W"] + p["out"]["b"]
    elif arch == "layernorm":
        params = {"in": _dense(keys[0], 3, 6), "ln": {"scale": jnp.ones((6,), F64) * 1.1,
                                                      "bias": jnp.full((6,), 0.05, F64)},
                  "out": _dense(keys[1], 6, 2)}

        def apply(p, x):
            h = _layer_norm(x @ p["in"]["W"] + p["in"]["b"], p["ln"]["scale"], p["ln"]["bias"])
            return jnp.tanh(h) @ p["out"]["W"] + p["out"]["b"]
    elif arch == "fourier":
        params = {"hidden": _dense(keys[0], 8, 8), "out": _dense(keys[1], 8, 1)}
        B = jnp.asarray(_B)

        def apply(p, x):
            h = jnp.tanh(_fourier_features(B, x) @ p["hidden"]["W"] + p["hidden"]["b"])
            return h @ p["out"]["W"] + p["out"]["b"]
    else:
        raise KeyError(arch)
    return apply, params


# --- Flax NNX -----------------------------------------------------------------------------------

def nnx_model(arch: str):
    from flax import nnx

    rngs = nnx.Rngs(0)
    kw = {"param_dtype": F64, "rngs": rngs}

    class MLP(nnx.Module):
        def __init__(self):
            self.l1, self.l2, self.l3 = nnx.Linear(3, 6, **kw), nnx.Linear(6, 5, **kw), nnx.Linear(5, 2, **kw)

        def __call__(self, x):
            return self.l3(jnp.tanh(self.l2(jnp.tanh(self.l1(x)))))

    class CNN(nnx.Module):
        def __init__(self):
            self.conv = nnx.Conv(1, 3, kernel_size=(3, 3), padding="SAME", **kw)
            self.out = nnx.Linear(48, 2, **kw)

        def __call__(self, x):
            h = jnp.tanh(self.conv(x.reshape(-1, 4, 4, 1)))
            return self.out(h.reshape(x.shape[0], -1))

    class LN(nnx.Module):
        def __init__(self):
            self.inp, self.ln, self.out = nnx.Linear(3, 6, **kw), nnx.LayerNorm(6, **kw), nnx.Linear(6, 2, **kw)

        def __call__(self, x):
            return self.out(jnp.tanh(self.ln(self.inp(x))))

    class Fourier(nnx.Module):
        def __init__(self):
            self.B = nnx.Variable(jnp.asarray(_B))  # fixed: state, not a parameter
            self.hidden, self.out = nnx.Linear(8, 8, **kw), nnx.Linear(8, 1, **kw)

        def __call__(self, x):
            return self.out(jnp.tanh(self.hidden(_fourier_features(self.B[...], x))))

    return {"mlp": MLP, "cnn": CNN, "layernorm": LN, "fourier": Fourier}[arch]()


# --- Equinox (applied per sample) -----------------------------------------------------------

def equinox_model(arch: str):
    import equinox as eqx

    keys = jax.random.split(jax.random.key(1), 4)
    lin = lambda i, o, k: eqx.nn.Linear(i, o, key=k, dtype=F64)  # noqa: E731

    class MLP(eqx.Module):
        layers: list

        def __call__(self, x):
            for layer in self.layers[:-1]:
                x = jnp.tanh(layer(x))
            return self.layers[-1](x)

    class CNN(eqx.Module):
        conv: eqx.nn.Conv2d
        out: eqx.nn.Linear

        def __call__(self, x):
            return self.out(jnp.tanh(self.conv(x.reshape(1, 4, 4))).reshape(-1))

    class LN(eqx.Module):
        inp: eqx.nn.Linear
        ln: eqx.nn.LayerNorm
        out: eqx.nn.Linear

        def __call__(self, x):
            return self.out(jnp.tanh(self.ln(self.inp(x))))

    class Fourier(eqx.Module):
        B: jax.Array
        hidden: eqx.nn.Linear
        out: eqx.nn.Linear

        def __call__(self, x):
            B = jax.lax.stop_gradient(self.B)  # fixed frequencies: zero gradient
            return self.out(jnp.tanh(self.hidden(_fourier_features(B, x))))

    if arch == "mlp":
        return MLP([lin(3, 6, keys[0]), lin(6, 5, keys[1]), lin(5, 2, keys[2])])
    if arch == "cnn":
        return CNN(eqx.nn.Conv2d(1, 3, 3, padding=1, key=keys[0], dtype=F64), lin(48, 2, keys[1]))
    if arch == "layernorm":
        return LN(lin(3, 6, keys[0]), eqx.nn.LayerNorm(6, dtype=F64), lin(6, 2, keys[1]))
    if arch == "fourier":
        return Fourier(jnp.asarray(_B), lin(8, 8, keys[0]), lin(8, 1, keys[1]))
    raise KeyError(arch)


# --- Flax Linen (module and variables) ------------------------------------------------------

def linen_model(arch: str):
    import flax.linen as nn

    dense = lambda n: nn.Dense(n, param_dtype=F64)  # noqa: E731

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = jnp.tanh(dense(6)(x))
            return dense(2)(jnp.tanh(dense(5)(x)))

    class CNN(nn.Module):
        @nn.compact
        def __call__(self, x):
            h = jnp.tanh(nn.Conv(3, (3, 3), padding="SAME", param_dtype=F64)(x.reshape(-1, 4, 4, 1)))
            return dense(2)(h.reshape(x.shape[0], -1))

    class LN(nn.Module):
        @nn.compact
        def __call__(self, x):
            return dense(2)(jnp.tanh(nn.LayerNorm(param_dtype=F64)(dense(6)(x))))

    class Fourier(nn.Module):
        @nn.compact
        def __call__(self, x):
            B = self.variable("constants", "B", lambda: jnp.asarray(_B)).value  # not differentiated
            return dense(1)(jnp.tanh(dense(8)(_fourier_features(B, x))))

    module = {"mlp": MLP, "cnn": CNN, "layernorm": LN, "fourier": Fourier}[arch]()
    n0 = ARCHS[arch][0]
    variables = module.init(jax.random.key(2), jnp.zeros((1, n0), F64))
    return module, variables


def model(arch: str, form: str):
    """The model of this architecture in this form, as `as_model` takes it."""
    return {"function": function_model, "nnx": nnx_model, "equinox": equinox_model,
            "linen": linen_model}[form](arch)


def inputs(arch: str, samples: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (samples, ARCHS[arch][0]))


# Names a `--model tests/model_zoo.py:NAME` front end can point at, one per form.
def mlp_function():
    return function_model("mlp")


def mlp_nnx():
    return nnx_model("mlp")


def mlp_equinox():
    return equinox_model("mlp")


def mlp_linen():
    return linen_model("mlp")
