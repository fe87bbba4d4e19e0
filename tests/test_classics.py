"""The classics of the notes: the perceptron, Hitters regression, NYSE lags, regression metrics."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from nnx.config import load_experiment, parse_experiment
from nnx.data import load
from nnx.data.islp import (
    HITTERS_COLUMNS,
    hitters_design,
    hitters_split,
    lagged,
    nyse_arrays,
    read_csv,
    standardize,
)
from nnx.errors import ConfigError
from nnx.models.perceptron import Perceptron, rosenblatt, with_bias

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"

# --------------------------------------------------------------------------------------------
# Perceptron (equations 1-5)

# A hand-worked example in 2-D, inputs with the bias 1 appended:
#   a = (2, 1, 1), y = +1;  b = (0, 2, 1), y = -1;  c = (1, 0, 1), y = +1.
# t=1: ω = 0, every score is 0, so every example is predicted +1 (1): only b is wrong.
#      ω = 0 - b = (0, -2, -1).
# t=2: scores a: -3, b: -5, c: -1; a and c are wrong; the first in order is a.
#      ω = (0, -2, -1) + a = (2, -1, 0).
# t=3: scores a: 3, b: -2, c: 2: all correct, stop after 2 updates.
# (Taking c instead of a at t=2 would give ω = (1, -2, 0), also a separator: the order matters.)
HAND_X = np.array([[2, 1], [0, 2], [1, 0]], np.float32)
HAND_Y = np.array([1, 0, 1])  # 0/1 labels, as the data sets give them


def test_perceptron_hand_worked_example():
    p = Perceptron(max_iterations=100).fit_arrays(HAND_X, HAND_Y)
    np.testing.assert_array_equal(p.w, [2, -1, 0])
    assert p.updates == 2 and p.converged and p.train_error == 0.0
    np.testing.assert_array_equal(p.decision(HAND_X), [3, -2, 2])


def test_perceptron_one_update_is_equation_5():
    p = Perceptron(max_iterations=1).fit_arrays(HAND_X, HAND_Y)
    np.testing.assert_array_equal(p.w, [0, -2, -1])  # ω(2) = ω(1) + y_b x_b with ω(1) = 0
    assert p.updates == 1 and not p.converged
    assert "did not converge" in p.summary_extras()["note"]


def test_perceptron_score_zero_is_class_one():
    # Equation (1): <ω, x> >= 0 means y = +1; the binary metrics read "score > 0" as class 1.
    p = Perceptron().fit_arrays(HAND_X, HAND_Y)
    on_boundary = np.array([[0.0, 0.0]], np.float32)  # <(2, -1, 0), (0, 0, 1)> = 0
    assert p.decision(on_boundary)[0] == 0
    assert p.predict_scores(on_boundary)[0, 0] > 0


def test_perceptron_stops_on_non_separable_data():
    xor_x = np.array([[0, 0], [1, 1], [0, 1], [1, 0]], np.float32)
    xor_y = np.array([0, 0, 1, 1])
    p = Perceptron(max_iterations=57).fit_arrays(xor_x, xor_y)
    assert not p.converged and p.updates == 57 and p.train_error > 0
    assert p.summary_extras()["converged"] is False


def test_rosenblatt_is_one_compiled_loop():
    x = with_bias(HAND_X)
    y = np.where(HAND_Y > 0, 1.0, -1.0).astype(np.float32)
    text = rosenblatt.lower(x, y, np.int32(10)).as_text()
    assert "while" in text


def _spec(section: str, **fields):
    text = f"data: {json.dumps(fields if section == 'data' else {'name': 'synthetic'})}\n" \
           f"model: {json.dumps(fields if section == 'model' else {'type': 'perceptron'})}\n"
    return parse_experiment(text).runs[0]


def test_synthetic_separable_blobs_have_the_margin_and_the_perceptron_converges():
    spec = _spec("data", name="synthetic", dims=4, train_size=150, test_size=50, distance=2.0, margin=0.8,
                 separable=True, validation_split=0.0)
    data = load(spec.data, seed=3)
    assert data.x_train.shape == (150, 4) and data.info.task == "binary"
    assert set(np.unique(data.y_train)) == {0, 1}
    u = np.array(data.meta["direction"])
    sign = 2 * data.y_train - 1
    assert np.min(sign * (data.x_train @ u)) >= 0.4 - 1e-5  # half the margin on each side
    p = Perceptron(max_iterations=10_000).fit(data)
    assert p.converged and p.train_error == 0.0
    again = load(spec.data, seed=3)
    np.testing.assert_array_equal(again.x_train, data.x_train)  # the seed decides the data


def test_synthetic_overlapping_blobs_do_not_converge():
    spec = _spec("data", name="synthetic", dims=2, train_size=200, test_size=10, distance=1.0,
                 separable=False, validation_split=0.0)
    p = Perceptron(max_iterations=300).fit(load(spec.data, seed=0))
    assert not p.converged and p.updates == 300


def test_perceptron_experiment_runs_and_reports_convergence(tmp_path):
    from nnx.runner import run_experiment

    exp = load_experiment(EXPERIMENTS / "perceptron.yaml")
    outcomes = {o.spec.variant: o for o in run_experiment(exp, output_dir=tmp_path)}
    assert outcomes["separable"].summary["converged"] is True
    assert outcomes["separable"].summary["train_error"] == 0.0
    overlapping = outcomes["overlapping"].summary
    assert overlapping["converged"] is False and "did not converge" in overlapping["note"]
    assert overlapping["updates"] == exp.runs[1].model.max_iterations
    assert 0 < overlapping["test"]["error"] < 0.5


# --------------------------------------------------------------------------------------------
# Hitters


def test_hitters_design_matrix():
    rows, source = read_csv("Hitters.csv")
    assert len(rows) == 322 and source.endswith("Hitters.csv")
    x, y = hitters_design(rows)
    assert x.shape == (263, 19) and y.shape == (263,) and len(HITTERS_COLUMNS) == 19
    assert not np.isnan(x).any() and not np.isnan(y).any()
    league = x[:, HITTERS_COLUMNS.index("League[N]")]
    assert set(np.unique(league)) == {0.0, 1.0}
    assert y[0] == 475.0  # the first player with a salary (the file's second row)


def test_hitters_split_is_islps_and_scales_with_training_statistics_only():
    x, y = hitters_design(read_csv("Hitters.csv")[0])
    x_tr, y_tr, x_te, y_te = hitters_split(x, y, 1 / 3, 1)
    assert (len(x_tr), len(x_te)) == (175, 88)
    np.testing.assert_allclose(x_tr.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(x_tr.std(axis=0), 1, atol=1e-9)
    assert np.abs(x_te.mean(axis=0)).max() > 0.01  # the test part is scaled, not re-centred
    # No leakage: making the test players' statistics absurd changes nothing in the training part.
    raw_tr, _, raw_te, _ = hitters_split(x, y, 1 / 3, 1, scale=False)
    moved_tr, moved_te = standardize(raw_tr, raw_te * 1000 + 7)
    np.testing.assert_array_equal(moved_tr, x_tr)
    mean, sd = raw_tr.mean(axis=0), raw_tr.std(axis=0)
    np.testing.assert_allclose(x_te, (raw_te - mean) / sd)


def test_hitters_loader_and_ols_baseline_match_the_islp_lab():
    from nnx.models.regression import LinearRegression

    spec = parse_experiment("data: {name: hitters, validation_split: 0}\nmodel: {type: linear_regression}\n").runs[0]
    data = load(spec.data, seed=0)
    assert data.sizes() == {"train": 175, "validation": 0, "test": 88}
    assert data.info.task == "regression" and data.info.input_shape == (19,)
    mae = np.abs(LinearRegression().fit(data).predict_scores(data.x_test)[:, 0] - data.y_test).mean()
    assert mae == pytest.approx(259.7, abs=0.05)  # ISLP lab: 259.7


def test_hitters_copy_in_the_data_folder_is_preferred(tmp_path):
    rows, _ = read_csv("Hitters.csv")
    (tmp_path / "islp").mkdir()
    with open(tmp_path / "islp" / "Hitters.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows[:30])
    mine, source = read_csv("Hitters.csv", tmp_path)
    assert len(mine) == 30 and source.startswith(str(tmp_path))


# --------------------------------------------------------------------------------------------
# NYSE lags

WEEK = ["mon", "tues", "wed", "thur", "fri"]


def _nyse_rows(days: int, train_days: int) -> list[dict[str, str]]:
    """Each series encodes its day: DJ_return = t, log_volume = 1000 + t, log_volatility = -t."""
    return [{"date": f"d{t}", "day_of_week": WEEK[t % 5], "DJ_return": str(t), "log_volume": str(1000 + t),
             "log_volatility": str(-t), "train": "TRUE" if t < train_days else "FALSE"} for t in range(days)]


def test_lagged_inputs_hold_only_the_previous_days_oldest_first():
    series = np.arange(10)[:, None] * np.array([1, 10])[None, :]  # (T=10, 2)
    x, days = lagged(series, 3)
    assert x.shape == (7, 3, 2)
    np.testing.assert_array_equal(days, np.arange(3, 10))
    np.testing.assert_array_equal(x[0, :, 0], [0, 1, 2])  # day 3 sees days 0, 1, 2
    np.testing.assert_array_equal(x[-1, :, 1], [60, 70, 80])


def test_nyse_arrays_shapes_order_and_no_future_values():
    rows = _nyse_rows(40, 30)
    a = nyse_arrays(rows, lags=4, day_of_week=False, layout="sequence")
    assert a["x"].shape == (36, 4, 3) and a["y"].shape == (36,)
    assert a["train"].sum() == 26 and not a["train"][26:].any()
    day_of = (a["x"][..., 0] * a["sd"][0] + a["mean"][0]).round().astype(int)  # DJ_return encodes the day
    for i, t in enumerate(a["days"]):
        np.testing.assert_array_equal(day_of[i], [t - 4, t - 3, t - 2, t - 1])  # never day t or later
    volume = (a["y"] * a["sd"][1] + a["mean"][1]).round().astype(int)
    np.testing.assert_array_equal(volume, 1000 + a["days"])  # the target is today's log_volume
    # Standardized with the training days (0..29) only.
    np.testing.assert_allclose(a["mean"], [14.5, 1014.5, -14.5])
    np.testing.assert_allclose(a["sd"][0], np.arange(30).std())


def test_nyse_flat_layout_and_day_of_week():
    rows = _nyse_rows(40, 30)
    seq = nyse_arrays(rows, lags=5, day_of_week=False, layout="sequence")
    flat = nyse_arrays(rows, lags=5, day_of_week=True, layout="flat")
    assert flat["x"].shape == (35, 5 * 3 + 5)
    np.testing.assert_array_equal(flat["x"][:, :15], seq["x"].reshape(35, 15))
    dow = flat["x"][:, 15:]
    np.testing.assert_array_equal(dow.argmax(axis=1), flat["days"] % 5)  # the target day's weekday
    assert (dow.sum(axis=1) == 1).all()
    seq_dow = nyse_arrays(rows, lags=5, day_of_week=True, layout="sequence")
    assert seq_dow["x"].shape == (35, 5, 8)


def test_nyse_loader_and_ar_baseline_match_the_islp_lab():
    from nnx.models.regression import LinearRegression

    results = {}
    for dow in (False, True):
        spec = parse_experiment(f"data: {{name: nyse, validation_split: 0, day_of_week: {str(dow).lower()}}}\n"
                                "model: {type: linear_regression}\n").runs[0]
        data = load(spec.data, seed=0)
        assert data.sizes() == {"train": 4276, "validation": 0, "test": 1770}
        p = LinearRegression().fit(data).predict_scores(data.x_test)[:, 0]
        y = data.y_test
        results[dow] = 1 - np.sum((p - y) ** 2) / np.sum((y - y.mean()) ** 2)
    assert results[False] == pytest.approx(0.413, abs=0.001)  # ISLP: 0.413
    assert results[True] == pytest.approx(0.460, abs=0.001)  # ISLP: 0.460


# --------------------------------------------------------------------------------------------
# Regression metrics


def test_regression_metrics_match_numpy_formulas():
    from nnx.train import tasks

    rng = np.random.default_rng(0)
    y = rng.normal(5, 2, 37).astype(np.float32)
    pred = (y + rng.normal(0, 1, 37)).astype(np.float32)
    # Padded to 40 with zero weights, as the compiled evaluation pads its last batch.
    outputs = np.concatenate([pred, [100, -100, 3]])[:, None].astype(np.float32)
    targets = np.concatenate([y, [0, 0, 0]]).astype(np.float32)
    weights = np.concatenate([np.ones(37), np.zeros(3)]).astype(np.float32)
    m = tasks.finalize(tasks.REGRESSION, tasks.REGRESSION.sums(outputs, targets, weights))
    assert m["mse"] == pytest.approx(np.mean((pred - y) ** 2), rel=1e-5)
    assert m["loss"] == pytest.approx(m["mse"])
    assert m["mae"] == pytest.approx(np.mean(np.abs(pred - y)), rel=1e-5)
    r2 = 1 - np.sum((pred - y) ** 2) / np.sum((y - y.mean()) ** 2)
    assert m["r2"] == pytest.approx(r2, rel=1e-4)
    from sklearn.metrics import r2_score

    assert m["r2"] == pytest.approx(r2_score(y, pred), rel=1e-4)


def test_absolute_error_loss_is_the_mean_absolute_residual_and_its_gradient_the_sign():
    import jax
    import jax.numpy as jnp

    from nnx.train import tasks

    task = tasks.task_for("regression", "absolute_error")
    outputs = jnp.array([[3.0], [-1.0], [0.5]])
    targets = jnp.array([1.0, 1.0, 2.5])
    np.testing.assert_allclose(task.loss(outputs, targets), [2.0, 2.0, 2.0])
    grad = jax.grad(lambda o: jnp.sum(task.loss(o, targets)))(outputs)
    np.testing.assert_allclose(grad[:, 0], [1.0, -1.0, -1.0])
    # Metrics are the regression metrics; "loss" is the objective trained on.
    m = tasks.finalize(task, task.sums(outputs, targets, jnp.ones(3)))
    assert m["loss"] == pytest.approx(m["mae"]) and m["mse"] == pytest.approx(4.0)
    assert tasks.task_for("regression") is tasks.REGRESSION
    assert tasks.task_for("regression", "squared_error") is tasks.REGRESSION
    assert tasks.task_for("classification", "cross_entropy") is tasks.CLASSIFICATION


def test_a_loss_that_does_not_fit_the_data_is_a_clear_error(tmp_path, capsys):
    from nnx.train import tasks

    from .helpers import run_cli

    with pytest.raises(ConfigError, match="absolute_error does not fit this classification"):
        tasks.task_for("classification", "absolute_error")
    with pytest.raises(ConfigError, match="training.loss"):
        parse_experiment("data: {name: hitters}\nmodel: {type: mlp}\ntraining: {loss: l1}\n")
    exp = tmp_path / "bad_loss.yaml"
    exp.write_text("data: {name: digits}\nmodel: {type: logistic}\n"
                   "training: {epochs: 1, loss: absolute_error}\n")
    code, out, err = run_cli(["train", exp, "-o", tmp_path / "out"], capsys)
    assert code != 0 and "absolute_error does not fit" in out + err and "Traceback" not in out + err


def test_hitters_network_trains_on_absolute_error(tmp_path):
    """A short run on the real (shipped) Hitters data: the L1 network's test MAE is finite and
    its summary's loss is its MAE."""
    from nnx.runner import run_experiment

    exp = parse_experiment("name: h\ndata: {name: hitters}\nmodel: {type: mlp, hidden: [50], dropout: 0.4}\n"
                           "training: {epochs: 20, batch_size: 32, loss: absolute_error,"
                           " optimizer: {name: rmsprop, learning_rate: 0.01}}\n")
    run_experiment(exp, output_dir=tmp_path)
    summary = json.loads(next(tmp_path.glob("*/*/summary.json")).read_text())
    assert summary["test"]["loss"] == pytest.approx(summary["test"]["mae"])
    assert 0 < summary["test"]["mae"] < 1000


