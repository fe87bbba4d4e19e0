"""The registries: every data set and model family is declared once and is complete, and what
the declarations say agrees with what the loaders and builders do (the drifts of issue 18)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from nnx import data, models
from nnx.config import parse_experiment
from nnx.errors import ConfigError
from nnx.record.metrics import METRICS, best_epoch
from nnx.train import tasks
from tests.helpers import QUICK, run_cli, run_folders, write_experiment


def _tiny_table(folder):
    """A tiny CSV table (a data set that needs a file and a target: its spec has required keys)."""
    rows = [f"{'yes' if i % 3 == 0 else 'no'},{'ab'[i % 2]},{i * 1.5},{i % 4}" for i in range(20)]
    path = folder / "people.csv"
    path.write_text("bought,group,income,visits\n" + "\n".join(rows) + "\n")
    return path


def test_every_data_family_is_complete(tmp_path):
    required = {"table": {"path": _tiny_table(tmp_path), "target": "bought"}}  # the keys with no default
    for name in data.names():
        family = data.family(name)
        assert family.spec.__doc__, name
        needed = {key for key, field in family.spec.model_fields.items() if field.is_required()} - {"name"}
        if needed - set(required.get(name, {})):  # the user's own folders (image_folder): tiny files below
            continue
        spec = family.spec(name=name, **required.get(name, {}))
        info = family.info(spec)
        assert info.task in ("classification", "binary", "regression")
        assert (info.num_classes is not None) == (info.task != "regression"), name  # synthetic had none
    assert set(data.names()) >= {"mnist", "fashion_mnist", "digits", "synthetic", "hitters", "nyse", "imdb",
                                 "cifar10", "cifar100"}


def _tiny_imdb(folder):
    """A tiny aclImdb/ folder (the folder form is read without checksums: it is the user's own)."""
    for split in ("train", "test"):
        for i in range(12):
            label = i % 2
            path = folder / "aclImdb" / split / ("pos" if label else "neg") / f"{i}_{8 if label else 2}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"a {'good' if label else 'bad'} film number {i}")


@pytest.mark.parametrize("section", [
    {"name": "digits"},
    {"name": "synthetic", "dims": 3},
    {"name": "hitters"},
    {"name": "nyse", "lags": 4},
    {"name": "nyse", "lags": 3, "day_of_week": True},
    {"name": "nyse", "lags": 2, "day_of_week": True, "layout": "sequence"},
    {"name": "imdb", "representation": "sequence", "maxlen": 7, "num_words": 30},
    {"name": "table", "target": "bought"},                               # one-hot group, visits (4 levels)
    {"name": "table", "target": "income", "categorical": ["bought", "group"]},  # a regression; visits numeric
])
def test_the_info_declared_from_the_spec_is_the_loaders(section, tmp_path):
    _tiny_imdb(tmp_path)
    if section["name"] == "table":  # read from its file (header, target, categories), not trained
        section = {**section, "path": _tiny_table(tmp_path)}
    spec = data.family(section["name"]).spec(**section)
    loaded = data.load(spec, seed=0, data_dir=tmp_path)
    assert loaded.info == data.info_for(spec)  # the NYSE feature count, synthetic's classes, IMDB's vocabulary
    assert loaded.x_train.shape[1:] == loaded.info.input_shape
    known = data.family(spec).train_examples(spec)
    if known is not None and spec.name != "imdb":  # imdb's 25,000 are the real data's, not this tiny folder's
        assert len(loaded.x_train) + len(loaded.x_val) == known


def test_the_info_of_an_image_folder_is_the_loaders(tmp_path):
    from PIL import Image

    for c, name in enumerate(("ant", "bee", "wasp")):
        for i in range(4):
            (tmp_path / "train" / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((5, 9, 3), 30 * c + i, np.uint8)).save(tmp_path / "train" / name / f"{i}.png")
    spec = data.family("image_folder").spec(name="image_folder", path=tmp_path / "train", image_size=[4, 6],
                                            test_split=0.25)
    loaded = data.load(spec, seed=0)
    assert loaded.info == data.info_for(spec) == data.DataInfo((4, 6, 3), "classification", 3)
    assert loaded.x_train.shape[1:] == loaded.info.input_shape
    assert len(loaded.x_train) + len(loaded.x_val) == data.family(spec).train_examples(spec) == 9


def test_imdb_bag_of_words_declares_everything_but_its_width(tmp_path):
    _tiny_imdb(tmp_path)
    spec = data.family("imdb").spec(name="imdb", num_words=30)
    loaded = data.load(spec, seed=0, data_dir=tmp_path)
    assert dataclasses.replace(loaded.info, input_shape=data.info_for(spec).input_shape) == data.info_for(spec)


def test_every_model_family_is_complete_and_builds_for_a_task_it_declares():
    infos = {"classification": data.DataInfo((8, 8, 1), "classification", 10, vocab_size=40),
             "binary": data.DataInfo((12,), "binary", 2, vocab_size=40),
             "regression": data.DataInfo((5, 3), "regression")}
    for name in models.names():
        family = models.family(name)
        assert family.spec.__doc__ and family.tasks, name
        assert family.tasks <= set(infos), name
        if not family.network:
            continue
        spec = family.spec(type=name, **({"blocks": [{"filters": 4}]} if name == "cnn" else {}))
        assert spec.type == name


def test_the_schema_unions_are_the_registries():
    from typing import get_args

    from nnx.data import DataSpec
    from nnx.models import ModelSpec

    assert {n for s in get_args(get_args(DataSpec)[0]) for n in get_args(s.model_fields["name"].annotation)} == \
        set(data.names())
    assert {n for s in get_args(get_args(ModelSpec)[0]) for n in get_args(s.model_fields["type"].annotation)} == \
        set(models.names())


def test_every_metric_a_task_reports_is_registered_with_its_direction():
    for task in [*tasks.TASKS.values(), tasks.REGRESSION_L1]:
        for split in ("train", "test"):
            assert set(task.metric_names(split)) <= set(METRICS), task.name
    assert METRICS["auc"].higher_is_better and not METRICS["loss"].higher_is_better


def test_auc_is_the_rank_statistic():
    labels = np.array([0, 0, 1, 1, 1, 0])
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.9, 0.4])
    pairs = [(p, n) for p in scores[labels == 1] for n in scores[labels == 0]]
    expected = np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs])
    assert tasks.roc_auc(scores, labels) == pytest.approx(expected)
    metrics = tasks.score(tasks.BINARY, scores[:, None], labels)
    assert metrics["auc"] == pytest.approx(expected) and "accuracy" in metrics


