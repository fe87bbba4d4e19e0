"""The 1-D convolutional family (`type: conv1d`, section 5.7 of the notes) on tiny synthetic data:
shapes for word ids and float sequences, padding masked out, the CPU convolution against XLA's,
training through nnx's loop, and parameter counts against a hand count."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from nnx.config import parse_experiment
from nnx.data import text
from nnx.data.base import DataInfo, Dataset
from nnx.errors import ConfigError
from nnx.models import build
from nnx.models.conv1d import Conv1DSpec, conv_general_dilated

from .helpers import run_cli


def _model(info: DataInfo, **options):
    return build(Conv1DSpec(type="conv1d", **options), info, nnx.Rngs(0))


SMALL = {"embedding": 6, "filters": [5, 4], "kernel_size": [3, 2], "dense": [3]}
EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
IDS = DataInfo((12,), "binary", vocab_size=20)


def _front_pad(words: list[int], maxlen: int) -> np.ndarray:
    return text.pad_sequences([words], maxlen)


def test_outputs_for_word_ids_and_for_float_sequences():
    ids = np.random.default_rng(0).integers(0, 20, (4, 12)).astype(np.int32)
    assert _model(IDS, **SMALL)(jnp.asarray(ids)).shape == (4, 1)
    classes = DataInfo((12,), "classification", num_classes=3, vocab_size=20)
    assert _model(classes, **SMALL)(jnp.asarray(ids)).shape == (4, 3)

    series = DataInfo((5, 3), "regression")  # e.g. NYSE's layout: sequence, 5 lags x 3 features
    x = np.random.default_rng(1).normal(size=(4, 5, 3)).astype(np.float32)
    assert _model(series, **{**SMALL, "embedding": None})(jnp.asarray(x)).shape == (4, 1)
    one_feature = DataInfo((5,), "regression")
    assert _model(one_feature, **{**SMALL, "embedding": None})(jnp.asarray(x[..., 0])).shape == (4, 1)


def test_more_front_padding_gives_the_same_logits():
    model = _model(IDS, **SMALL)
    review = [5, 9, 3, 17, 2, 11]
    short = _front_pad(review, 12)        # six pads
    longer = _front_pad(review, 30)       # 24 pads: the same words
    unpadded = np.asarray([review], np.int32)
    expected = model(jnp.asarray(short))
    np.testing.assert_allclose(model(jnp.asarray(longer)), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(model(jnp.asarray(unpadded)), expected, rtol=1e-6, atol=1e-6)
    # and it is the words that matter: another review does give other logits
    assert not np.allclose(model(jnp.asarray(_front_pad(review[::-1], 12))), expected)


def test_padding_never_wins_the_max_pool():
    """Were padded steps pooled, a huge PAD embedding would own every filter's maximum."""
    model = _model(IDS, **SMALL)
    ids = jnp.asarray(np.concatenate([_front_pad([4, 8, 15], 12), _front_pad([16, 2, 3, 4, 5, 6, 7], 12)]))
    before = model(ids)
    model.embed.embedding[...] = model.embed.embedding[...].at[text.PAD].set(100.0)
    np.testing.assert_allclose(model(ids), before, rtol=1e-6, atol=1e-6)
    empty = model(jnp.zeros((2, 12), jnp.int32))  # no word at all: pooled features are 0, finite
    assert np.all(np.isfinite(empty)) and np.allclose(empty[0], empty[1])


def test_cpu_convolution_equals_xla_convolution_and_is_causal():
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.normal(size=(2, 7, 4)).astype(np.float32))
    kernel = jnp.asarray(rng.normal(size=(3, 4, 5)).astype(np.float32))
    dims = ("NWC", "WIO", "NWC")
    ours = conv_general_dilated(x, kernel, (1,), "VALID", dimension_numbers=dims)
    xla = jax.lax.conv_general_dilated(x, kernel, (1,), "VALID", dimension_numbers=dims)
    np.testing.assert_allclose(ours, xla, rtol=1e-5, atol=1e-5)

    model = _model(DataInfo((7, 4), "regression"), embedding=None, filters=[5], kernel_size=3, dense=[])
    conv = model.convs[0]
    y = conv(x)
    assert y.shape == (2, 7, 5)  # causal: the length is kept
    k, b = np.asarray(conv.kernel[...]), np.asarray(conv.bias[...])
    padded = np.concatenate([np.zeros((2, 2, 4), np.float32), np.asarray(x)], axis=1)
    for t in (0, 4, 6):  # step t reads steps t-2..t, zeros before the start
        expected = np.einsum("nkc,kco->no", padded[:, t:t + 3], k) + b
        np.testing.assert_allclose(y[:, t], expected, rtol=1e-5, atol=1e-5)


