"""nnx count-params: the counts of nnx's models and of the ten ImageNet architectures of figure 3."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import jax
import pytest
from flax import nnx

from nnx import params
from nnx.cli import main
from nnx.errors import ConfigError
from nnx.models.applications.layers import ConvBN

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"

# Keras 3.15.1 (KERAS_BACKEND=jax), measured once with `scripts/keras_counts.py --json`:
# keras.applications.<Model>(weights=None) (include_top=True, 1000 classes, default input shape);
# total = model.count_params(), trainable / non_trainable = sizes of model.trainable_weights /
# model.non_trainable_weights. Keras is not a dependency: these are the recorded numbers.
KERAS = {
    "vgg16": (138_357_544, 138_357_544, 0),
    "vgg19": (143_667_240, 143_667_240, 0),
    "resnet50": (25_636_712, 25_583_592, 53_120),
    "resnet101": (44_707_176, 44_601_832, 105_344),
    "resnet152": (60_419_944, 60_268_520, 151_424),
    "resnet50v2": (25_613_800, 25_568_360, 45_440),
    "resnet101v2": (44_675_560, 44_577_896, 97_664),
    "resnet152v2": (60_380_648, 60_236_904, 143_744),
    "inception_v3": (23_851_784, 23_817_352, 34_432),
    "xception": (22_910_480, 22_855_952, 54_528),
}
# Figure 3 of the notes, in millions of parameters.
FIGURE_3 = {
    "xception": 22.9, "vgg16": 138.4, "vgg19": 143.7, "resnet50": 25.6, "resnet50v2": 25.6,
    "resnet101": 44.7, "resnet101v2": 44.7, "resnet152": 60.4, "resnet152v2": 60.4, "inception_v3": 23.9,
}


def run_cli(capsys, *args) -> tuple[int, str, str]:
    try:
        main(["count-params", *args])
        code = 0
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def built():
    """The ten architectures, each built abstractly once (seconds in all, no memory)."""
    out = {}
    for name in KERAS:
        target = params.resolve(name)
        out[name] = (target, params.abstract_model(target.spec, target.info))
    return out


@pytest.fixture(scope="module")
def summaries(built):
    return {name: params.summarize(model, target.info.input_shape, name=name)
            for name, (target, model) in built.items()}


@pytest.mark.parametrize("name", list(KERAS))
def test_application_counts_match_keras(summaries, name):
    s = summaries[name]
    assert (s.total, s.trainable, s.non_trainable) == KERAS[name]
    assert round(s.total / 1e6, 1) == FIGURE_3[name]


@pytest.mark.parametrize("name", list(KERAS))
def test_application_shapes(summaries, name):
    s = summaries[name]
    size = 299 if name in ("inception_v3", "xception") else 224
    assert s.input_shape == (size, size, 3)
    assert s.root.output_shape == (None, 1000)
    assert not s.notes  # the forward pass traced: every module's output shape is known
    assert all(layer.output_shape is not None for layer in s.root.walk())


# Keras details that the counts depend on


def test_resnet_v1_keeps_keras_conv_biases_and_epsilon(built):
    model = built["resnet50"][1]
    unit = model.conv2.block1.conv1
    assert unit.conv.bias is not None and unit.bn.epsilon == pytest.approx(1.001e-5)
    assert model.conv1.kernel.shape == (7, 7, 3, 64)


def test_resnet_v2_is_preactivation(built):
    model = built["resnet50v2"][1]
    block = model.conv2.block1
    assert isinstance(block.preact_bn, nnx.BatchNorm)
    assert block.conv1.conv.bias is None and block.conv3.bias is not None
    assert model.conv1_bn is None and isinstance(model.post_bn, nnx.BatchNorm)


def test_inception_conv_bn_has_no_bias_and_no_scale(built):
    model = built["inception_v3"][1]
    units = [m for _, m in nnx.iter_modules(model) if isinstance(m, ConvBN)]
    assert len(units) == 94  # Keras InceptionV3 has 94 conv2d_bn units
    assert all(u.conv.bias is None and u.bn.scale is None and u.bn.bias is not None for u in units)


def test_xception_separable_convs_have_no_bias(built):
    model = built["xception"][1]
    convs = [m for _, m in nnx.iter_modules(model) if isinstance(m, nnx.Conv)]
    assert all(c.bias is None for c in convs)
    depthwise = model.block2.sepconv1.sepconv.depthwise
    assert depthwise.kernel.shape == (3, 3, 1, 64)  # one 3x3 filter per input channel


def test_mnist_mlp_experiment(capsys):
    code, out, _ = run_cli(capsys, str(EXPERIMENTS / "mnist_mlp.yaml"))
    assert code == 0
    assert "Total params: 235,146" in out
    assert "Non-trainable params: 0" in out
    # the notes' arithmetic, layer by layer: 784*256+256, 256*128+128, 128*10+10
    for n in ("200,960", "32,896", "1,290"):
        assert n in out


def test_mlp_by_name_with_options(capsys):
    code, out, _ = run_cli(capsys, "mlp", "--input", "784", "--hidden", "256,128", "--classes", "10",
                           "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["total"] == 235_146
    assert [layer["params"] for layer in data["layers"] if layer["type"] == "Linear"] == [200_960, 32_896, 1_290]


def test_json_output(capsys):
    code, out, _ = run_cli(capsys, "vgg16", "--format", "json", "--depth", "1")
    assert code == 0
    data = json.loads(out)
    assert {"model", "total", "trainable", "non_trainable", "layers"} <= set(data)
    assert (data["model"], data["total"], data["non_trainable"]) == ("vgg16", 138_357_544, 0)
    names = [layer["name"] for layer in data["layers"]]
    assert names == ["block1", "block2", "block3", "block4", "block5", "fc1", "fc2", "predictions"]
    assert sum(layer["params"] for layer in data["layers"]) == data["total"]
    fc1 = data["layers"][5]
    assert fc1["params"] == 7 * 7 * 512 * 4096 + 4096 and fc1["output_shape"] == [None, 4096]
    deeper = json.loads(run_cli(capsys, "vgg16", "--format", "json", "--depth", "2")[1])
    assert "block1.conv1" in [layer["name"] for layer in deeper["layers"]]


def test_depth_and_table(capsys):
    code, out, _ = run_cli(capsys, "resnet50", "--depth", "1")
    assert code == 0
    assert "conv2" in out and "block1" not in out
    assert "Trainable params: 25,583,592" in out and "Non-trainable params: 53,120" in out
    out2 = run_cli(capsys, "resnet50", "--depth", "2")[1]
    assert "block1" in out2 and "shortcut" not in out2


def test_torch_convention_resnet50(capsys):
    code, out, _ = run_cli(capsys, "resnet50", "--convention", "torch", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["convention"] == "torch"
    assert (data["total"], data["trainable"], data["non_trainable"]) == (25_557_032, 25_557_032, 0)
    assert any(n.startswith("convolution bias dropped") and "53 layers" in n for n in data["notes"])
    header = run_cli(capsys, "resnet50", "--convention", "torch", "--depth", "1")[1]
    assert "PyTorch" in header and "convolution bias dropped" in header


def test_torch_convention_keeps_biases_not_followed_by_batch_norm(built):
    # ResNet50V2's last 1x1 convolution of each block and its projection shortcuts feed an
    # addition, not batch norm: they keep their biases; only the moving statistics go.
    target, model = built["resnet50v2"]
    torch = params.summarize(model, target.info.input_shape, convention="torch")
    assert torch.total == KERAS["resnet50v2"][1]  # v2's biased convolutions feed no batch norm: none dropped
    target, model = built["vgg16"]
    vgg = params.summarize(model, target.info.input_shape, convention="torch")
    assert vgg.total == KERAS["vgg16"][0]  # torchvision's VGG16 has 138,357,544 too
    target, model = built["inception_v3"]
    inception = params.summarize(model, target.info.input_shape, convention="torch")
    assert inception.total == KERAS["inception_v3"][1]  # no conv biases to drop; statistics are buffers


class TinyLSTM(nnx.Module):
    def __init__(self, features: int, hidden: int, outputs: int, *, rngs: nnx.Rngs):
        self.rnn = nnx.RNN(nnx.LSTMCell(features, hidden, rngs=rngs))
        self.out = nnx.Linear(hidden, outputs, rngs=rngs)

    def __call__(self, x, *, train: bool = False, rngs=None):
        return self.out(self.rnn(x)[:, -1])


@pytest.mark.parametrize("cell, gates", [(nnx.LSTMCell, 4), (nnx.GRUCell, 3), (nnx.SimpleCell, 1)])
def test_torch_convention_recurrent(cell, gates):
    i, h, k = 12, 32, 3

    class Model(TinyLSTM):
        def __init__(self, *, rngs):
            self.rnn = nnx.RNN(cell(i, h, rngs=rngs))
            self.out = nnx.Linear(h, k, rngs=rngs)

    model = nnx.eval_shape(lambda: Model(rngs=nnx.Rngs(0)))
    keras = params.summarize(model, (7, i))
    torch = params.summarize(model, (7, i), convention="torch")
    head = h * k + k
    assert torch.total == gates * (i * h + h * h + 2 * h) + head  # torch: b_ih and b_hh per gate
    if cell is nnx.LSTMCell:
        assert keras.total == 4 * (i * h + h * h + h) + head  # Flax and Keras: one bias per gate
    assert keras.root.output_shape == (None, k)


def test_torch_convention_lstm_cli_numbers():
    model = nnx.eval_shape(lambda: TinyLSTM(10, 20, 2, rngs=nnx.Rngs(0)))
    # torch.nn.LSTM(10, 20) has 4*(10*20 + 20*20 + 20 + 20) = 2,560 parameters; Keras LSTM(20) 2,480.
    assert params.summarize(model, (5, 10), convention="torch").total - 42 == 2_560
    assert params.summarize(model, (5, 10)).total - 42 == 2_480


def test_counting_vgg16_allocates_no_parameter_arrays():
    target = params.resolve("vgg16")
    tracemalloc.start()
    model = params.abstract_model(target.spec, target.info)
    summary = params.summarize(model, target.info.input_shape)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    leaves = jax.tree.leaves(nnx.state(model))
    assert leaves and all(isinstance(leaf, jax.ShapeDtypeStruct) for leaf in leaves)
    assert summary.total == 138_357_544
    assert peak < 50e6  # the parameters would take 553 MB as float32


def test_unknown_name_suggests(capsys):
    code, _, err = run_cli(capsys, "resnt50")
    assert code == 2
    assert "unknown model 'resnt50'" in err and "resnet50" in err
    assert len(err.strip().splitlines()) == 1


def test_bad_inputs_are_one_line_errors(capsys):
    for args, words in [(("mlp",), "--input"), (("mlp", "--input", "784"), "--classes"),
                        (("lda",), "closed-form"), (("vgg16", "--input-shape", "2x2x3"), "at least 32x32"),
                        (("resnet50", "--input-shape", "a,b"), "positive integers"),
                        (("resnet50", "--input-shape", "32,32"), "height,width,channels"),
                        (("mlp", "--input", "784", "--hidden", "256,x", "--classes", "10"), "e.g. 256,128"),
                        (("mlp", "--input", "784", "--hidden", "256,,128", "--classes", "10"), "--hidden"),
                        (("resnet50", "--variant", "x"), "variants belong to experiment files"),
                        (("mlp", "--input", "4", "--classes", "2", "--set", "widht=3"), "widht"),
                        (("missing.yaml",), "no such file"), ((), "give a model type")]:
        code, _, err = run_cli(capsys, *args)
        assert code == 2, args
        assert words in err and len(err.strip().splitlines()) == 1, (args, err)


def test_an_experiments_data_shape_can_be_overridden(tmp_path, capsys):
    # Every data family declares its shape from its spec, so an experiment's model always counts;
    # --input-shape and --classes still count it for other data.
    path = tmp_path / "exp.yaml"
    path.write_text("data: {name: digits}\nmodel: {type: mlp, hidden: [8]}\n")
    code, out, _ = run_cli(capsys, str(path), "--input-shape", "8,8,1", "--classes", "10")
    assert code == 0 and f"Total params: {64 * 8 + 8 + 8 * 10 + 10:,}" in out


def test_application_in_an_experiment_takes_the_data_shape(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("data: {name: digits}\nmodel: {type: resnet50, classes: 10}\n")
    with pytest.raises(ConfigError, match="at least 32x32"):
        params.count(params.resolve(str(path)))  # digits are 8x8
    small = params.count(params.resolve("resnet50", input_shape=(32, 32, 3), classes=10))
    assert small.total == KERAS["resnet50"][0] - 2048 * 1000 - 1000 + 2048 * 10 + 10
    assert small.root.output_shape == (None, 10)


def test_list(capsys):
    code, out, _ = run_cli(capsys, "--list")
    assert code == 0
    for name in ("mlp", "logistic", *KERAS):
        assert name in out


def test_torch_convention_keeps_a_conv_bias_used_beyond_batch_norm():
    class Fork(nnx.Module):  # the convolution's output goes into batch norm and into a dense layer
        def __init__(self, rngs):
            self.conv = nnx.Conv(3, 4, (3, 3), rngs=rngs)
            self.bn = nnx.BatchNorm(4, rngs=rngs)
            self.other = nnx.Linear(4, 4, rngs=rngs)

        def __call__(self, x, *, train=False, rngs=None):
            y = self.conv(x)
            return self.bn(y, use_running_average=not train) + self.other(y)

    model = nnx.eval_shape(lambda: Fork(nnx.Rngs(0)))
    conv, bn, dense = 3 * 3 * 3 * 4 + 4, 4 * 4, 4 * 4 + 4
    assert params.summarize(model, (5, 5, 3)).total == conv + bn + dense
    assert params.summarize(model, (5, 5, 3), convention="torch").total == conv + bn // 2 + dense


def test_experiment_variants(tmp_path, capsys):
    path = tmp_path / "exp.yaml"
    path.write_text("data: {name: digits}\nmodel: {type: mlp, hidden: [8]}\n"
                    "variants: {small: {}, wide: {model: {hidden: [16]}}}\n")
    first = json.loads(run_cli(capsys, str(path), "--format", "json")[1])
    assert first["total"] == 64 * 8 + 8 + 8 * 10 + 10 and "--variant" in first["notes"][0]
    wide = json.loads(run_cli(capsys, str(path), "--variant", "wide", "--format", "json")[1])
    assert wide["total"] == 64 * 16 + 16 + 16 * 10 + 10
    code, _, err = run_cli(capsys, str(path), "--variant", "nope")
    assert code == 2 and "small, wide" in err


def test_an_experiment_whose_first_variant_is_closed_form_names_its_networks(capsys):
    code, _, err = run_cli(capsys, str(EXPERIMENTS / "nyse.yaml"))
    assert code == 2 and "--variant (rnn, " in err and "nar_skip" in err and "ar_dow" not in err
    skip = json.loads(run_cli(capsys, str(EXPERIMENTS / "nyse.yaml"), "--variant", "nar_skip", "--format", "json")[1])
    assert skip["total"] == (20 * 32 + 32) + (32 + 1) + 20  # hidden, output, and the skip's kernel


def test_experiment_files_of_every_data_set_are_counted_without_loading_data(capsys, tmp_path, monkeypatch):
    from .helpers import run_cli

    monkeypatch.setenv("NNX_DATA_DIR", str(tmp_path))  # an empty folder: nothing can be loaded
    code, out, err = run_cli(["count-params", EXPERIMENTS / "hitters.yaml", "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["total"] == 19 * 50 + 50 + 50 + 1  # 19 predictors, 50 units, 1 output
    code, out, err = run_cli(["count-params", EXPERIMENTS / "imdb_rnn.yaml", "--variant", "lstm", "--format", "json"],
                             capsys)
    assert code == 0, err
    assert json.loads(out)["total"] > 10_002 * 32  # the embedding of the 10,000 words + padding and OOV
