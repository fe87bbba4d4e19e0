"""Transfer learning: a base without its top (frozen or fine-tuned) under a new head.

The base is ResNet50 made small for speed (one bottleneck per stage: every kind of layer of
ResNet50, batch norm included), on 32x32 RGB images written here; the tests that train also make
it narrow (an eighth of the filters), those that read a weight file keep Keras' widths.
"""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from flax import nnx
from PIL import Image

from nnx import models
from nnx.config import parse_experiment
from nnx.data.base import DataInfo, Dataset
from nnx.models.applications import FEATURE_CHANNELS, resnet
from nnx.models.applications.transfer import FrozenParam, Transfer

from .helpers import run_cli, run_folders, write_experiment
from .test_pretrained import keras_layers, write_h5

CLASSES = 3


@pytest.fixture(autouse=True)
def small_resnet50(monkeypatch):
    monkeypatch.setitem(resnet.BLOCKS, "resnet50", (1, 1, 1, 1))


@pytest.fixture
def narrow(monkeypatch):
    monkeypatch.setattr(resnet, "FILTERS", (8, 16, 32, 64))
    monkeypatch.setitem(FEATURE_CHANNELS, "resnet50", 256)


def images(n, seed=0):
    """Classes told apart by colour: class k is bright in channel k."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % CLASSES
    x = rng.uniform(0, 0.3, (n, 32, 32, 3)).astype(np.float32)
    x[np.arange(n), :, :, y] += 0.6
    return x, y.astype(np.int32)


def dataset(n_train=24, n_val=6, n_test=9):
    (xt, yt), (xv, yv), (xs, ys) = images(n_train, 0), images(n_val, 1), images(n_test, 2)
    return Dataset("colours", DataInfo((32, 32, 3), "classification", CLASSES), xt, yt, xv, yv, xs, ys)


def run_spec(model: str, epochs: int = 3, training: str = ""):
    text = (f"data: {{name: digits}}\nmodel: {model}\n"
            f"training: {{epochs: {epochs}, batch_size: 8, optimizer: {{name: adam, learning_rate: 0.01}}{training}}}\n")
    return parse_experiment(text).runs[0]


def base_state(model: Transfer):
    """Every variable of the base (weights and batch-norm statistics), as numpy arrays."""
    return [np.array(a) for a in jax.tree.leaves(nnx.state(model.impl.base))]


def head_params(model: Transfer):
    return [np.array(a) for a in jax.tree.leaves(nnx.state(model.impl.head, nnx.Param))]


def unchanged(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_a_frozen_base_runs_once_per_image_and_is_unchanged(narrow):
    spec = run_spec("{type: resnet50, include_top: false, trainable: head, head: {dense: [16], dropout: 0.2}}")
    data = dataset()
    model = models.make(spec.model, data.info, 0)
    assert isinstance(model, Transfer)
    assert model.num_params() == 256 * 16 + 16 + 16 * CLASSES + CLASSES  # the head alone is trainable
    assert model.frozen_params() > 10_000
    base, head = base_state(model), head_params(model)
    result = model.fit(data, spec)
    # The base ran once per image (train, validation, test), not once per epoch.
    assert len(result.history) == 3
    assert model.featurized == len(data.x_train) + len(data.x_val) + len(data.x_test)
    assert unchanged(base, base_state(model))  # weights and batch-norm statistics
    assert not unchanged(head, head_params(model))
    assert result.test["accuracy"] >= 0.0 and result.model is model.impl
    # predict composes base and head, and agrees with the head's training on cached features
    features = model.features(data.x_test, len(data.x_train))
    assert model.evaluate(data.x_test, data.y_test, result_task(spec))["accuracy"] == pytest.approx(
        result.test["accuracy"])
    np.testing.assert_allclose(model.predict(data.x_test), model.impl.head(features), rtol=1e-4, atol=1e-4)
    assert model.summary_extras()["transfer"]["featurized_images"] == model.featurized


def result_task(spec):
    from nnx.train import tasks

    return tasks.task_for("classification", spec.training.loss)


def test_without_the_cache_the_frozen_base_keeps_inference_batch_norm(narrow):
    spec = run_spec("{type: resnet50, include_top: false, trainable: head, cache_features: false, head: {}}", 2)
    data = dataset(16, 4, 4)
    model = models.make(spec.model, data.info, 0)
    base, head = base_state(model), head_params(model)
    model.fit(data, spec)
    assert model.featurized == 0  # the base ran inside the training loop
    assert unchanged(base, base_state(model))  # batch norm in inference mode: statistics untouched
    assert not unchanged(head, head_params(model))


def test_augmentation_turns_the_cache_off(narrow):
    spec = run_spec("{type: resnet50, include_top: false, trainable: head, head: {}}", 1,
                    ", augmentation: {horizontal_flip: true}")
    data = dataset(8, 0, 4)
    model = models.make(spec.model, data.info, 0)
    base = base_state(model)
    model.fit(data, spec)
    assert model.featurized == 0 and unchanged(base, base_state(model))


def test_fine_tuning_changes_the_base(narrow):
    spec = run_spec("{type: resnet50, include_top: false, trainable: all, base_learning_rate_factor: 0.5, "
                    "head: {dense: [8]}}", 1)
    data = dataset(8, 0, 4)
    model = models.make(spec.model, data.info, 0)
    assert model.frozen_params() == 0 and model.num_params() > 10_000
    before = [np.array(a) for a in jax.tree.leaves(nnx.state(model.impl.base, nnx.Param))]
    stats = [np.array(a) for a in jax.tree.leaves(nnx.state(model.impl.base, nnx.BatchStat))]
    model.fit(data, spec)
    after = [np.array(a) for a in jax.tree.leaves(nnx.state(model.impl.base, nnx.Param))]
    assert sum(not np.array_equal(a, b) for a, b in zip(before, after, strict=True)) > len(before) // 2
    assert not unchanged(stats, [np.array(a) for a in jax.tree.leaves(nnx.state(model.impl.base, nnx.BatchStat))])


def test_a_parameter_learning_rate_factor_scales_its_updates():
    from nnx.train.optim import make_optimizer

    spec = run_spec("{type: mlp}", 1)
    for name in ("sgd", "adam"):
        training = spec.training.model_copy(update={"optimizer": spec.training.optimizer.model_copy(
            update={"name": name})})
        tx = make_optimizer(training, spec.regularization, 1)
        params = nnx.State({"base": nnx.Param(np.ones(3, np.float32), learning_rate_scale=0.1),
                            "head": nnx.Param(np.ones(3, np.float32))})
        grads = jax.tree.map(lambda p: p * 0.5, params)
        updates, _ = tx.update(grads, tx.init(params), params)
        np.testing.assert_allclose(np.asarray(updates["base"][...]), 0.1 * np.asarray(updates["head"][...]),
                                   rtol=1e-6)
        assert np.all(np.asarray(updates["head"][...]) != 0)


def write_folder(root, n_per_class, seed):
    x, y = images(n_per_class * CLASSES, seed)
    for i, (img, label) in enumerate(zip(x, y, strict=True)):
        folder = root / f"class{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(folder / f"{i:03d}.png")
    return root


EXPERIMENT = """
name: tl
data: {{name: image_folder, path: {train}, test_path: {test}, image_size: [{size}, {size}], color: {color},
        validation_split: 0.25}}
