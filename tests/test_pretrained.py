"""Keras-layout HDF5 weights into nnx's ImageNet architectures, without Keras.

The files are written here with h5py in the legacy layout of Keras' download files, for a small
ResNet v1 (one bottleneck per stage: every kind of layer of ResNet50, at a quarter of its size).
scripts/keras_weights_check.py checks all ten architectures against Keras itself.
"""

from __future__ import annotations

import hashlib
import json

import h5py
import jax
import numpy as np
import pytest
from flax import nnx

from nnx.data.store import digest_of
from nnx.errors import ConfigError, DataError
from nnx.models.applications import pretrained
from nnx.models.applications.pretrained import (
    CLASS_INDEX,
    Pretrained,
    classify_images,
    load_weights,
    preprocess_fn,
    read_class_names,
    weights_file,
)
from nnx.models.applications.resnet import ResNet
from nnx.models.applications.weights import WeightsError, _resolve_auto, load_h5

CLASSES = 5


def small_resnet(include_top=True):
    return ResNet((32, 32, 3), CLASSES, (1, 1, 1, 1), preact=False, include_top=include_top, rngs=nnx.Rngs(0))


def keras_layers(include_top=True, seed=0):
    """The layers Keras' ResNet v1 would write for one block per stage, by Keras' names, with
    the weightless layers (padding, activations) that the files list too."""
    rng = np.random.default_rng(seed)

    def arr(*shape):
        return rng.normal(size=shape).astype(np.float32)

    def conv(name, k, cin, cout):
        return (name, [("kernel", arr(k, k, cin, cout)), ("bias", arr(cout))])

    def bn(name, c):
        return (name, [("gamma", arr(c)), ("beta", arr(c)), ("moving_mean", arr(c)),
                       ("moving_variance", rng.uniform(0.5, 1.5, c).astype(np.float32))])

    out = [("input_layer", []), ("conv1_pad", []), conv("conv1_conv", 7, 3, 64), bn("conv1_bn", 64),
           ("conv1_relu", [])]
    cin = 64
    for stage, f in zip(range(2, 6), (64, 128, 256, 512), strict=True):
        p = f"conv{stage}_block1"
        out += [conv(f"{p}_1_conv", 1, cin, f), bn(f"{p}_1_bn", f), conv(f"{p}_0_conv", 1, cin, 4 * f),
                bn(f"{p}_0_bn", 4 * f), conv(f"{p}_2_conv", 3, f, f), bn(f"{p}_2_bn", f),
                conv(f"{p}_3_conv", 1, f, 4 * f), bn(f"{p}_3_bn", 4 * f), (f"{p}_out", [])]
        cin = 4 * f
    if include_top:
        out += [("avg_pool", []), ("predictions", [("kernel", arr(2048, CLASSES)), ("bias", arr(CLASSES))])]
    return out


def write_h5(path, layers, keras2=False, split=False):
    """The legacy layout: root `layer_names` (split into layer_names0, 1 when asked, as Keras does
    past HDF5's attribute limit), a group per layer with `weight_names` (Keras 2: `x/kernel:0`)."""
    names = [n.encode() for n, _ in layers]
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"], f.attrs["backend"] = b"2.2.4", b"tensorflow"
        if split:
            f.attrs["layer_names0"], f.attrs["layer_names1"] = names[:7], names[7:]
        else:
            f.attrs["layer_names"] = names
        for name, weights in layers:
            g = f.create_group(name)
            wnames = [f"{name}/{w}{':0' if keras2 else ''}" for w, _ in weights]
            for wname, (_, a) in zip(wnames, weights, strict=True):
                g.create_dataset(wname, data=a)
            g.attrs["weight_names"] = [w.encode() for w in wnames]
    return path


@pytest.mark.parametrize("keras2,split", [(True, False), (False, True)])
def test_every_weight_lands_where_keras_has_it(tmp_path, keras2, split):
    layers = keras_layers()
    module = small_resnet()
    written = load_h5("resnet50", module, write_h5(tmp_path / "w.h5", layers, keras2=keras2, split=split))
    by_name = dict(layers)
    assert written == sum(len(w) for _, w in layers)
    assert np.array_equal(module.conv1.kernel[...], by_name["conv1_conv"][0][1])
    assert np.array_equal(module.conv1_bn.var[...], by_name["conv1_bn"][3][1])
    block = module.conv3.block1
    assert np.array_equal(block.shortcut.conv.kernel[...], by_name["conv3_block1_0_conv"][0][1])  # 0: shortcut
    assert np.array_equal(block.shortcut.bn.scale[...], by_name["conv3_block1_0_bn"][0][1])
    assert np.array_equal(block.conv2.bn.mean[...], by_name["conv3_block1_2_bn"][2][1])
    assert np.array_equal(module.conv5.block1.conv3.conv.bias[...], by_name["conv5_block1_3_conv"][1][1])
    assert np.array_equal(module.predictions.kernel[...], by_name["predictions"][0][1])


