"""The regularization study's pieces: ridge, dropout, early stopping, schedules, variants and seeds."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from nnx import data
from nnx.config import RegularizationSpec, parse_experiment
from nnx.models.mlp import MLP
from nnx.train import tasks
from nnx.train.loop import fit, make_core
from nnx.train.optim import schedule

from .helpers import QUICK, run_cli, write_experiment


def grads_with(l2: float):
    model = MLP(6, [5], 3, rngs=nnx.Rngs(0))
    spec = parse_experiment(f"data: {{name: digits}}\nmodel: {{type: mlp}}\nregularization: {{l2: {l2}}}\n").runs[0]
    core, state = make_core(model, tasks.CLASSIFICATION, spec.training, spec.regularization, 1)
    x = jax.random.normal(jax.random.key(1), (8, 6))
    y = jnp.arange(8) % 3
    return jax.grad(lambda p: core.loss_fn(p, state["rest"], x, y, jnp.ones(8), jax.random.key(2))[0])(state["params"]), state


def test_ridge_changes_the_gradient_of_weights_not_biases():
    plain, state = grads_with(0.0)
    ridge, _ = grads_with(0.1)
    p = state["params"]
    for get in (lambda t, name: t["hidden"][0][name][...], lambda t, name: t["out"][name][...]):
        # d/dW (lambda * sum W^2) = 2 lambda W, exactly; biases are not penalized.
        np.testing.assert_allclose(get(ridge, "kernel") - get(plain, "kernel"), 0.2 * get(p, "kernel"), atol=1e-6)
        np.testing.assert_array_equal(get(ridge, "bias"), get(plain, "bias"))


def test_weight_decay_is_decoupled_and_spares_biases():
    from nnx.train.optim import make_optimizer

    spec = parse_experiment("data: {name: digits}\nmodel: {type: mlp}\n"
                            "training: {optimizer: {name: sgd, learning_rate: 0.1}}\n").runs[0]
    tx = make_optimizer(spec.training, RegularizationSpec(weight_decay=0.5), 10)
    params = {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}
    zero = jax.tree.map(jnp.zeros_like, params)
    updates, _ = tx.update(zero, tx.init(params), params)
    np.testing.assert_allclose(updates["kernel"], -0.1 * 0.5 * np.ones((2, 2)))
    np.testing.assert_array_equal(updates["bias"], np.zeros(2))


def test_dropout_is_identity_at_evaluation_and_preserves_the_mean_in_training():
    from nnx.models.layers import Dropout

    layer = Dropout(0.4)
    x = jnp.ones((2000, 50))
    np.testing.assert_array_equal(layer(x, deterministic=True), x)
    out = layer(x, deterministic=False, rngs=nnx.Rngs(dropout=jax.random.key(0)))
    kept = out != 0
    assert 0.59 < float(kept.mean()) < 0.61  # about 1 - 0.4 survive (100,000 draws: sd 0.0015)
    np.testing.assert_allclose(out[kept], 1 / 0.6, rtol=1e-6)  # survivors scaled by 1/(1-rate)
    assert float(out.mean()) == pytest.approx(1.0, abs=0.01)
    # The same key gives the same mask; other keys other masks; rows are not correlated.
    again = layer(x, deterministic=False, rngs=nnx.Rngs(dropout=jax.random.key(0)))
    other = layer(x, deterministic=False, rngs=nnx.Rngs(dropout=jax.random.key(1)))
    np.testing.assert_array_equal(out, again)
    assert float(jnp.mean((out != 0) == (other != 0))) < 0.6  # independent masks agree about 52%
    rows = np.asarray(kept, np.float64)
    assert abs(np.corrcoef(rows[:, 0], rows[:, 1])[0, 1]) < 0.1
    # The model: identical outputs twice in evaluation, different masks in training.
    model = MLP(4, [64], 2, dropout=[0.5], rngs=nnx.Rngs(0))
    xs = jnp.ones((3, 4))
    np.testing.assert_array_equal(model(xs), model(xs))
    a = model(xs, train=True, rngs=nnx.Rngs(dropout=jax.random.key(1)))
    b = model(xs, train=True, rngs=nnx.Rngs(dropout=jax.random.key(2)))
    assert not np.allclose(a, b)


def test_early_stopping_restores_the_best_epochs_weights():
    # A learning rate large enough that validation loss gets worse after the first epochs.
    spec = parse_experiment("""
data: {name: digits, validation_split: 0.3}
model: {type: mlp, hidden: [64]}
training:
  epochs: 12
  batch_size: 32
  optimizer: {name: sgd, learning_rate: 0.9}
  early_stopping: {monitor: validation.loss, patience: 3}
