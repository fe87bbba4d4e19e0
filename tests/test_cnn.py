"""Convolutional networks, image augmentation and the CIFAR reader."""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from pydantic import TypeAdapter

from nnx.config import load_experiment, parse_experiment
from nnx.data import cifar
from nnx.data.base import DataInfo
from nnx.errors import ConfigError, DataError
from nnx.models import ModelSpec, build
from nnx.models.cnn import Conv2D, block_shapes, conv2d, conv_padding, max_pool
from nnx.train import tasks
from nnx.train.augment import AugmentationSpec, _rotate_shift, make_augment
from nnx.train.loop import make_core

from .conftest import EXPERIMENTS
from .helpers import run_cli

MODEL = TypeAdapter(ModelSpec)


def cnn_spec(**kw):
    return MODEL.validate_python({"type": "cnn", **kw})


def n_params(model) -> int:
    return int(sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param))))


# --------------------------------------------------------------------------------------------
# The model


def test_shapes_through_every_block():
    spec = cnn_spec(blocks=[
        {"filters": 8, "convs": 2, "batch_norm": True},                      # 20 -> 20 -> pool 10
        {"filters": 12, "kernel_size": 3, "padding": "valid", "pool": "avg"},  # 10 -> 8 -> pool 4
        {"filters": 16, "kernel_size": 2, "pool": "none", "dropout": 0.2},    # 4 -> 4 (same, even kernel)
        {"filters": 4, "kernel_size": 3, "padding": "valid", "pool_size": 2},  # 4 -> 2 -> pool 1
    ], dense=[10, 6], dropout=[0.1, 0.2], flatten_dropout=0.1)
    model = build(spec, DataInfo((20, 20, 3), num_classes=5), nnx.Rngs(0))
    expected = [(20, 20, 3), (10, 10, 8), (4, 4, 12), (4, 4, 16), (1, 1, 4)]
    assert block_shapes((20, 20, 3), spec.blocks) == expected
    x = jnp.ones((2, 20, 20, 3))
    for train in (False, True):
        maps = nnx.eval_shape(lambda m, t=train: m.features(x, train=t, rngs=nnx.Rngs(dropout=1)), model)
        assert [m.shape[1:] for m in maps] == expected
    assert model(x).shape == (2, 5)
    # Batch norm replaces the convolution bias; first block: 3*3*3*8 + 3*3*8*8 + 2*(8+8) BN scale/shift.
    assert n_params(model.blocks[0]) == 3 * 3 * 3 * 8 + 3 * 3 * 8 * 8 + 2 * 16


def test_book_cifar100_preset_has_964516_parameters():
    spec = cnn_spec(preset="cifar100_book")
    assert [b.filters for b in spec.blocks] == [32, 64, 128, 256]
    assert spec.dense == [512] and spec.flatten_dropout == 0.5
    abstract = nnx.eval_shape(lambda: build(spec, DataInfo((32, 32, 3), num_classes=100), nnx.Rngs(0)))
    assert n_params(abstract) == 964_516
    # The experiment file builds the same network.
    run = load_experiment(EXPERIMENTS / "cifar100_cnn.yaml").runs[0]
    abstract = nnx.eval_shape(lambda: build(run.model, DataInfo((32, 32, 3), num_classes=100), nnx.Rngs(0)))
    assert n_params(abstract) == 964_516
    # Keys given next to a preset override it.
    assert cnn_spec(preset="cifar100_book", dense=[256]).dense == [256]


@pytest.mark.parametrize("blocks, key", [
    ([{"filters": 4}] * 6, "model.blocks[3]"),  # 12 -> 6 -> 3 -> 1: no room for a fourth pool
    ([{"filters": 4, "kernel_size": 5, "padding": "valid", "pool": "none"}] * 3, "model.blocks[2]"),
])
def test_maps_that_shrink_to_nothing_are_config_errors(blocks, key):
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        build(cnn_spec(blocks=blocks), DataInfo((12, 12, 1), num_classes=3), nnx.Rngs(0))


