"""Sweeps: `sweep:` and `--sweep` expand into named runs checked like `--set`; bad sweeps are one
line and exit 2; a vectorized sweep trains to the metrics of its runs trained one by one."""

import json

import numpy as np
import pytest
import yaml

from nnx.config import parse_experiment
from nnx.errors import ConfigError

from .helpers import run_cli, run_folders, write_experiment

BASE = """\
name: sw
data: {name: digits, validation_split: 0.2}
model: {type: mlp, hidden: [16], dropout: 0.2}
training: {epochs: 2, batch_size: 64, optimizer: {name: adam, learning_rate: 0.003}}
"""


def runs(text: str, **kw):
    return parse_experiment(text, source="x.yaml", **kw).runs


def error_of(text: str, **kw) -> str:
    with pytest.raises(ConfigError) as e:
        parse_experiment(text, source="x.yaml", **kw)
    message = str(e.value)
    assert "\n" not in message
    return message


def test_a_grid_is_every_combination_named_by_its_values_and_recorded_in_the_config():
    text = BASE + "sweep:\n  grid:\n    regularization.l2: [1.0e-4, 1.0e-3]\n    training.optimizer.learning_rate: [0.01, 0.1]\n"
    got = runs(text)
    assert [r.run_name for r in got] == ["l2=1e-4,lr=0.01", "l2=1e-4,lr=0.1", "l2=1e-3,lr=0.01", "l2=1e-3,lr=0.1"]
    last = got[-1]
    assert last.regularization.l2 == 1e-3 and last.training.optimizer.learning_rate == 0.1
    assert last.model.dropout == 0.2  # the rest of the file stays
    saved = yaml.safe_load(__import__("nnx.config", fromlist=["dump_run_config"]).dump_run_config(last))
    assert saved["sweep"] == {"variant": "default", "vectorize": False,
                              "values": {"regularization.l2": 1e-3, "training.optimizer.learning_rate": 0.1}}


def test_a_sweep_combines_with_variants_seeds_and_the_command_line():
    text = BASE + "seeds: 2\nvariants:\n  a: {}\n  b: {model: {hidden: [8]}}\nsweep:\n  grid:\n    regularization.l2: [0.0, 0.01]\n"
    got = runs(text, sweeps=["model.dropout=0.1,0.3"])
    assert len(got) == 2 * 2 * 2 * 2  # variants x l2 x dropout x seeds
    assert got[0].run_name == "a,l2=0,dropout=0.1-seed0" and got[1].run_name == "a,l2=0,dropout=0.1-seed1"
    assert got[-1].run_name == "b,l2=0.01,dropout=0.3-seed1" and got[-1].model.hidden == [8]
    assert got[-1].sweep.variant == "b"
    # --sweep replaces the file's values of the same key; --set applies to every run.
    again = runs(text, sweeps=["regularization.l2=0.5"], overrides=["training.epochs=1"], only=["a"])
    assert {r.regularization.l2 for r in again} == {0.5} and {r.training.epochs for r in again} == {1}
    assert len(again) == 2
    # Values with commas in brackets; keys that end alike are told apart by their whole key.
    lists = runs(BASE, sweeps=["model.hidden=[[8], [4, 4]]", "training.optimizer.decay=0.9"])
    assert [r.model.hidden for r in lists] == [[8], [4, 4]]
    assert lists[1].run_name == "hidden=4_4,decay=0.9"
    alike = runs(BASE, sweeps=["model.dropout=0.1", "model.input_dropout=0.2", "training.epochs=1"])
    assert alike[0].run_name == "dropout=0.1,input_dropout=0.2,epochs=1"


