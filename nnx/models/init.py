"""PyTorch's default initialization, for reproducing a PyTorch lab (`model.init: pytorch`).

Why it matters: the ISLP labs are written in PyTorch, and a small network trained for a fixed
number of epochs keeps the scale it started from. The NYSE RNN of lab 10.9.6, run in PyTorch on
nnx's arrays, gives test R^2 0.412-0.415 with PyTorch's initialization and 0.402 with Flax's
(docs/classics.md); the initialization, not the optimizer or the data, made the difference.

PyTorch draws, for `nn.Linear` and `nn.Conv*`, kernel and bias from U(-1/sqrt(fan_in),
1/sqrt(fan_in)); for `nn.RNN`/`nn.LSTM`/`nn.GRU`, every weight and both biases (b_ih, b_hh) from
U(-1/sqrt(hidden), 1/sqrt(hidden)); for `nn.Embedding`, N(0, 1). Flax's cells hold one bias per
gate where PyTorch adds two, so that bias is drawn as the sum of two uniforms, which is b_ih + b_hh
in distribution (for the GRU's candidate gate PyTorch scales b_hn by the reset gate; the sum is
then an approximation).
"""

from __future__ import annotations

import math

import jax
from flax import nnx

RECURRENT_CELLS = (nnx.SimpleCell, nnx.LSTMCell, nnx.GRUCell)


def _uniform(key, shape, bound: float) -> jax.Array:
    return jax.random.uniform(key, shape, minval=-bound, maxval=bound)


def pytorch_init(model: nnx.Module, rngs: nnx.Rngs) -> None:
    """Re-draw `model`'s dense, convolution, embedding and recurrent weights in place, as PyTorch's
    default initialization would; other parameters (e.g. batch norm's scale and offset, which
    PyTorch also starts at 1 and 0) are left as they are."""
    in_cell = set()
    for _, cell in nnx.iter_graph(model):
        if not isinstance(cell, RECURRENT_CELLS):
            continue
        bound = 1.0 / math.sqrt(cell.hidden_features)
        for _, layer in nnx.iter_graph(cell):
            if isinstance(layer, nnx.Linear):
                in_cell.add(id(layer))
                layer.kernel[...] = _uniform(rngs.params(), layer.kernel.shape, bound)
                if layer.bias is not None:  # PyTorch's b_ih + b_hh
                    layer.bias[...] = (_uniform(rngs.params(), layer.bias.shape, bound)
                                       + _uniform(rngs.params(), layer.bias.shape, bound))
    for _, layer in nnx.iter_graph(model):
        if isinstance(layer, (nnx.Linear, nnx.Conv)) and id(layer) not in in_cell:
            bound = 1.0 / math.sqrt(math.prod(layer.kernel.shape[:-1]))  # fan_in
            layer.kernel[...] = _uniform(rngs.params(), layer.kernel.shape, bound)
            if layer.bias is not None:
                layer.bias[...] = _uniform(rngs.params(), layer.bias.shape, bound)
        elif isinstance(layer, nnx.Embed):
            layer.embedding[...] = jax.random.normal(rngs.params(), layer.embedding.shape)