def test_without_the_top(tmp_path):
    module = small_resnet(include_top=False)
    load_h5("resnet50", module, write_h5(tmp_path / "notop.h5", keras_layers(include_top=False)))
    out = jax.eval_shape(lambda x: module(x), jax.ShapeDtypeStruct((1, 32, 32, 3), np.float32))
    assert out.shape == (1, 1, 1, 2048)  # the last feature map
    with pytest.raises(WeightsError, match=r"notop\.h5: no layer predictions"):
        load_h5("resnet50", small_resnet(include_top=True), tmp_path / "notop.h5")


def test_a_missing_layer_is_named_and_nothing_is_written(tmp_path):
    layers = [entry for entry in keras_layers() if entry[0] != "conv4_block1_2_bn"]
    module = small_resnet()
    before = np.asarray(module.conv1.kernel[...]).copy()
    with pytest.raises(WeightsError, match=r"w\.h5: no layer conv4_block1_2_bn \(needed by resnet50\)"):
        load_h5("resnet50", module, write_h5(tmp_path / "w.h5", layers))
    assert np.array_equal(module.conv1.kernel[...], before)  # all or nothing


def test_a_layer_left_over_is_named(tmp_path):
    # the top's file read into the network without its top: the classifier is left over
    with pytest.raises(WeightsError, match="layer predictions not in resnet50 without its top"):
        load_h5("resnet50", small_resnet(include_top=False), write_h5(tmp_path / "w.h5", keras_layers()))


def test_a_shape_or_a_weight_count_that_differs_is_named(tmp_path):
    layers = keras_layers()
    wrong = [(n, [(w, a[..., :3]) if n == "conv2_block1_1_conv" and w == "kernel" else (w, a) for w, a in ws])
             for n, ws in layers]
    with pytest.raises(WeightsError, match=r"layer conv2_block1_1_conv weight conv2_block1_1_conv/kernel "
                                           r"\(kernel\) has shape \(1, 1, 64, 3\), resnet50 expects \(1, 1, 64, 64\)"):
        load_h5("resnet50", small_resnet(), write_h5(tmp_path / "shape.h5", wrong))
    no_gamma = [(n, ws[1:] if n == "conv1_bn" else ws) for n, ws in layers]
    with pytest.raises(WeightsError, match=r"layer conv1_bn has 3 weights .* expects 4 \(gamma, beta"):
        load_h5("resnet50", small_resnet(), write_h5(tmp_path / "count.h5", no_gamma))


def test_not_a_weight_file(tmp_path):
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(WeightsError, match="text.h5: not a readable HDF5 file"):
        load_h5("resnet50", small_resnet(), tmp_path / "text.h5")
    with h5py.File(tmp_path / "empty.h5", "w"):
        pass
    with pytest.raises(WeightsError, match="empty.h5: not a Keras weight file"):
        load_h5("resnet50", small_resnet(), tmp_path / "empty.h5")


def test_counted_names_go_by_rank_from_any_start():
    # Keras 2.0 counted from conv2d_1; Keras 3 from conv2d; a second model in a session goes on counting
    for first in (0, 1, 94):
        names = [("conv2d" if i == 0 else f"conv2d_{i}") for i in range(first, first + 12)]
        resolved = _resolve_auto(names + ["block1_conv1", "batch_normalization_7"])
        assert resolved[("conv2d", 0)] == names[0] and resolved[("conv2d", 11)] == names[11]
        assert resolved[("conv2d", 10)] == names[10]  # numerically, not as text: conv2d_10 after conv2d_9
        assert resolved[("batch_normalization", 0)] == "batch_normalization_7"
    assert _resolve_auto(["convolution2d_2", "convolution2d_1"])[("conv2d", 0)] == "convolution2d_1"  # Keras 1