def test_a_random_sweep_is_reproducible_from_its_seed_and_draws_within_its_bounds():
    space = ("sweep:\n  random:\n    n: 6\n    seed: %d\n    space:\n"
             "      training.optimizer.learning_rate: {loguniform: [1.0e-4, 1.0e-1]}\n"
             "      model.dropout: {uniform: [0, 0.5]}\n      model.activation: {choice: [relu, tanh]}\n")
    first, again, other = runs(BASE + space % 0), runs(BASE + space % 0), runs(BASE + space % 1)
    lrs = [r.training.optimizer.learning_rate for r in first]
    assert lrs == [r.training.optimizer.learning_rate for r in again]
    assert lrs != [r.training.optimizer.learning_rate for r in other]
    assert all(1e-4 <= lr <= 0.1 for lr in lrs) and all(0 <= r.model.dropout <= 0.5 for r in first)
    assert {r.model.activation for r in first} <= {"relu", "tanh"}
    assert len({r.run_name for r in first}) == 6  # names keep few digits, but stay distinct
    assert first[0].sweep.values["training.optimizer.learning_rate"] == lrs[0]  # every digit kept


@pytest.mark.parametrize("sweep, expected", [
    ("grid:\n    regularization.l22: [1, 2]", "x.yaml:7: sweep regularization.l22=1: unknown key 'l22' in regularization (did you mean 'l2'?)"),
    ("grid:\n    regularization.l2: []", "x.yaml:7: sweep.grid.regularization.l2: an empty list of values"),
    ("grid:\n    regularization.l2: 0.1", "sweep.grid.regularization.l2: 0.1 is invalid: input should be a valid list"),
    ("grid:\n    regularization.l2: [a, 0.1]", "regularization.l2: 'a' is invalid: input should be a valid number"),
    ("grid:\n    regularization.l2: [0.1, 0.1]", "0.1 is listed twice"),
    ("grid:\n    seed: [1, 2]", "sweep key seed: give a dotted key of a run's sections"),
    ("random: {n: 3, space: {training.optimizer.learning_rate: {loguniform: [0, 0.1]}}}",
     "loguniform: bounds must be above 0"),
    ("random: {n: 3, space: {model.dropout: {uniform: [0.5, 0.1]}}}", "uniform: low 0.5 is above high 0.1"),
    ("random: {n: 3, space: {model.dropout: {normal: [0, 1]}}}", "space.model.dropout.normal: unknown key"),
    ("random: {n: 0, space: {model.dropout: {uniform: [0, 0.5]}}}", "sweep.random.n: 0 is invalid"),
])
def test_bad_sweeps_are_one_line_at_their_line(sweep, expected):
    assert expected in error_of(BASE + "sweep:\n  " + sweep + "\n")


@pytest.mark.parametrize("args, expected", [
    (["--sweep", "regularization.l22=1e-4,1e-3"], "--sweep regularization.l22=0.0001: unknown key 'l22'"),
    (["--sweep", "regularization.l2="], "--sweep regularization.l2=: no values"),
    (["--sweep", "regularization.l2"], "expected KEY=VALUE,VALUE"),
    (["--sweep", "regularization.l2=1e-4,,1e-3"], "an empty value between commas"),
    (["--sweep", "training.epochs=two"], "'two' is invalid: input should be a valid integer"),
    (["--sweep", "regularization.l2=0.1,0.2", "--set", "regularization.l2=0.3"], "is also swept"),
    (["--sweep", "regularization.l2=" + ",".join(str(i) for i in range(1001))], "1,001 runs"),
])
def test_bad_sweep_options_exit_2_with_one_line_and_no_run_folder(tmp_path, capsys, args, expected):
    path = write_experiment(tmp_path / "sw.yaml", BASE)
    code, _, err = run_cli(["train", path, "-o", tmp_path / "out", *args], capsys)
    assert code == 2, err
    assert expected in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists() or not run_folders(tmp_path / "out")


