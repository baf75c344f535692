"""A researcher's model file for `ntk kernel --model` tests: the same 3-32-2 tanh MLP in the four
forms (a function with its parameters, Flax NNX, Equinox, Flax Linen), and files that go wrong."""
import jax
import jax.numpy as jnp
import numpy as np

W1 = np.random.default_rng(0).standard_normal((3, 32)) / np.sqrt(3)
W2 = np.random.default_rng(1).standard_normal((32, 2)) / np.sqrt(32)


def apply(params, x):
    return jnp.tanh(x @ params["w1"]) @ params["w2"]


def function():
    return apply, {"w1": jnp.asarray(W1), "w2": jnp.asarray(W2)}


def nnx_model():
    from flax import nnx

    class MLP(nnx.Module):
        def __init__(self):
            self.w1 = nnx.Param(jnp.asarray(W1))
            self.w2 = nnx.Param(jnp.asarray(W2))

        def __call__(self, x):
            return jnp.tanh(x @ self.w1[...]) @ self.w2[...]

    return MLP()


def equinox_model():
    import equinox as eqx

    class MLP(eqx.Module):
        w1: jax.Array
        w2: jax.Array

        def __call__(self, x):  # one sample
            return jnp.tanh(x @ self.w1) @ self.w2

    return MLP(jnp.asarray(W1), jnp.asarray(W2))


def linen_model():
    import flax.linen as nn

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            w1 = self.param("w1", lambda k: jnp.asarray(W1))
            w2 = self.param("w2", lambda k: jnp.asarray(W2))
            return jnp.tanh(x @ w1) @ w2

    m = MLP()
    return m, m.init(jax.random.key(0), jnp.ones((1, 3)))


def mixes_samples():
    return (lambda p, x: (x - x.mean(0)) @ p), jnp.ones((3, 1))


def not_a_model():
    return 42


def broken():
    raise RuntimeError("the weights file is missing")