def test_end_of_train_table_shows_mae_and_r2_for_regression(tmp_path, capsys):
    from .helpers import run_cli

    code, out, err = run_cli(["train", EXPERIMENTS / "hitters.yaml", "--only", "ols", "-o", tmp_path], capsys)
    assert code == 0, err
    assert "test mae" in out and "test r2" in out and "259.7" in out and "test error" not in out


# --------------------------------------------------------------------------------------------
# Experiment files and bad input


def test_classic_experiment_files_validate():
    assert {r.variant for r in load_experiment(EXPERIMENTS / "hitters.yaml").runs} == {"network", "network_l1", "ols", "lasso"}
    runs = {r.variant: r for r in load_experiment(EXPERIMENTS / "nyse.yaml").runs}
    assert set(runs) == {"ar", "ar_dow", "rnn", "rnn_islp", "nar", "nar_islp", "nar_long", "nar_skip"}
    # nar_skip is nar_long with the linear skip and the 400 epochs validation chose.
    skip, long = runs["nar_skip"], runs["nar_long"]
    assert skip.model.linear_skip and not long.model.linear_skip and skip.training.epochs == 400
    assert skip.model.model_dump(exclude={"linear_skip"}) == long.model.model_dump(exclude={"linear_skip"})
    assert runs["ar_dow"].data.day_of_week and runs["nar_islp"].model.hidden == [32]
    assert runs["nar_islp"].training.early_stopping is None and runs["nar"].training.early_stopping is not None
    # The _islp variants are the lab's PyTorch code: its epochs (NAR 20, RNN 200), init and RMSprop.
    for name, epochs in (("nar_islp", 20), ("rnn_islp", 200)):
        run = runs[name]
        assert (run.training.epochs, run.model.init, run.training.optimizer.decay) == (epochs, "pytorch", 0.99)