def test_more_than_a_thousand_runs_need_yes_and_dry_run_lists_them_all(tmp_path, capsys):
    path = write_experiment(tmp_path / "sw.yaml", BASE + "seeds: 11\nsweep:\n  grid:\n    regularization.l2: ["
                            + ", ".join(f"{i}.0e-5" for i in range(1, 92)) + "]\n")
    code, out, _ = run_cli(["train", path, "--dry-run"], capsys)
    assert code == 0 and "1001 run(s)" in out and out.count("seed 10 ") == 91
    assert "l2=9.1e-4-seed10" in out
    code, _, err = run_cli(["train", path, "--dry-run", "--sweep", "model.dropout=0.1,0.2"], capsys)
    assert code == 0  # --dry-run starts nothing: it lists any number
    # --yes lets it through to the next check (here a bad --set key, so nothing trains).
    code, _, err = run_cli(["train", path, "-o", tmp_path / "out", "--yes", "--set", "training.epoch=1"], capsys)
    assert code == 2 and "1,001 runs" not in err and "epoch" in err


def test_dry_run_names_the_groups_a_vectorized_sweep_trains_together(tmp_path, capsys):
    # dropout 0 drops nothing (a different program from 0.3's); hidden sizes change the shapes.
    text = BASE + ("sweep:\n  vectorize: true\n  grid:\n    model.hidden: [[16], [8]]\n"
                   "    model.dropout: [0.0, 0.3, 0.5]\n    training.optimizer.learning_rate: [0.01, 0.1]\n")
    code, out, _ = run_cli(["train", write_experiment(tmp_path / "sw.yaml", text), "--dry-run"], capsys)
    assert code == 0 and "12 run(s)" in out and "4 group(s) of 2, 4, 2, 4 runs" in out


def test_a_vectorized_sweep_equals_its_runs_trained_one_by_one(tmp_path, capsys):
    # Random settings of every per-run number: learning rate, l2, weight decay, dropout rates.
    text = BASE.replace("name: adam", "name: adamw") + """\
model: {type: mlp, hidden: [16, 8], dropout: [0.2, 0.1]}
sweep:
  vectorize: %s
  random:
    n: 3
    seed: 4
    space:
      training.optimizer.learning_rate: {loguniform: [1.0e-3, 3.0e-2]}
      regularization.l2: {choice: [0.0, 1.0e-3]}
      regularization.weight_decay: {uniform: [1.0e-3, 1.0e-2]}
      model.dropout: {choice: [[0.1, 0.3], [0.4, 0.2]]}
"""
    text = text.replace("model: {type: mlp, hidden: [16], dropout: 0.2}\n", "")
    for mode in ("true", "false"):
        path = write_experiment(tmp_path / f"{mode}.yaml", text % mode)
        assert run_cli(["train", path, "-o", tmp_path / mode, "-q"], capsys)[0] == 0

    def results(mode):
        folders = sorted((tmp_path / mode / "sw").iterdir(), key=lambda p: p.name.split("-", 2)[2])
        return [(f, json.loads((f / "summary.json").read_text()), None) for f in folders]

    together, alone = results("true"), results("false")
    assert len(together) == len(alone) == 3
    for (fa, a, _sa), (fb, b, _sb) in zip(together, alone, strict=True):
        assert fa.name.split("-", 2)[2] == fb.name.split("-", 2)[2]
        assert a["parallel_seeds"] is True and not b.get("parallel_seeds")  # trained in one program, or alone
        for split in ("test", "validation"):
            np.testing.assert_allclose(a[split]["loss"], b[split]["loss"], rtol=1e-4)
        la, lb = ([json.loads(x)["train"]["loss"] for x in (f / "metrics.jsonl").read_text().splitlines()]
                  for f in (fa, fb))
        np.testing.assert_allclose(la, lb, rtol=1e-4)
    assert len({a["test"]["loss"] for _, a, _ in together}) == 3  # the settings really differ


def test_dropout_rates_are_state_so_rates_share_one_model_graph():
    from flax import nnx

    from nnx.models.mlp import MLP

    a, b, off = (MLP(4, [3], 2, dropout=[r], rngs=nnx.Rngs(0)) for r in (0.2, 0.5, 0.0))
    assert nnx.graphdef(a) == nnx.graphdef(b) != nnx.graphdef(off)
    assert a.dropout[0].rate == pytest.approx(0.2)