def test_best_epoch_uses_min_delta_like_early_stopping():
    from nnx.train.early_stopping import EarlyStopping
    from nnx.train.loop import EpochRecord

    losses = [1.0, 0.95, 0.949, 0.92]
    curves = [{"epoch": i + 1, "validation": {"loss": v}} for i, v in enumerate(losses)]
    chosen = best_epoch(curves, "validation.loss", min_delta=0.04)
    stopper = EarlyStopping("validation.loss", "auto", patience=10, min_delta=0.04)
    for record in curves:
        stopper.update(EpochRecord(record["epoch"], {}, record["validation"], 0.0), {"x": np.zeros(1)})
    assert chosen["epoch"] == stopper.best_epoch == 2  # 0.949 and 0.92 are not 0.04 better than 0.95


@pytest.mark.parametrize("model,data_name,fits", [
    ("linear_regression", "digits", "regression"),   # completed with test loss nan before
    ("lda", "imdb", "word ids"),                     # 50% on word ids before (lda learns binary tasks now)
    ("perceptron", "hitters", "binary"),
])
def test_a_model_that_cannot_learn_the_task_is_a_config_error(model, data_name, fits):
    with pytest.raises(ConfigError, match=rf"x.yaml:3: model.type: {model} does not fit data set {data_name}.*{fits}"):
        parse_experiment(f"data: {{name: {data_name}}}\n\nmodel: {{type: {model}}}\n", source="x.yaml")