@pytest.mark.parametrize("k, padding", [(3, "same"), (2, "same"), (4, "same"), (3, "valid"), (1, "valid")])
def test_conv_matches_xla_convolution(k, padding):
    conv = Conv2D(3, 5, k, padding=padding, rngs=nnx.Rngs(0))
    conv.bias[...] = jnp.arange(5.0)
    x = jax.random.normal(jax.random.key(1), (2, 9, 7, 3))
    expected = jax.lax.conv_general_dilated(x, conv.kernel[...], (1, 1), padding.upper(),
                                            dimension_numbers=("NHWC", "HWIO", "NHWC")) + jnp.arange(5.0)
    np.testing.assert_allclose(conv(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kernel, padding", [((3, 3), "same"), ((3, 3), "valid"), ((2, 2), "same"), ((5, 3), "same")])
def test_conv_gradients_match_xla_convolution(kernel, padding):
    # conv2d's own backward convolutions (NHWC/HWIO written out) against JAX's derivation.
    x = jax.random.normal(jax.random.key(0), (2, 7, 6, 3))
    w = jax.random.normal(jax.random.key(1), (*kernel, 3, 4))

    def xla(x, w):
        return jax.lax.conv_general_dilated(x, w, (1, 1), padding.upper(), dimension_numbers=("NHWC", "HWIO", "NHWC"))

    def ours(x, w):
        return conv2d(x, w, conv_padding(w.shape, padding))

    loss = lambda conv: lambda x, w: jnp.sum(jnp.sin(conv(x, w)))  # noqa: E731  (a gradient that varies)
    for got, want in zip(jax.grad(loss(ours), (0, 1))(x, w), jax.grad(loss(xla), (0, 1))(x, w)):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_max_pool_and_its_gradient_match_flax():
    x = jax.random.normal(jax.random.key(0), (2, 7, 6, 3))  # 7 rows: the ragged last one is dropped
    flax_pool = lambda x: nnx.max_pool(x, (2, 2), strides=(2, 2), padding="VALID")  # noqa: E731
    np.testing.assert_array_equal(max_pool(x, 2), flax_pool(x))
    grad = lambda pool: jax.grad(lambda x: jnp.sum(jnp.sin(pool(x))))(x)  # noqa: E731
    np.testing.assert_array_equal(grad(lambda x: max_pool(x, 2)), grad(flax_pool))


def test_an_epoch_split_into_calls_equals_one_scan():
    # A CNN's epoch runs a compiled call per step (steps_per_call); any split gives the same
    # steps, keys and sums as the whole epoch in one scan, and reports the steps finished.
    from nnx.train.loop import compile_epoch, steps_per_call

    spec = cnn_spec(blocks=[{"filters": 4, "batch_norm": True}, {"filters": 4, "convs": 2}], dense=[8], dropout=0.3)
    run = parse_experiment("data: {name: digits}\nmodel: {type: mlp}\n"
                           "training: {batch_size: 16, optimizer: adam}").runs[0]
    n, rng = 90, np.random.default_rng(0)
    x = jnp.asarray(rng.random((n, 8, 8, 1), np.float32))
    y = jnp.asarray(rng.integers(0, 10, n).astype(np.int32))
    results = {}
    for per_call in (None, 1, 2):
        model = build(spec, DataInfo((8, 8, 1), "classification", 10), nnx.Rngs(0))
        core, state = make_core(model, tasks.CLASSIFICATION, run.training, run.regularization, 6)
        epoch, told = compile_epoch(core, n, steps_per_call=per_call), []
        for i in range(2):
            state, sums = epoch(state, x, y, jax.random.key(i), lambda done, total, told=told: told.append((done, total)))
        results[per_call] = (state, sums, told)
    assert steps_per_call(model, 6) == 1
    assert results[None][2] == [] and results[2][2] == [(2, 6), (2, 6)]
    assert results[1][2] == [(1, 6), (2, 6), (3, 6), (4, 6)] * 2
    for per_call in (1, 2):
        for got, want in zip(jax.tree.leaves(results[per_call][:2]), jax.tree.leaves(results[None][:2])):
            np.testing.assert_array_equal(got, want)


def test_bad_cnn_config_is_a_config_error():
    text = "data: {name: digits}\nmodel:\n  type: cnn\n  blocks: [{filters: 8, pool: maximum}]\n"
    with pytest.raises(ConfigError, match=r"model.blocks.0.pool: 'maximum' is not one of max, avg, none"):
        parse_experiment(text)
    with pytest.raises(ConfigError, match="dropout has 1 rates for 2 dense layers"):
        parse_experiment("data: {name: digits}\nmodel: {type: cnn, blocks: [{filters: 8}], dense: [8, 8], "
                         "dropout: [0.1]}\n")


# --------------------------------------------------------------------------------------------
# Augmentation


def blobs(n: int = 10, size: int = 16, seed: int = 0) -> np.ndarray:
    """n distinct images: a few bright squares each, like strokes on a dark background."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, size, size, 1), np.float32)
    for i in range(n):
        for _ in range(4):
            r, c = rng.integers(3, size - 6, 2)
            x[i, r:r + 3, c:c + 3] = 1.0
    return x


FULL = AugmentationSpec(crop_padding=2, horizontal_flip=True, shift=1.5, rotation=10)


def test_augmentation_keeps_shape_and_dtype_and_is_deterministic_per_key():
    augment = make_augment(FULL)
    x = jnp.asarray(blobs())
    a, b = augment(x, jax.random.key(7)), augment(x, jax.random.key(7))
    c = augment(x, jax.random.key(8))
    assert a.shape == x.shape and a.dtype == x.dtype
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert not np.allclose(a, x)
    # Channel-less (N, H, W) images and colour images work too.
    assert augment(x[..., 0], jax.random.key(0)).shape == (10, 16, 16)
    assert augment(jnp.ones((3, 8, 8, 3)), jax.random.key(0)).shape == (3, 8, 8, 3)
    # Each image in a batch gets its own transform.
    same = jnp.broadcast_to(x[:1], (6, 16, 16, 1))
    out = np.asarray(augment(same, jax.random.key(3)))
    assert len({out[i].tobytes() for i in range(6)}) > 1


def test_augmentation_preserves_labels():
    """A small shift and rotation keeps each image closest to its own original: the label still holds."""
    x = blobs(20)
    out = np.asarray(make_augment(AugmentationSpec(shift=0.5, rotation=10))(jnp.asarray(x), jax.random.key(0)))
    flat_x, flat_out = x.reshape(20, -1), out.reshape(20, -1)
    similarity = (flat_out / np.linalg.norm(flat_out, axis=1, keepdims=True)) @ (
        flat_x / np.linalg.norm(flat_x, axis=1, keepdims=True)).T
    assert (similarity.argmax(axis=1) == np.arange(20)).all()


def test_each_transform_does_what_it_says():
    x = jnp.asarray(blobs(4))
    # Flips only: every image is itself or its mirror image, never anything else.
    flipped = np.asarray(make_augment(AugmentationSpec(horizontal_flip=True))(x, jax.random.key(0)))
    for orig, out in zip(np.asarray(x), flipped):
        assert np.array_equal(out, orig) or np.array_equal(out, orig[:, ::-1])
    # Crops only: every image is a window of the zero-padded original.
    cropped = np.asarray(make_augment(AugmentationSpec(crop_padding=2))(x, jax.random.key(1)))
    padded = np.pad(np.asarray(x), ((0, 0), (2, 2), (2, 2), (0, 0)))
    for p, out in zip(padded, cropped):
        assert any(np.array_equal(out, p[i:i + 16, j:j + 16]) for i in range(5) for j in range(5))
    # A whole-pixel shift moves the image (zeros come in); a quarter turn is np.rot90.
    image = jnp.asarray(np.random.default_rng(0).random((5, 5, 1), np.float32))
    moved = _rotate_shift(image, 0.0, jnp.array([1.0, 0.0]), "zeros")
    np.testing.assert_allclose(moved[1:], image[:-1], atol=1e-6)
    np.testing.assert_allclose(moved[0], 0.0)
    turned = _rotate_shift(image, jnp.pi / 2, jnp.zeros(2), "zeros")
    assert any(np.allclose(turned[..., 0], np.rot90(image[..., 0], k), atol=1e-5) for k in (1, 3))
    # Nothing switched on: no augmentation at all. Flips are off by default.
    assert make_augment(None) is None and make_augment(AugmentationSpec()) is None
    assert AugmentationSpec().horizontal_flip is False


def tiny_cnn(batch_norm: bool = True):
    spec = cnn_spec(blocks=[{"filters": 4, "batch_norm": batch_norm}], dense=[8])
    return build(spec, DataInfo((8, 8, 1), num_classes=3), nnx.Rngs(0))


def test_training_batches_are_augmented_and_evaluation_is_not():
    run = parse_experiment("data: {name: digits}\nmodel: {type: cnn, blocks: [{filters: 4}]}\n").runs[0]
    blank = lambda x, key: jnp.zeros_like(x)  # noqa: E731 - an "augmentation" that erases the image
    x = jax.random.uniform(jax.random.key(0), (2, 16, 8, 8, 1))
    y = jnp.array([[0, 1] * 8, [2, 1] * 8])
    w = jnp.ones((2, 16))
    cores = [make_core(tiny_cnn(batch_norm=False), tasks.task_for("classification"), run.training,
                       run.regularization, 2, augment=a) for a in (None, blank)]
    (plain, state), (erasing, _) = cores
    evaluated = [jax.device_get(core.evaluate(state["params"], state["rest"], x, y, w)) for core in (plain, erasing)]
    assert evaluated[0] == evaluated[1]  # evaluation ignores the augmentation
    key = jax.random.key(1)
    loss_erased, _ = erasing.loss_fn(state["params"], state["rest"], x[0], y[0], w[0], key)
    loss_zeros, _ = plain.loss_fn(state["params"], state["rest"], jnp.zeros_like(x[0]), y[0], w[0], key)
    loss_plain, _ = plain.loss_fn(state["params"], state["rest"], x[0], y[0], w[0], key)
    assert loss_erased == pytest.approx(float(loss_zeros)) and loss_erased != pytest.approx(float(loss_plain))


def test_fit_applies_the_configured_augmentation(monkeypatch):
    from nnx import data as data_
    from nnx.train import loop

    seen = []
    real = loop.make_augment

    def spy(spec):
        fn = real(spec)
        seen.append(spec)
        return None if fn is None else (lambda x, key: (seen.append(x.shape), fn(x, key))[1])

    monkeypatch.setattr(loop, "make_augment", spy)
    run = parse_experiment("data: {name: digits, train_subset: 200}\n"
                           "model: {type: cnn, blocks: [{filters: 4, batch_norm: true}], dense: [8]}\n"
                           "training: {epochs: 1, batch_size: 50, augmentation: {shift: 1, rotation: 5}}\n").runs[0]
    dataset = data_.load(run.data, seed=0)
    result = loop.fit(build(run.model, dataset.info, nnx.Rngs(0)), dataset, run)
    assert seen[0] == run.training.augmentation and (50, 8, 8, 1) in seen[1:]
    assert 0.0 <= result.test["accuracy"] <= 1.0 and np.isfinite(result.history[0].train["loss"])


# --------------------------------------------------------------------------------------------
# CIFAR archives


def _pickled(obj) -> bytes:
    return pickle.dumps(obj, protocol=2)  # as the original archives (Python 2's cPickle), bytes keys


def write_cifar(path, name: str, n: int = 3, members: dict[str, bytes] | None = None, seed: int = 0):
    """A tiny archive in the layout and pickle format of the canonical CIFAR python archives."""
    rng = np.random.default_rng(seed)
    files: dict[str, bytes] = {}
    if name == "cifar10":
        for i in range(1, 6):
            files[f"cifar-10-batches-py/data_batch_{i}"] = _pickled({
                b"batch_label": f"training batch {i} of 5".encode(),
                b"labels": [int(v) for v in rng.integers(0, 10, n)],
                b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                b"filenames": [b"x.png"] * n})
        files["cifar-10-batches-py/test_batch"] = _pickled({
            b"batch_label": b"testing batch 1 of 1", b"labels": [int(v) for v in rng.integers(0, 10, n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"filenames": [b"y.png"] * n})
        files["cifar-10-batches-py/batches.meta"] = _pickled({
            b"label_names": [f"class{i}".encode() for i in range(10)], b"num_cases_per_batch": n, b"num_vis": 3072})
    else:
        for split, m in (("train", 2 * n), ("test", n)):
            files[f"cifar-100-python/{split}"] = _pickled({
                b"filenames": [b"z.png"] * m, b"batch_label": split.encode(),
                b"fine_labels": [int(v) for v in rng.integers(0, 100, m)],
                b"coarse_labels": [int(v) for v in rng.integers(0, 20, m)],
                b"data": rng.integers(0, 256, (m, 3072), dtype=np.uint8)})
        files["cifar-100-python/meta"] = _pickled({
            b"fine_label_names": [f"fine{i}".encode() for i in range(100)],
            b"coarse_label_names": [f"coarse{i}".encode() for i in range(20)]})
    files.update(members or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for member, raw in files.items():
            info = tarfile.TarInfo(member)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path


def test_cifar10_archive_is_read_in_the_canonical_layout(tmp_path):
    path = write_cifar(tmp_path / "c10.tar.gz", "cifar10")
    x_train, y_train, x_test, y_test, classes = cifar.read_cifar_archive(path, "cifar10")
    assert x_train.shape == (15, 32, 32, 3) and x_test.shape == (3, 32, 32, 3) and x_train.dtype == np.uint8
    assert classes == [f"class{i}" for i in range(10)]
    with tarfile.open(path) as tar:
        first = pickle.loads(tar.extractfile("cifar-10-batches-py/data_batch_1").read(), encoding="bytes")
    row = first[b"data"][0]
    # Row layout: 1024 red, then 1024 green, then 1024 blue values, each a row-major 32x32 plane.
    assert list(x_train[0, 2, 5]) == [row[2 * 32 + 5], row[1024 + 2 * 32 + 5], row[2048 + 2 * 32 + 5]]
    assert list(y_train[:3]) == first[b"labels"]
    assert not list(tmp_path.glob("cifar-10-batches-py"))  # nothing extracted to disk


def test_cifar_loaders_follow_the_data_folder_rules(tmp_path, monkeypatch):
    for name, n_classes, mode in (("cifar10", 10, "fine"), ("cifar100", 100, "fine"), ("cifar100", 20, "coarse")):
        archive = write_cifar(tmp_path / cifar.ARCHIVES[name].path, name, n=10)
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        monkeypatch.setitem(cifar.ARCHIVES, name, cifar.ARCHIVES[name].__class__(
            cifar.ARCHIVES[name].path, (), digest))
        run = parse_experiment(f"data: {{name: {name}, validation_split: 0.2, label_mode: {mode}}}\n"
                               "model: {type: cnn, preset: cifar100_book}\n").runs[0]
        from nnx import data as data_

        ds = data_.load(run.data, seed=0, data_dir=tmp_path)
        total = 50 if name == "cifar10" else 20
        assert ds.sizes() == {"train": total - total // 5, "validation": total // 5, "test": 10}
        assert ds.info.input_shape == (32, 32, 3) and ds.info.num_classes == n_classes
        assert ds.x_train.dtype == np.float32 and 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
        assert ds.y_train.max() < n_classes and len(ds.meta["classes"]) == n_classes


def test_cifar_config_rules():
    with pytest.raises(ConfigError, match="label_mode 'coarse' exists only for cifar100"):
        parse_experiment("data: {name: cifar10, label_mode: coarse}\nmodel: {type: cnn, preset: cifar100_book}\n")


def test_missing_cifar_archive_says_where_to_put_it(tmp_path):
    from nnx import data as data_

    run = parse_experiment("data: {name: cifar100}\nmodel: {type: cnn, preset: cifar100_book}\n").runs[0]
    with pytest.raises(DataError, match=r"missing data file cifar100/cifar-100-python.tar.gz .*--data-dir"):
        data_.load(run.data, seed=0, data_dir=tmp_path)


class _Boom:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.parametrize("damage", ["truncated", "not_gzip", "missing_member", "bad_rows", "code_in_pickle"])
def test_corrupted_cifar_archives_are_data_errors(tmp_path, damage, capsys):
    path = tmp_path / "c.tar.gz"
    if damage == "truncated":
        good = write_cifar(tmp_path / "good.tar.gz", "cifar100").read_bytes()
        path.write_bytes(good[: len(good) // 2])
    elif damage == "not_gzip":
        path.write_bytes(b"<html>404 Not Found</html>")
    elif damage == "missing_member":
        write_cifar(path, "cifar10")
        with tarfile.open(path) as tar:
            kept = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if not m.name.endswith("_3")}
        with tarfile.open(path, "w:gz") as tar:
            for name, raw in kept.items():
                info = tarfile.TarInfo(name)
                info.size = len(raw)
                tar.addfile(info, io.BytesIO(raw))
    elif damage == "bad_rows":
        write_cifar(path, "cifar100", members={"cifar-100-python/test": _pickled(
            {b"data": np.zeros((2, 100), np.uint8), b"fine_labels": [0, 1]})})
    else:
        write_cifar(path, "cifar100", members={"cifar-100-python/meta": _pickled({b"x": _Boom()})})
    name = "cifar10" if damage == "missing_member" else "cifar100"
    with pytest.raises(DataError, match=str(path)):
        cifar.read_cifar_archive(path, name)
    assert "must never run" not in capsys.readouterr().out


def test_checksum_mismatch_is_a_data_error(tmp_path):
    from nnx import data as data_

    write_cifar(tmp_path / cifar.ARCHIVES["cifar10"].path, "cifar10")
    run = parse_experiment("data: {name: cifar10}\nmodel: {type: cnn, preset: cifar100_book}\n").runs[0]
    with pytest.raises(DataError, match="checksum mismatch"):
        data_.load(run.data, seed=0, data_dir=tmp_path)


# --------------------------------------------------------------------------------------------
# Experiments and the command line


@pytest.mark.parametrize("name", ["mnist_cnn", "fashion_mnist_cnn", "cifar100_cnn"])
def test_cnn_experiments_validate(name):
    run = load_experiment(EXPERIMENTS / f"{name}.yaml").runs[0]
    assert run.model.type == "cnn"
    if name != "cifar100_cnn":
        assert run.training.augmentation is not None and run.training.augmentation.active


def test_cli_trains_a_cnn_with_augmentation(tmp_path, capsys):
    exp = tmp_path / "cnn.yaml"
    exp.write_text("name: cnn_digits\ndata: {name: digits, validation_split: 0.2}\n"
                   "model: {type: cnn, blocks: [{filters: 8, batch_norm: true}, {filters: 8}], dense: [16], "
                   "dropout: 0.1}\n"
                   "training: {epochs: 2, batch_size: 64, optimizer: adam, augmentation: {shift: 1}}\n")
    code, out, err = run_cli(["train", exp, "-o", tmp_path / "out", "--quiet"], capsys)
    assert code == 0, err
    summary = next((tmp_path / "out" / "cnn_digits").glob("*/summary.json")).read_text()
    assert '"test"' in summary and '"accuracy"' in summary


@pytest.mark.parametrize("preset", ["[]", "{a: 1}", "book"])
def test_a_preset_that_is_not_a_preset_name_is_a_config_error(preset):
    # A list or mapping used to reach a dict lookup and fail with TypeError (found by the
    # property test of tests/test_config_properties.py).
    with pytest.raises(ConfigError, match="model.preset"):
        parse_experiment(f"data: {{name: cifar100}}\nmodel: {{type: cnn, preset: {preset}}}\n")


def test_the_bar_advances_inside_a_long_epoch_on_a_terminal_only():
    import io
    import time
    from pathlib import Path

    from rich.console import Console

    from nnx.report import ConsoleReporter

    spec = parse_experiment("name: bar\ndata: {name: digits}\nmodel: {type: mlp}\n"
                            "training: {epochs: 3, batch_size: 16}").runs[0]
    assert not ConsoleReporter(console=Console(file=io.StringIO())).shows_steps  # not a terminal
    reporter = ConsoleReporter(console=Console(file=io.StringIO(), force_terminal=True, width=150))
    assert reporter.shows_steps
    reporter.run_started(spec, 1, 1, Path("out"), 10, epochs=3)
    task = reporter.progress.tasks[0]
    reporter.steps_done(spec, 1, 5, 20)  # the epoch's first 2 s: nothing changes
    assert task.completed == 0 and task.fields["status"] == "compiling..."
    reporter.epoch_started[spec.run_name] = time.perf_counter() - 4.0  # 4 s into the epoch
    reporter.steps_done(spec, 1, 5, 20)
    assert task.completed == pytest.approx(0.25)
    status = task.fields["status"]
    assert "step 5/20" in status and "examples/s" in status and "s left" in status, status
    reporter.progress.stop()
