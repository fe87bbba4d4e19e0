"""Small layers shared by the model families."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx


def _mix32(h: jax.Array) -> jax.Array:
    """MurmurHash3's 32-bit finalizer: a bijection whose output bits all depend on every input bit."""
    h = h ^ (h >> 16)
    h = h * jnp.uint32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * jnp.uint32(0xC2B2AE35)
    return h ^ (h >> 16)


def keep_threshold(keep: float) -> int:
    """The uint32 below which a hashed value keeps its unit: P(keep), in 32-bit steps."""
    return min(round(keep * 2.0**32), 2**32 - 1)


def keep_mask(key: jax.Array, shape: tuple[int, ...], keep: float | jax.Array) -> jax.Array:
    """A Bernoulli(keep) mask: one threefry draw seeds a counter-based hash over the elements.

    Why not `jax.random.bernoulli`: threefry for every element costs about 7 ns per value on a
    CPU, a quarter of an MNIST MLP's training step; hashing the element index with a per-call
    seed is about 6x cheaper and, for dropout, statistically as good (uniform 32-bit values,
    independent across elements, calls and keys). `keep` is a probability, or an array holding
    its `keep_threshold` (uint32: a traced rate, see `Dropout`).
    """
    seed = jax.random.bits(key, (), jnp.uint32)
    index = jax.lax.iota(jnp.uint32, math.prod(shape)).reshape(shape)
    bits = _mix32(index * jnp.uint32(0x9E3779B9) + seed)
    threshold = keep if isinstance(keep, jax.Array) else jnp.uint32(keep_threshold(keep))
    return bits < threshold


class DropoutRate(nnx.Variable):
    """A dropout layer's rate as model state rather than a constant of the compiled program, so
    runs that differ only in their dropout rates share one program (a vectorized sweep)."""


class Dropout(nnx.Module):
    """Inverted dropout (section 7.4 of the notes): in training each unit is zeroed with
    probability `rate` and survivors are scaled by 1/(1-rate); at evaluation, the identity.

    The same interface as `nnx.Dropout` (the key comes from `rngs` at call time), with a cheaper
    mask (see `keep_mask`). The rate lives in the state (`DropoutRate`: the keep probability and
    its 32-bit threshold, computed here in double precision as a constant rate would be); only
    whether the layer drops at all (rate > 0) is part of the program.
    """

    def __init__(self, rate: float):
        self.active = rate > 0
        keep = 1.0 - rate
        self.keep = DropoutRate(jnp.float32(keep))
        self.threshold = DropoutRate(jnp.uint32(keep_threshold(keep)))

    @property
    def rate(self) -> float:
        return 1.0 - float(self.keep[...])

    def __call__(self, x, *, deterministic: bool = True, rngs: nnx.Rngs | None = None):
        if deterministic or not self.active:
            return x
        if rngs is None:
            raise ValueError("Dropout in training needs `rngs` with a 'dropout' stream")
        mask = keep_mask(rngs.dropout(), x.shape, self.threshold[...])
        return jnp.where(mask, x / self.keep[...].astype(x.dtype), jnp.zeros_like(x))