def test_a_closed_form_variant_with_training_settings_is_a_config_error():
    text = ("data: {name: digits}\nmodel: {type: mlp}\ntraining: {epochs: 3}\nvariants:\n"
            "  net: {}\n  lda:\n    model: {type: lda}\n    training: {epochs: 5}\n")
    with pytest.raises(ConfigError, match=r"x.yaml:8: training: lda is fitted in closed form"):
        parse_experiment(text, source="x.yaml")
    # The base's training section serves the networks; a closed-form variant inheriting it is fine.
    ok = parse_experiment(text.replace("    training: {epochs: 5}\n", ""), source="x.yaml")
    assert [r.variant for r in ok.runs] == ["net", "lda"]


def test_adamw_decays_weights_by_optax_default():
    import jax
    import jax.numpy as jnp

    from nnx.config import RunSpec
    from nnx.train.optim import make_optimizer

    def one_step(name, **regularization):
        spec = RunSpec.model_validate({"experiment": "x", "data": {"name": "digits"}, "model": {"type": "mlp"},
                                       "training": {"optimizer": {"name": name, "learning_rate": 0.1}},
                                       "regularization": regularization})
        tx = make_optimizer(spec.training, spec.regularization, steps_per_epoch=1)
        params = {"kernel": jnp.ones((2, 3)), "bias": jnp.ones(3)}
        updates, _ = tx.update(jax.tree.map(jnp.zeros_like, params), tx.init(params), params)
        return {k: np.asarray(v) for k, v in updates.items()}

    decayed = one_step("adamw")  # zero gradients: the update is the decay alone, lr * 1e-4 * w
    np.testing.assert_allclose(decayed["kernel"], -0.1 * 1e-4 * np.ones((2, 3)), rtol=1e-6)
    assert np.all(decayed["bias"] == 0)  # as with weight_decay: weights only, never biases
    assert np.all(one_step("adam")["kernel"] == 0)
    np.testing.assert_allclose(one_step("adamw", weight_decay=0.01)["kernel"], -0.1 * 0.01 * np.ones((2, 3)), rtol=1e-6)
    assert np.all(one_step("adamw", weight_decay=0.0)["kernel"] == 0)  # given as 0: none


def test_parallel_seeds_train_as_the_one_path_with_augmentation_and_early_stopping(tmp_path, capsys):
    body = QUICK.replace("name: quick", "name: together").replace(
        "training: {epochs: 2, batch_size: 64, optimizer: {name: adam, learning_rate: 0.003}}",
        "seeds: 2\ntraining: {epochs: 3, batch_size: 64, optimizer: {name: adam, learning_rate: 0.003},\n"
        "  augmentation: {shift: 1.0},\n  early_stopping: {monitor: validation.accuracy, patience: 1}}")
    together = write_experiment(tmp_path / "together.yaml", body.replace("epochs: 3,", "epochs: 3, parallel_seeds: true,"))
    alone = write_experiment(tmp_path / "alone.yaml", body.replace("name: together", "name: alone"))
    assert run_cli(["train", together, "-o", tmp_path / "out", "-q"], capsys)[0] == 0
    assert run_cli(["train", alone, "-o", tmp_path / "out", "-q"], capsys)[0] == 0
    runs = {p.parent.name + "/" + p.name.split("-", 2)[2]: p for p in run_folders(tmp_path / "out")}
    for seed in (0, 1):
        a = json.loads((runs[f"together/default-seed{seed}"] / "summary.json").read_text())
        b = json.loads((runs[f"alone/default-seed{seed}"] / "summary.json").read_text())
        assert a["parallel_seeds"] and "parallel_seeds" not in b
        assert a["epochs"] == b["epochs"] and a["best_epoch"] == b["best_epoch"]
        assert a["test"]["accuracy"] == pytest.approx(b["test"]["accuracy"], abs=2e-3)
        assert (runs[f"together/default-seed{seed}"] / "checkpoints" / "last").is_dir()  # resumable