""").runs[0]
    dataset = data.load(spec.data, seed=0)
    records = []
    result = fit(MLP(64, [64], 10, rngs=nnx.Rngs(0)), dataset, spec, callbacks=[records.append])
    losses = [r.validation["loss"] for r in records]
    best = int(np.argmin(losses)) + 1
    assert result.best_epoch == best
    assert result.validation["loss"] == pytest.approx(losses[best - 1], rel=1e-5)
    if result.stopped_early:
        assert len(records) == best + 3


def test_early_stopping_restores_best_even_without_triggering():
    spec = parse_experiment("""
data: {name: digits}
model: {type: mlp, hidden: [32]}
training: {epochs: 4, batch_size: 32, optimizer: adam, early_stopping: {monitor: validation.accuracy, patience: 50}}
""").runs[0]
    records = []
    result = fit(MLP(64, [32], 10, rngs=nnx.Rngs(0)), data.load(spec.data, seed=0), spec, callbacks=[records.append])
    accuracies = [r.validation["accuracy"] for r in records]
    assert not result.stopped_early and len(records) == 4
    assert result.validation["accuracy"] == pytest.approx(max(accuracies))
    assert result.best_epoch == int(np.argmax(accuracies)) + 1


@pytest.mark.parametrize("name, check", [
    ("constant", lambda f: float(f(0)) == float(f(500)) == pytest.approx(0.1)),
    ("step", lambda f: float(f(99)) == pytest.approx(0.1) and float(f(100)) == pytest.approx(0.01)),
    ("exponential", lambda f: 0.01 < float(f(50)) < 0.1),
    ("cosine", lambda f: float(f(0)) == pytest.approx(0.1) and float(f(1000)) == pytest.approx(0.0, abs=1e-6)),
    ("warmup_cosine", lambda f: float(f(0)) == 0.0 and float(f(100)) == pytest.approx(0.1)),
])
def test_learning_rate_schedules_by_name(name, check):
    spec = parse_experiment("data: {name: digits}\nmodel: {type: mlp}\ntraining:\n  epochs: 10\n  optimizer:\n"
                            f"    name: sgd\n    learning_rate: 0.1\n    schedule: {{name: {name}, decay_epochs: 1, "
                            "warmup_epochs: 1}\n").runs[0]
    assert check(schedule(spec.training.optimizer, epochs=10, steps_per_epoch=100))


def test_variants_and_seeds_make_one_folder_each_with_its_config(tmp_path, capsys):
    path = write_experiment(tmp_path / "v.yaml", QUICK + """
seeds: 2
variants:
  ridge: {regularization: {l2: 0.001}}
  lda: {model: {type: lda}}
""")
    code, out, err = run_cli(["train", path, "-o", tmp_path / "out"], capsys)
    assert code == 0, err
    runs = sorted((tmp_path / "out" / "quick").iterdir())
    names = sorted(r.name.split("-", 2)[2] for r in runs)
    assert names == ["lda-seed0", "lda-seed1", "ridge-seed0", "ridge-seed1"]
    for run in runs:
        summary = json.loads((run / "summary.json").read_text())
        config = (run / "config.yaml").read_text()
        assert f"seed: {summary['seed']}" in config
        if summary["variant"] == "lda":
            assert summary["epochs"] == 0 and summary["closed_form"] and summary["test"]["accuracy"] > 0.9
        else:
            assert "l2: 0.001" in config
    assert "±" in out and "n" in out  # mean ± sd over the two seeds


def test_dry_run_lists_runs_and_writes_nothing(tmp_path, capsys):
    path = write_experiment(tmp_path / "v.yaml", QUICK + "seeds: 2\nvariants:\n  a:\n  b:\n  lda: {model: {type: lda}}\n")
    code, out, _ = run_cli(["train", path, "-o", tmp_path / "out", "--dry-run"], capsys)
    assert code == 0
    assert all(name in out for name in ("a-seed0", "a-seed1", "b-seed0", "b-seed1"))
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "2 epochs, adam" in lines["a-seed0"] and "closed form" in lines["lda-seed0"]
    assert "epochs" not in lines["lda-seed0"]
    assert not (tmp_path / "out").exists()


def test_only_runs_a_subset(tmp_path, capsys):
    path = write_experiment(tmp_path / "v.yaml", QUICK + "variants:\n  a:\n  b: {model: {type: logistic}}\n")
    assert run_cli(["train", path, "-o", tmp_path / "out", "--only", "b", "-q"], capsys)[0] == 0
    (run,) = (tmp_path / "out" / "quick").iterdir()
    assert run.name.endswith("-b")