model: {model}
training: {{epochs: 2, batch_size: 8, optimizer: {{name: adam, learning_rate: 0.01}}}}
"""


def experiment(tmp_path, model, size=32, color="rgb"):
    train, test = tmp_path / "train", tmp_path / "test"
    if not train.exists():
        write_folder(train, 4, 0)
        write_folder(test, 2, 1)
    return write_experiment(tmp_path / "tl.yaml", EXPERIMENT.format(train=train, test=test, size=size,
                                                                      color=color, model=model))


def test_a_weight_file_trains_under_a_new_head_through_nnx_train(tmp_path, capsys):
    # weights of a trained network's size, not N(0, 1), whose activations explode through 16 layers
    layers = [(name, [(w, a if w == "moving_variance" else 0.05 * a) for w, a in weights])
              for name, weights in keras_layers(include_top=False, seed=3)]
    write_h5(tmp_path / "base.h5", layers)
    path = experiment(tmp_path, "{type: resnet50, weights: base.h5, include_top: false, trainable: head, "
                                "head: {dense: [16], dropout: 0.3}}")
    code, out, err = run_cli(["train", str(path), "-o", str(tmp_path / "out")], capsys)
    assert code == 0, out + err
    assert "warning" not in err
    (folder,) = run_folders(tmp_path / "out")
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "completed" if "status" in summary else True
    assert "base.h5" in json.dumps(summary)
    model = models.load_run(folder)  # predict through the one Model interface, base and head together
    kernel = dict(layers)["conv1_conv"][0][1]
    np.testing.assert_array_equal(np.asarray(model.impl.base.conv1.kernel[...]), kernel)
    assert isinstance(model.impl.base.conv1.kernel, FrozenParam)
    x, _ = images(4, 5)
    assert model.predict(x).shape == (4, CLASSES)
    image = next((tmp_path / "test" / "class1").iterdir())
    code, out, err = run_cli(["predict", str(folder), str(image)], capsys)  # nnx predict RUN, as any run
    assert code == 0, out + err
    assert "class" in out


def test_a_frozen_random_base_is_trained_with_a_warning(tmp_path, capsys, narrow):
    path = experiment(tmp_path, "{type: resnet50, include_top: false, trainable: head, head: {}}")
    code, out, err = run_cli(["train", str(path), "-o", str(tmp_path / "out")], capsys)
    assert code == 0, out + err
    assert "warning: model.trainable: head without model.weights freezes a random resnet50 base" in err


BAD = [
    ("{type: resnet50, head: {dense: [8]}}", "model.head replaces the network's top: set model.include_top: false"),
    ("{type: resnet50, include_top: false}", "add model.head"),
    ("{type: resnet50, trainable: head}", "model.trainable is for transfer learning: add model.head"),
    ("{type: resnet50, include_top: false, trainable: head, base_learning_rate_factor: 0.1, head: {}}",
     "set trainable: all to fine-tune it"),
    ("{type: resnet50, include_top: false, head: {dense: [8], dropout: [0.1, 0.2]}}", "head dense"),
    ("{type: resnet50, weights: base.h5, include_top: false, head: {}}", "take RGB images (3 channels), the data has 1"),
    ("{type: resnet50, include_top: false, head: {}}", "images must be at least 32x32"),
    ("{type: resnet50, weights: missing.h5, include_top: false, head: {}}", "missing.h5 not found"),
    ("{type: resnet50, weights: base.h5, include_top: false, trainable: head, head: {}}", "no layer conv2_block1_1_conv"),
    ("{type: resnet50, weights: base.h5}", "nnx train trains a pretrained network under a new head"),
]


@pytest.mark.parametrize("model,message", BAD)
def test_bad_transfer_options_are_one_line_and_exit_2(tmp_path, capsys, model, message):
    layers = keras_layers(include_top=False)
    if "no layer" in message:  # a weight file of another network
        layers = [(n, w) for n, w in layers if not n.startswith("conv2_block1_1")]
    write_h5(tmp_path / "base.h5", layers)
    size = 16 if "at least 32x32" in message else 32
    color = "grayscale" if "3 channels" in message else "rgb"
    path = experiment(tmp_path, model, size=size, color=color)
    code, out, err = run_cli(["train", str(path), "-o", str(tmp_path / "out")], capsys)
    assert code == 2, out + err
    assert message in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.strip() and "warning" not in line]) == 1, err
    assert not (tmp_path / "out").exists() or not run_folders(tmp_path / "out")