def test_a_corrupted_download_is_refused_naming_it_and_the_sum(tmp_path):
    target = tmp_path / "keras-applications" / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    target.parent.mkdir()
    target.write_bytes(b"truncated")
    with pytest.raises(DataError) as e:
        load_weights(small_resnet(include_top=False), "resnet50", "imagenet", include_top=False, data_dir=tmp_path)
    assert str(target) in str(e.value) and "4d473c1dd8becc155b73f8504c6f6626" in str(e.value)
    assert "checksum mismatch (md5" in str(e.value)


def test_offline_and_missing_says_which_file_its_url_and_where(tmp_path):
    with pytest.raises(DataError) as e:
        load_weights(small_resnet(), "resnet50", "imagenet", data_dir=tmp_path)
    message = str(e.value)
    assert "\n" not in message
    assert "keras-applications/resnet50_weights_tf_dim_ordering_tf_kernels.h5" in message
    assert ("https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
            "resnet50_weights_tf_dim_ordering_tf_kernels.h5") in message
    assert str(tmp_path) in message and "--data-dir" in message


def test_a_file_of_ones_own_needs_no_checksum_and_must_exist(tmp_path):
    path = write_h5(tmp_path / "mine.h5", keras_layers())
    module = small_resnet()
    assert load_weights(module, "resnet50", path) == path
    with pytest.raises(ConfigError, match="weight file .*nothere.h5 not found"):
        load_weights(module, "resnet50", tmp_path / "nothere.h5")


def test_the_published_files_and_sums():
    f = weights_file("inception_v3", include_top=False)
    assert f.urls == ("https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
                      "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",)
    assert f.md5 == "bcbd6486424b2319ff4ef7d526e38f63" and f.path.startswith("keras-applications/")
    assert weights_file("resnet152v2").urls[0].endswith("/resnet/resnet152v2_weights_tf_dim_ordering_tf_kernels.h5")
    assert CLASS_INDEX.md5 == "c2c37ea517e94d9795004a39431a14cb"


def test_the_class_index_is_found_and_checked(tmp_path):
    index = {str(i): [f"n{i:08d}", f"class{i}"] for i in range(1000)}
    path = tmp_path / "keras-applications" / "imagenet_class_index.json"
    path.parent.mkdir()
    path.write_text(json.dumps(index))
    with pytest.raises(DataError, match="imagenet_class_index.json: checksum mismatch .*c2c37ea517e94d"):
        pretrained.imagenet_class_names(tmp_path)
    assert digest_of(path, "md5") == hashlib.md5(path.read_bytes()).hexdigest()


def test_preprocessing_is_keras_own():
    x = np.array([[[[10.0, 20.0, 30.0]]]], np.float32)  # one RGB pixel
    caffe = preprocess_fn("resnet50")(x)  # BGR, means subtracted
    assert np.allclose(caffe, [[[[30 - 103.939, 20 - 116.779, 10 - 123.68]]]])
    assert preprocess_fn("vgg19") is preprocess_fn("resnet152")
    for arch in ("resnet50v2", "inception_v3", "xception"):
        assert np.allclose(preprocess_fn(arch)(np.array([0.0, 127.5, 255.0])), [-1, 0, 1])


def test_class_names_files(tmp_path):
    (tmp_path / "list.json").write_text(json.dumps(["cat", "dog"]))
    (tmp_path / "index.json").write_text(json.dumps({"1": ["n2", "dog"], "0": ["n1", "cat"]}))
    (tmp_path / "bad.json").write_text(json.dumps({"0": "cat", "2": "dog"}))
    assert read_class_names(tmp_path / "list.json") == ["cat", "dog"] == read_class_names(tmp_path / "index.json")
    with pytest.raises(DataError, match="bad.json: class names must be"):
        read_class_names(tmp_path / "bad.json")


def test_classify_images_ranks_the_classes(tmp_path):
    from PIL import Image

    load_h5("resnet50", module := small_resnet(), write_h5(tmp_path / "w.h5", keras_layers()))
    for i in range(3):
        Image.fromarray(np.full((40, 50, 3), 60 * i, np.uint8)).save(tmp_path / f"{i}.png")
    net = Pretrained("resnet50", module, preprocess_fn("resnet50"), list("abcde"), (32, 32, 3))
    results = classify_images([tmp_path / f"{i}.png" for i in range(3)], pretrained=net, top=3, batch_size=2)
    assert [r[0] for r in results] == [str(tmp_path / f"{i}.png") for i in range(3)]
    for _, ranked in results:
        probabilities = [p for _, p in ranked]
        assert len(ranked) == 3 and probabilities == sorted(probabilities, reverse=True)
        assert all(name in "abcde" for name, _ in ranked) and 0 < sum(probabilities) <= 1 + 1e-6