def test_bad_classic_config_is_a_one_line_error():
    with pytest.raises(ConfigError, match="layout"):
        parse_experiment("data: {name: nyse, layout: wide}\nmodel: {type: linear_regression}\n")
    with pytest.raises(ConfigError, match="max_iterations"):
        parse_experiment("data: {name: synthetic}\nmodel: {type: perceptron, max_iterations: 0}\n")


def test_nyse_chronological_validation_days_are_the_last_training_days():
    spec = parse_experiment("data: {name: nyse, validation_split: 0.25}\nmodel: {type: linear_regression}\n").runs[0]
    data = load(spec.data, seed=0)
    full = load(spec.data.model_copy(update={"validation_split": 0.0}), seed=0)
    n = len(full.x_train)
    assert len(data.x_val) == round(n * 0.25) and len(data.x_train) + len(data.x_val) == n
    np.testing.assert_array_equal(data.x_train, full.x_train[: len(data.x_train)])
    np.testing.assert_array_equal(data.x_val, full.x_train[len(data.x_train):])


def test_lasso_cv_picks_a_sparse_model_on_sparse_data():
    from nnx.data.base import DataInfo, Dataset
    from nnx.models.regression import build_lasso_cv

    rng = np.random.default_rng(0)
    x = rng.standard_normal((120, 8)).astype(np.float32)
    y = (3 * x[:, 0] - 2 * x[:, 1] + 0.1 * rng.standard_normal(120)).astype(np.float32)
    data = Dataset("toy", DataInfo((8,), "regression"), x[:100], y[:100], x[:0], y[:0], x[100:], y[100:])
    spec = parse_experiment("data: {name: hitters}\nmodel: {type: lasso_cv, folds: 3, alphas: 20}\n").runs[0].model
    model = build_lasso_cv(spec).fit(data)
    extras = model.summary_extras()
    assert 2 <= extras["nonzero_coefficients"] <= 4 and extras["alpha"] > 0
    assert model.num_params() == 9
    assert np.abs(model.predict_scores(x[100:])[:, 0] - y[100:]).mean() < 0.3