def _fit(yaml_text: str, data):
    from nnx.train.loop import fit

    spec = parse_experiment(yaml_text).runs[0]
    return fit(build(spec.model, data.info, nnx.Rngs(0)), data, spec)


def test_a_few_epochs_reduce_the_loss_on_word_ids_and_on_float_series():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 96).astype(np.int32)
    docs = [list(rng.integers(3, 12, rng.integers(3, 10))) for _ in y]
    for doc, label in zip(docs, y):  # the phrase "2 2" (good) or "12 12" (bad) somewhere in the review
        at = rng.integers(0, len(doc))
        doc[at:at] = [2, 2] if label else [12, 12]
    ids = text.pad_sequences(docs, 14)
    data = Dataset("toy", DataInfo((14,), "binary", vocab_size=13), ids[:64], y[:64], ids[64:80], y[64:80],
                   ids[80:], y[80:])
    result = _fit("data: {name: imdb}\nmodel: {type: conv1d, embedding: 8, filters: [8], dense: [8]}\n"
                  "training: {epochs: 8, batch_size: 16, optimizer: {name: adam, learning_rate: 0.01}}\n", data)
    losses = [r.train["loss"] for r in result.history]
    assert losses[-1] < 0.5 * losses[0]
    assert result.test["accuracy"] >= 0.9

    x = rng.normal(size=(96, 6, 2)).astype(np.float32)
    target = np.max(x[:, :, 0], axis=1)  # a max over the steps: what the pool computes
    series = Dataset("toy", DataInfo((6, 2), "regression"), x[:64], target[:64], x[64:80], target[64:80],
                     x[80:], target[80:])
    result = _fit("data: {name: imdb}\nmodel: {type: conv1d, embedding: null, filters: [8], kernel_size: 1, "
                  "dense: [], embedding_dropout: 0}\n"
                  "training: {epochs: 8, batch_size: 16, optimizer: {name: adam, learning_rate: 0.02}}\n", series)
    losses = [r.train["loss"] for r in result.history]
    assert losses[-1] < 0.5 * losses[0]


def _hand_count(vocab: int, embedding: int, filters: list[int], kernels: list[int], dense: list[int],
                outputs: int) -> int:
    total = vocab * embedding
    for c_in, c_out, k in zip([embedding, *filters[:-1]], filters, kernels):
        total += k * c_in * c_out + c_out
    for a, b in zip([filters[-1], *dense], [*dense, outputs]):
        total += a * b + b
    return total


def test_count_params_equals_the_hand_count(capsys, tmp_path):
    code, out, err = run_cli(["count-params", "conv1d", "--input-shape", "40", "--vocab-size", "30",
                              "--classes", "2", "--set", "embedding=4", "--set", "filters=[5,6]",
                              "--set", "kernel_size=[3,2]", "--set", "dense=[3]", "--format", "json"], capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["trainable"] == _hand_count(30, 4, [5, 6], [3, 2], [3], 2) == 120 + 65 + 66 + 21 + 8
    conv = next(layer for layer in summary["layers"] if layer["name"] == "convs.1")
    assert conv["type"] == "Conv" and conv["output_shape"] == [None, 40, 6]

    # the shipped IMDB variant, counted from the experiment file without reading the data
    code, out, err = run_cli(["count-params", EXPERIMENTS / "imdb_rnn.yaml", "--variant", "conv1d",
                              "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["trainable"] == _hand_count(10002, 50, [250], [3], [250], 1) == 600_851


def test_spec_errors_are_config_errors():
    with pytest.raises(ConfigError, match="kernel_size has 1 sizes for 2 convolutions"):
        parse_experiment("data: {name: imdb}\nmodel: {type: conv1d, filters: [4, 4], kernel_size: [3]}\n")
    with pytest.raises(ConfigError, match="conv_dropout has 2 rates for 1 convolutions"):
        parse_experiment("data: {name: imdb}\nmodel: {type: conv1d, filters: [4], conv_dropout: [0.1, 0.2]}\n")
    with pytest.raises(ConfigError, match="embedding: null"):
        _model(DataInfo((5, 3), "regression"))  # the default embeds word ids; these are floats
    with pytest.raises(ConfigError, match="set model.embedding"):
        _model(IDS, embedding=None)
    with pytest.raises(ConfigError, match="dropout has 2 rates for 1 dense layers"):
        parse_experiment("data: {name: imdb}\nmodel: {type: conv1d, dense: [4], dropout: [0.1, 0.2]}\n")