def test_experiment_fields_are_validated_and_not_silently_ignored():
    from nnx.config import parse_experiment
    from nnx.data.base import DataInfo
    from nnx.models import family
    from nnx.models.applications.layers import image_shape_and_classes

    spec = parse_experiment("data: {name: digits}\nmodel: {type: vgg16, weights: imagenet}\n").runs[0].model
    assert spec.weights == "imagenet" and spec.include_top is True
    with pytest.raises(ConfigError, match="the ImageNet top has 1000 outputs, not 10; set model.include_top: false"):
        image_shape_and_classes(spec, DataInfo((32, 32, 3), "classification", 10), min_size=32)
    with pytest.raises(ConfigError, match="nnx train trains a pretrained network under a new head"):
        family(spec).check(spec, DataInfo((32, 32, 3), "classification", 1000))
    with pytest.raises(ConfigError):
        parse_experiment("data: {name: digits}\nmodel: {type: vgg16, include_top: maybe}\n")


def test_a_bad_image_is_named(tmp_path):
    net = Pretrained("resnet50", small_resnet(), preprocess_fn("resnet50"), list("abcde"), (32, 32, 3))
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(DataError, match=r"notes\.png: not a PNG, JPEG"):
        classify_images([tmp_path / "notes.png"], pretrained=net)
    with pytest.raises(DataError, match=r"gone\.jpg: no such image file"):
        classify_images([tmp_path / "gone.jpg"], pretrained=net)


def test_predict_pretrained_gives_the_classify_images_ranking(tmp_path):
    from PIL import Image

    from nnx.predict import predict_pretrained

    load_h5("resnet50", module := small_resnet(), write_h5(tmp_path / "w.h5", keras_layers()))
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((40, 50, 3), 60 * i, np.uint8)).save(folder / f"{i}.png")
    net = Pretrained("resnet50", module, preprocess_fn("resnet50"), list("abcde"), (32, 32, 3))
    expected = classify_images(sorted(folder.iterdir()), pretrained=net, top=3)
    result = predict_pretrained("resnet50", [folder], pretrained=net, batch_size=2)
    assert result.names == [path for path, _ in expected]
    for got, (_, want) in zip(result.top(3), expected, strict=True):
        assert [name for name, _ in got] == [name for name, _ in want]
        np.testing.assert_allclose([p for _, p in got], [p for _, p in want], rtol=1e-5)


@pytest.mark.parametrize("args,message", [
    (["--model", "resnet51", "x.png"], "unknown pretrained network 'resnet51'; choose one of resnet50"),
    (["--model", "resnet50"], "--model resnet50: give image files or folders"),
    (["--model", "resnet50", "--split", "test"], "--split and --text are for a run folder"),
    (["--model", "resnet50", "--class-names", "n.json", "x.png"], "--class-names names the outputs"),
    (["RUN", "x.png", "--weights", "imagenet"], "--weights goes with --model ARCH"),
    (["--model", "resnet50", "x.png"], "missing data file keras-applications/resnet50_weights_tf_dim_ordering"),
])
def test_predict_model_bad_inputs_are_one_line(tmp_path, monkeypatch, capsys, args, message):
    from tests.helpers import run_cli

    monkeypatch.setenv("NNX_NO_DOWNLOAD", "1")
    monkeypatch.setenv("NNX_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "RUN").mkdir()
    code, out, err = run_cli(["predict", *args], capsys)
    assert code == 2, (out, err)
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_the_runs_data_folder_is_searched_for_weight_files(tmp_path, monkeypatch):
    # nnx train --data-dir DIR: the model family asks for its weights without a folder; while the
    # runner runs, its data folder is searched first, as for the data, and only then.
    from nnx.data import store
    from nnx.runner import _searching_data_dir

    monkeypatch.delenv("NNX_DATA_DIR", raising=False)
    assert store.search_dirs()[0] == store.cache_dir()

    def first_dir(experiment, output_dir="outputs", data_dir=None):
        return store.search_dirs()[0]

    assert _searching_data_dir(first_dir)("exp", "out", tmp_path) == tmp_path
    assert _searching_data_dir(first_dir)("exp", data_dir=tmp_path) == tmp_path
    assert store.search_dirs()[0] == store.cache_dir()  # nothing left behind
    with store.searching(tmp_path):
        assert store.search_dirs(tmp_path / "given")[0] == tmp_path / "given"