# --------------------------------------------------------------------------------------------
# model.init: pytorch (to reproduce the ISLP labs, which are PyTorch)


def _params(model) -> dict[str, np.ndarray]:
    from flax import nnx

    return {"/".join(map(str, p)): np.asarray(v[...]) for p, v in nnx.iter_graph(model) if isinstance(v, nnx.Param)}


def test_pytorch_init_draws_each_layer_from_pytorchs_bounds():
    from flax import nnx

    from nnx.data.base import DataInfo
    from nnx.models import build
    from nnx.models.mlp import MLPSpec
    from nnx.models.rnn import RNNSpec

    rnn = _params(build(RNNSpec(type="rnn", units=64, init="pytorch"), DataInfo(input_shape=(5, 3), task="regression"),
                        nnx.Rngs(0)))
    cell_bound = 1 / np.sqrt(64)  # every cell weight: U(+-1/sqrt(hidden)), whatever its fan-in
    for name in ("layers/0/cell/dense_i/kernel", "layers/0/cell/dense_h/kernel"):
        w = rnn[name]
        assert np.abs(w).max() <= cell_bound and np.abs(w).max() > 0.9 * cell_bound, name
        assert np.std(w) == pytest.approx(cell_bound / np.sqrt(3), rel=0.15), name  # a uniform's sd
    # The one bias of Flax's cell stands for PyTorch's b_ih + b_hh: sd sqrt(2) times one uniform's.
    bias = rnn["layers/0/cell/dense_i/bias"]
    assert np.abs(bias).max() <= 2 * cell_bound and np.abs(bias).max() > cell_bound
    assert np.std(bias) == pytest.approx(np.sqrt(2) * cell_bound / np.sqrt(3), rel=0.3)
    out = rnn["out/kernel"]  # the dense output layer: U(+-1/sqrt(fan_in)), fan_in = 64 units
    assert np.abs(out).max() <= 1 / np.sqrt(64)

    mlp = _params(build(MLPSpec(type="mlp", hidden=[300], init="pytorch"),
                        DataInfo(input_shape=(100,), task="classification", num_classes=10), nnx.Rngs(0)))
    for name, fan_in in (("hidden/0/kernel", 100), ("hidden/0/bias", 100), ("out/kernel", 300), ("out/bias", 300)):
        bound = 1 / np.sqrt(fan_in)
        assert np.abs(mlp[name]).max() <= bound and np.abs(mlp[name]).max() > 0.8 * bound, name
    default = _params(build(MLPSpec(type="mlp", hidden=[300]), DataInfo(input_shape=(100,), task="classification",
                                                                         num_classes=10), nnx.Rngs(0)))
    assert not default["hidden/0/bias"].any()  # the default keeps zero biases (Keras's)


def test_pytorch_init_is_an_experiment_option_and_checked():
    spec = parse_experiment("data: {name: nyse, layout: sequence}\nmodel: {type: rnn, units: 12, init: pytorch}\n")
    assert spec.runs[0].model.init == "pytorch"
    with pytest.raises(ConfigError, match="init"):
        parse_experiment("data: {name: nyse}\nmodel: {type: mlp, init: torch}\n")
