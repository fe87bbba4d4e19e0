"""`nnx compare`: run folders written by hand (fast), and one trained through the CLI."""

from __future__ import annotations

import csv
import io
import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from nnx import compare as C
from nnx.cli import cli, main
from nnx.errors import ConfigError
from nnx.record.metrics import best_epoch

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------
# Writing run folders by hand, as the runner does


def config(experiment="study", variant="default", seed=0, l2=0.0, dropout=(0.2,), epochs=5, early_stopping=None):
    return {
        "experiment": experiment, "variant": variant, "seed": seed,
        "data": {"name": "digits", "validation_split": 0.2},
        "model": {"type": "mlp", "hidden": [32], "dropout": list(dropout)},
        "training": {"epochs": epochs, "batch_size": 32, "early_stopping": early_stopping,
                     "optimizer": {"name": "adam", "learning_rate": 0.002}},
        "regularization": {"l2": l2, "l1": 0.0},
    }


def curve(epoch, val_loss, val_acc, train_loss=None, train_acc=None):
    train_loss = val_loss * 0.8 if train_loss is None else train_loss
    train_acc = min(1.0, val_acc + 0.02) if train_acc is None else train_acc
    return {"epoch": epoch,
            "train": {"loss": train_loss, "accuracy": train_acc, "error": 1 - train_acc},
            "validation": {"loss": val_loss, "accuracy": val_acc, "error": 1 - val_acc},
            "seconds": 0.5, "learning_rate": 0.002}


def write_run(parent: Path, name: str, cfg: dict | None, curves=(), summary: dict | None = None,
              status: dict | str | None = "auto") -> Path:
    folder = parent / cfg["experiment"] / name if cfg else parent / name
    folder.mkdir(parents=True)
    if cfg is not None:
        (folder / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    if curves:
        (folder / "metrics.jsonl").write_text("".join(json.dumps(c) + "\n" for c in curves))
    if summary is not None:
        (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    if status == "auto":
        status = {"status": "completed" if summary is not None else "running"}
    if isinstance(status, dict):
        (folder / "status.json").write_text(json.dumps(status))
    elif isinstance(status, str):
        (folder / "status.json").write_text(status)
    return folder


def completed_run(parent, name, cfg, test_acc, val_acc, epochs=5, best_epoch=None, seconds=3.0, params=1234):
    """A completed run whose summary agrees with its curves (at the best epoch, or the last)."""
    curves = [curve(e, 1.0 / e, val_acc - 0.01 * (epochs - e)) for e in range(1, epochs + 1)]
    at = curves[(best_epoch or epochs) - 1]
    summary = {
        "experiment": cfg["experiment"], "run": name, "variant": cfg["variant"], "seed": cfg["seed"],
        "model": "mlp", "task": "classification", "device": "cpu:cpu", "params": params,
        "epochs": epochs, "best_epoch": best_epoch, "stopped_early": best_epoch is not None,
        "seconds": seconds, "validation": at["validation"],
        "test": {"loss": 0.3 + (1 - test_acc), "accuracy": test_acc, "error": 1 - test_acc},
    }
    return write_run(parent, name, cfg, curves, summary)


def invoke(*args):
    result = CliRunner().invoke(cli, list(map(str, args)))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def md_rows(markdown: str) -> list[dict[str, str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    head = [h.strip() for h in lines[0].strip("|").split("|")]
    return [dict(zip(head, (c.strip() for c in line.strip("|").split("|")), strict=True)) for line in lines[2:]]


@pytest.fixture
def study(tmp_path) -> Path:
    """Three variants of one experiment, one seed each, differing in l2 and dropout."""
    out = tmp_path / "outputs"
    completed_run(out, "20260101-000001-plain", config(variant="plain"), test_acc=0.90, val_acc=0.88, seconds=2.0)
    completed_run(out, "20260101-000002-ridge", config(variant="ridge", l2=1e-4), test_acc=0.93, val_acc=0.91,
                  seconds=2.5)
    completed_run(out, "20260101-000003-dropout", config(variant="dropout", dropout=[0.5]), test_acc=0.95,
                  val_acc=0.94, seconds=4.0)
    return out


def summaries(out: Path) -> dict[str, dict]:
    return {json.loads(p.read_text())["variant"]: json.loads(p.read_text()) for p in out.rglob("summary.json")}


# --------------------------------------------------------------------------------------------
# Every format shows the numbers of summary.json


def test_every_format_shows_the_summaries_numbers(study):
    expected = summaries(study)

    rows = md_rows(invoke("compare", study / "study", "--format", "markdown"))
    assert [r["run"] for r in rows] == ["dropout", "ridge", "plain"]  # sorted by test error, lowest first
    for row in rows:
        s = expected[row["run"]]
        assert row["test error"].strip("*") == f"{s['test']['error']:.2%}"
        assert row["test loss"] == f"{s['test']['loss']:.4f}"
        assert row["val error"] == f"{s['validation']['error']:.2%}"
        assert row["params"] == f"{s['params']:,}" and row["seconds"] == f"{s['seconds']:.1f}"
        assert row["device"] == "cpu:cpu" and row["model"] == "mlp" and row["epochs"] == "5"
    assert rows[0]["test error"] == "**5.00%**"  # the best value of the sort metric, in bold
    assert rows[1]["test error"] == "7.00%"

    table = invoke("compare", study)
    for s in expected.values():
        assert f"{s['test']['error']:.2%}" in table and f"{s['validation']['loss']:.4f}" in table

    for row in csv.DictReader(io.StringIO(invoke("compare", study, "--format", "csv"))):
        s = expected[row["variant"]]
        for split in ("validation", "test"):
            for leaf, value in s[split].items():
                assert float(row[f"{split}.{leaf}"]) == value  # full precision
        assert int(row["params"]) == s["params"] and row["n"] == "1" and row["status"] == "completed"

    objects = json.loads(invoke("compare", study, "--format", "json"))
    assert [o["variant"] for o in objects] == ["dropout", "ridge", "plain"]
    for obj in objects:
        s = expected[obj["variant"]]
        assert obj["run"] == s["run"] and obj["n"] == 1 and obj["params"] == s["params"]
        for split in ("validation", "test"):
            for leaf, value in s[split].items():
                assert obj[f"{split}.{leaf}"] == value
        assert obj["metrics_at"] == "last" and obj["problems"] == []


def test_what_differs_shows_only_the_keys_that_differ(study):
    runs = C.read_runs(C.find_runs([study]))
    assert C.differing_keys(runs) == ["model.dropout", "regularization.l2"]

    rows = {r["run"]: r for r in md_rows(invoke("compare", study, "--format", "markdown"))}
    # Headers are the shortest tail of the key that names one column.
    assert rows["dropout"]["dropout"] == "[0.5]" and rows["plain"]["dropout"] == "[0.2]"
    assert rows["ridge"]["l2"] == "0.0001" and rows["dropout"]["l2"] == "0"
    header = next(iter(rows.values())).keys()
    assert not {"seed", "variant", "experiment", "training.epochs", "data.name", "name"} & set(header)

    objects = json.loads(invoke("compare", study, "--format", "json"))
    assert objects[0]["differs"] == {"model.dropout": [0.5], "regularization.l2": 0.0}

    # A section set in one run and null in the others is one column, not one per key inside it; its
    # cell says what sets the runs that have it apart ("on" when they set it alike).
    stopping = {"monitor": "validation.loss", "patience": 2}
    completed_run(study, "20260101-000004-es", config(variant="es", early_stopping=stopping), test_acc=0.5,
                  val_acc=0.5, best_epoch=3)
    completed_run(study, "20260101-000005-es5", config(variant="es5", early_stopping={**stopping, "patience": 5}),
                  test_acc=0.5, val_acc=0.5, best_epoch=3)
    rows = {r["run"]: r for r in md_rows(invoke("compare", study, "--format", "markdown"))}
    assert list(rows["es"])[2:5] == ["dropout", "early_stopping", "l2"]
    assert rows["es"]["early_stopping"] == "patience=2" and rows["es5"]["early_stopping"] == "patience=5"
    assert rows["plain"]["early_stopping"] == "-"
    (study / "study" / "20260101-000005-es5" / "config.yaml").unlink()
    rows = {r["run"]: r for r in md_rows(invoke("compare", study, "--format", "markdown"))}
    assert rows["es"]["early_stopping"] == "on"


def test_mean_and_sd_over_seeds(tmp_path):
    out = tmp_path / "outputs"
    accs = [0.91, 0.93, 0.96]
    for seed, acc in enumerate(accs):
        completed_run(out, f"2026-a-seed{seed}", config(variant="a", seed=seed, dropout=[0.4, 0.3]), test_acc=acc,
                      val_acc=acc - 0.02, seconds=1.0 + seed)
    completed_run(out, "2026-b-seed0", config(variant="b", l2=0.1), test_acc=0.80, val_acc=0.79)

    objects = json.loads(invoke("compare", out, "--format", "json"))
    a = next(o for o in objects if o["variant"] == "a")
    errors = [1 - x for x in accs]
    assert a["n"] == 3 and a["seeds"] == [0, 1, 2] and len(a["runs"]) == 3 and "run" not in a
    assert a["test.error"]["mean"] == pytest.approx(statistics.mean(errors))
    assert a["test.error"]["sd"] == pytest.approx(statistics.stdev(errors))
    assert a["test.error"]["n"] == 3
    assert a["seconds"]["mean"] == pytest.approx(2.0)
    b = next(o for o in objects if o["variant"] == "b")
    assert b["n"] == 1 and isinstance(b["test.error"], float)  # a plain number: no seeds to average

    rows = {r["run"]: r for r in md_rows(invoke("compare", out, "--format", "markdown"))}
    mean, sd = statistics.mean(errors), statistics.stdev(errors)
    assert rows["a"]["n"] == "3" and rows["a"]["test error"] == f"**{mean:.2%} ± {sd:.2%}**"
    assert rows["b"]["n"] == "1"
    assert rows["a"]["dropout"] == "[0.4, 0.3]" and rows["b"]["dropout"] == "[0.2]"

    for row in csv.DictReader(io.StringIO(invoke("compare", out, "--format", "csv"))):
        if row["variant"] == "a":
            assert float(row["test.error"]) == pytest.approx(mean)
            assert float(row["test.error.sd"]) == pytest.approx(sd)
            assert row["seeds"] == "0;1;2"

    per_run = json.loads(invoke("compare", out, "--format", "json", "--per-run"))
    assert len(per_run) == 4 and all(o["n"] == 1 for o in per_run)


def test_a_seed_trained_twice_is_not_averaged(tmp_path):
    out = tmp_path / "outputs"
    completed_run(out, "20260101-000001-default", config(), test_acc=0.90, val_acc=0.9)
    completed_run(out, "20260102-000001-default", config(), test_acc=0.92, val_acc=0.9)
    objects = json.loads(invoke("compare", out, "--format", "json"))
    assert sorted(o["name"] for o in objects) == ["20260101-000001-default", "20260102-000001-default"]


def test_metrics_at_the_best_epoch_when_early_stopping_chose_one(tmp_path):
    out = tmp_path / "outputs"
    stopping = {"monitor": "validation.loss", "mode": "auto", "patience": 2, "min_delta": 0.0, "restore_best": True}
    cfg = config(variant="es", early_stopping=stopping)
    curves = [curve(1, 0.9, 0.7), curve(2, 0.5, 0.8), curve(3, 0.4, 0.85, train_loss=0.123), curve(4, 0.45, 0.86),
              curve(5, 0.47, 0.87)]
    summary = {"experiment": "study", "variant": "es", "seed": 0, "model": "mlp", "task": "classification",
               "params": 10, "epochs": 5, "best_epoch": 3, "stopped_early": True, "seconds": 1.0,
               "validation": curves[2]["validation"], "test": {"loss": 0.41, "accuracy": 0.84, "error": 0.16}}
    write_run(out, "2026-es", cfg, curves, summary)
    # Still running, with early stopping: what it has, at the best epoch so far (validation loss 0.3 at epoch 2).
    write_run(out, "2026-running", config(variant="live", early_stopping=stopping),
              [curve(1, 0.6, 0.7), curve(2, 0.3, 0.75), curve(3, 0.35, 0.8)])
    # Early stopping without restoring: the summary's metrics are the last epoch's, and it says so.
    keep_last = {**stopping, "restore_best": False}
    write_run(out, "2026-last", config(variant="last", early_stopping=keep_last), curves,
              {**summary, "variant": "last", "validation": curves[4]["validation"]})

    objects = {o["variant"]: o for o in json.loads(invoke("compare", out, "--format", "json"))}
    es = objects["es"]
    assert es["best_epoch"] == 3 and es["metrics_at"] == "best" and es["epochs"] == 5
    assert es["validation.loss"] == 0.4 and es["train.loss"] == 0.123  # train metrics of epoch 3, not 5
    live = objects["live"]
    assert live["status"] == "running" and live["best_epoch"] == 2 and live["validation.loss"] == 0.3
    assert "test.loss" not in live
    last = objects["last"]
    assert last["metrics_at"] == "last" and last["validation.loss"] == 0.47
    assert last["train.loss"] == pytest.approx(0.47 * 0.8)
    assert any("restore_best" in p for p in last["problems"])

    markdown = invoke("compare", out, "--format", "markdown")
    rows = {r["run"]: r for r in md_rows(markdown)}
    assert rows["es"]["best epoch"] == "3" and rows["es"]["epochs"] == "5"
    assert markdown.startswith("Metrics at the best epoch chosen by early stopping")  # said in the header

    runs = C.read_runs(C.find_runs([out]))
    assert best_epoch(runs[0].curves, "validation.accuracy")["epoch"] == 5  # higher is better
    assert best_epoch(runs[0].curves, "validation.loss")["epoch"] == 3


def test_incomplete_and_corrupted_runs_are_listed_never_crash(study):
    cfg = config(variant="broken")
    write_run(study, "2026-running", config(variant="live"), [curve(1, 0.8, 0.7), curve(2, 0.6, 0.8)])
    write_run(study, "2026-failed", config(variant="failed"), [curve(1, 0.8, 0.7)],
              status={"status": "failed", "reason": "RunError: loss is NaN at epoch 2"})
    bad = write_run(study, "2026-badjson", cfg, [curve(1, 0.8, 0.7)], status={"status": "completed"})
    (bad / "summary.json").write_text('{"test": {"accuracy": 0.9')  # torn
    torn = completed_run(study, "2026-tornline", config(variant="torn"), test_acc=0.5, val_acc=0.5)
    with open(torn / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 6, "tra')
    write_run(study, "2026-wrongtypes", config(variant="types"),
              summary={"variant": "types", "seed": 0, "params": "many", "test": "oops", "validation": [1, 2],
                       "epochs": 2})
    write_run(study / "study", "2026-bare", None, status="not json at all")  # nothing readable at all
    (study / "study" / "2026-nonsense").mkdir()  # not a run folder: ignored

    objects = {o["name"]: o for o in json.loads(invoke("compare", study, "--format", "json"))}
    assert len(objects) == 3 + 6
    assert objects["2026-running"]["status"] == "running"
    assert objects["2026-running"]["validation.loss"] == 0.6  # what it has: the last epoch so far
    assert objects["2026-failed"]["status"] == "failed"
    assert objects["2026-failed"]["problems"] == ["RunError: loss is NaN at epoch 2"]
    assert any("summary.json: unreadable" in p for p in objects["2026-badjson"]["problems"])
    assert objects["2026-badjson"]["validation.loss"] == 0.8  # falls back on metrics.jsonl
    assert any("metrics.jsonl:6" in p for p in objects["2026-tornline"]["problems"])
    assert objects["2026-tornline"]["test.error"] == 0.5
    wrong = objects["2026-wrongtypes"]["problems"]
    assert any("params is not an integer" in p for p in wrong) and any("test is not a mapping" in p for p in wrong)
    assert any("status.json: unreadable" in p for p in objects["2026-bare"]["problems"])
    assert objects["2026-bare"]["status"] == "incomplete"

    # Complete runs still come first, sorted; the others follow and say what is wrong.
    rows = md_rows(invoke("compare", study, "--format", "markdown"))
    assert [r["run"] for r in rows[:3]] == ["dropout", "ridge", "plain"]
    failed = next(r for r in rows if r["run"] == "2026-failed")
    assert failed["status"] == "failed" and "loss is NaN" in failed["notes"] and failed["test error"] == "-"
    table = invoke("compare", study)
    assert "running" in table and "failed" in table
    for fmt in ("csv", "table"):
        invoke("compare", study, "--format", fmt)


def test_sort_metric_columns_and_bad_options(study):
    rows = md_rows(invoke("compare", study, "--format", "markdown", "--metric", "test.loss"))
    assert [r["run"] for r in rows] == ["dropout", "ridge", "plain"]
    rows = md_rows(invoke("compare", study, "--format", "markdown", "-m", "validation.accuracy"))
    assert [r["run"] for r in rows] == ["dropout", "ridge", "plain"]  # highest first
    assert rows[0]["val accuracy"] == "**94.00%**"  # asked for, so shown

    rows = md_rows(invoke("compare", study, "--format", "markdown", "--columns", "run,differs,test.accuracy,n"))
    assert list(rows[0]) == ["run", "dropout", "l2", "test accuracy", "n"]
    out = invoke("compare", study, "--format", "csv", "--columns", "run,test.error,model.hidden")
    assert out.splitlines()[0] == "run,test.error,model.hidden"

    runner = CliRunner()
    for args in (["--metric", "test.auc"], ["--columns", "run,bogus"]):
        result = runner.invoke(cli, ["compare", str(study), *args])
        assert isinstance(result.exception, ConfigError)


def test_finds_runs_from_folders_and_globs(study, monkeypatch):
    completed_run(study, "2026-x", config(experiment="other", variant="x"), test_acc=0.5, val_acc=0.5)
    experiment = study / "study"
    plain, ridge, dropout = (experiment / f"20260101-00000{i}-{v}" for i, v in
                             enumerate(["plain", "ridge", "dropout"], 1))
    assert C.find_runs([experiment]) == [plain, ridge, dropout]  # an experiment: its runs, by time
    assert C.find_runs([ridge]) == [ridge]
    assert C.find_runs([str(experiment / "*-r*"), experiment]) == [ridge, plain, dropout]  # no duplicates
    assert len(C.find_runs([study])) == 4  # a folder of experiments
    monkeypatch.chdir(study.parent)
    assert len(C.find_runs()) == 4  # every experiment under outputs/
    objects = json.loads(invoke("compare", "--format", "json"))
    assert {o["name"] for o in objects} == {"study/plain", "study/ridge", "study/dropout", "other/x"}


def test_no_run_found_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    (tmp_path / "empty").mkdir()
    for args in (["compare", str(tmp_path / "empty")], ["compare", str(tmp_path / "missing")],
                 ["compare", str(tmp_path / "empty" / "*")]):
        with pytest.raises(SystemExit) as e:
            main(args)
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and len(err.strip().splitlines()) == 1
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["compare"])
    assert e.value.code == 2 and "outputs/ does not exist" in capsys.readouterr().err


def test_plot_writes_a_valid_png(study, tmp_path):
    from matplotlib.image import imread

    write_run(study, "2026-running", config(variant="live"), [curve(1, 0.8, 0.7), curve(2, 0.6, 0.8)])
    path = tmp_path / "curves.png"
    invoke("compare", study, "--plot", path, "-m", "test.error", "-m", "loss", "--format", "json")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = imread(path)
    assert image.shape[0] > 300 and image.shape[1] > 1000  # two panels side by side
    assert image[..., :3].std() > 0.05  # something was drawn

    result = CliRunner().invoke(cli, ["compare", str(study), "--plot", str(tmp_path / "no" / "dir" / "c.png")])
    assert isinstance(result.exception, ConfigError)


def test_plot_of_runs_without_validation_labels_their_train_curves(tmp_path):
    import warnings

    out = tmp_path / "outputs"
    for variant in ("a", "b"):
        train_only = [{"epoch": e, "train": {"loss": 1.0 / e}, "seconds": 0.1} for e in (1, 2, 3)]
        write_run(out, f"2026-{variant}", config(variant=variant), train_only)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns when a legend has no labelled line
        C.plot_curves(C.compare([out], metrics=["train.loss"]), tmp_path / "c.png", ["train.loss"])
    assert (tmp_path / "c.png").stat().st_size > 0


def test_compare_never_imports_jax(study):
    code = ("import sys; from nnx.cli import main\n"
            "try:\n    main(['compare', sys.argv[1], '--format', 'json'])\nexcept SystemExit as e:\n"
            "    assert not e.code, e.code\n"
            "assert 'jax' not in sys.modules, 'jax was imported'\n")
    result = subprocess.run([sys.executable, "-c", code, str(study)], cwd=ROOT, capture_output=True, text=True,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 3


def test_train_the_quickstart_then_compare(tmp_path):
    out = tmp_path / "outputs"
    result = CliRunner().invoke(cli, ["train", str(ROOT / "experiments" / "quickstart.yaml"), "--set",
                                      "training.epochs=2", "-o", str(out), "-q"])
    assert result.exit_code == 0, (result.output, result.exception)
    summary = json.loads(next(out.rglob("summary.json")).read_text())
    lines = [json.loads(line) for line in next(out.rglob("metrics.jsonl")).read_text().splitlines()]

    (obj,) = json.loads(invoke("compare", out / "quickstart", "--format", "json"))
    assert obj["run"] == summary["run"] and obj["params"] == summary["params"] and obj["epochs"] == 2
    for split in ("validation", "test"):
        for leaf, value in summary[split].items():
            assert obj[f"{split}.{leaf}"] == value
    assert obj["train.loss"] == lines[-1]["train"]["loss"]  # the last epoch: no early stopping

    (row,) = md_rows(invoke("compare", out, "--format", "markdown"))
    assert row["test error"] == f"**{summary['test']['error']:.2%}**"

    from rich.console import Console

    console = Console(file=io.StringIO(), width=200)
    console.print(C.table_from_runs([next(out.rglob("summary.json")).parent]))
    assert f"{summary['test']['error']:.2%}" in console.file.getvalue()


def test_regression_runs_sort_by_test_mse_and_r2_is_higher_is_better(tmp_path):
    out = tmp_path / "outputs"
    # "l1" trained on absolute error: its "loss" is its MAE, the lowest loss here but the worst MSE.
    for variant, mse, r2, loss in (("small", 0.30, 0.70, 0.30), ("big", 0.20, 0.80, 0.20),
                                   ("huge", 0.25, 0.75, 0.25), ("l1", 0.50, 0.50, 0.05)):
        metrics = {"loss": loss, "mse": mse, "mae": mse / 2, "r2": r2}
        summary = {"experiment": "reg", "variant": variant, "seed": 0, "model": "mlp", "task": "regression",
                   "params": 7, "epochs": 1, "best_epoch": None, "seconds": 0.1, "validation": metrics, "test": metrics}
        write_run(out, f"2026-{variant}", config(experiment="reg", variant=variant, l2=mse),
                  [{"epoch": 1, "train": metrics, "validation": metrics}], summary)
    rows = md_rows(invoke("compare", out, "--format", "markdown"))
    assert [r["run"] for r in rows] == ["big", "huge", "small", "l1"]  # test.mse, lowest first
    assert {"test loss", "test mae", "test r2", "test mse"} <= set(rows[0])
    assert rows[0]["test mse"] == "**0.2000**" and rows[0]["test r2"] == "0.8000"
    rows = md_rows(invoke("compare", out, "--format", "markdown", "--metric", "r2"))
    assert [r["run"] for r in rows] == ["big", "huge", "small", "l1"] and rows[0]["test r2"] == "**0.8000**"
    rows = md_rows(invoke("compare", out, "--format", "markdown", "--metric", "test.mae"))
    assert rows[0]["test mae"] == "**0.1000**"


def test_a_run_whose_process_is_gone_reads_crashed_not_running(study):
    import socket

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = int(finished.stdout)  # a process that has exited: its pid is free
    host = socket.gethostname()
    write_run(study, "2026-killed", config(variant="killed"), [curve(1, 0.8, 0.7)],
              status={"status": "running", "pid": gone, "host": host})
    write_run(study, "2026-alive", config(variant="alive"), [curve(1, 0.8, 0.7)],
              status={"status": "running", "pid": __import__("os").getpid(), "host": host})
    write_run(study, "2026-elsewhere", config(variant="elsewhere"), [curve(1, 0.8, 0.7)],
              status={"status": "running", "pid": gone, "host": host + "-other"})
    objects = {o["name"]: o for o in json.loads(invoke("compare", study, "--format", "json"))}
    assert objects["2026-killed"]["status"] == "crashed"
    assert "nnx train --resume" in objects["2026-killed"]["problems"][0]
    assert objects["2026-alive"]["status"] == "running"
    assert objects["2026-elsewhere"]["status"] == "running"  # another machine's process: cannot tell


def test_a_running_status_records_who_runs_it(tmp_path):
    import os
    import socket

    from nnx.record import RunFolder, read_run

    folder = RunFolder(tmp_path)
    folder.set_status("running")
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["pid"] == os.getpid() and status["host"] == socket.gethostname()
    assert read_run(tmp_path).state == "running"  # this process is alive
    folder.set_status("completed")
    assert "pid" not in json.loads((tmp_path / "status.json").read_text())


def test_val_shorthand_sorts_and_experiment_is_a_column(study):
    completed_run(study, "20260101-000004-odd", config(variant="odd"), test_acc=0.80, val_acc=0.99)
    rows = md_rows(invoke("compare", study, "--metric", "val.accuracy", "-c", "run,experiment,val.accuracy",
                          "--format", "markdown"))
    assert [r["run"] for r in rows] == ["odd", "dropout", "ridge", "plain"]  # by validation, not test
    assert {r["experiment"] for r in rows} == {"study"}


# --------------------------------------------------------------------------------------------
# When models differ: what each row's model reads, widths, number formats, --best-by, baselines


def summary_of(cfg, name, test, validation=None, closed_form=False, params=1234, epochs=5, best_epoch=None,
               model=None, task="classification"):
    return {"experiment": cfg["experiment"], "run": name, "variant": cfg["variant"], "seed": cfg["seed"],
            "model": model or cfg["model"]["type"], "task": task, "device": "cpu:cpu", "params": params,
            "epochs": 0 if closed_form else epochs, "best_epoch": best_epoch, "seconds": 12.3,
            "validation": validation or {}, "test": test, **({"closed_form": True} if closed_form else {})}


def classifier(test_error, val_error):
    return ({"loss": 0.1 + test_error, "accuracy": 1 - test_error, "error": test_error},
            {"loss": 0.1 + val_error, "accuracy": 1 - val_error, "error": val_error})


def test_keys_a_model_does_not_read_are_not_differences(tmp_path):
    out = tmp_path / "outputs"
    training = {"epochs": 30, "optimizer": {"name": "rmsprop", "learning_rate": 0.001}}
    mlp = {"type": "mlp", "hidden": [256, 128], "dropout": 0.0, "input_dropout": 0.0, "linear_skip": False}
    variants = {
        "ridge": ({**mlp}, training, {"l2": 1e-4}),
        "dropout": ({**mlp, "dropout": [0.4, 0.3], "input_dropout": 0.1},
                    {"epochs": 100, "optimizer": {"name": "nesterov", "learning_rate": 0.1}}, {"l2": 0.0}),
        "logistic": ({"type": "logistic"}, training, {"l2": 0.0}),
        "lda": ({"type": "lda", "solver": "svd", "shrinkage": None}, training, {"l2": 0.0}),
    }
    for i, (variant, (model, train, reg)) in enumerate(variants.items()):
        cfg = {"experiment": "reg", "variant": variant, "seed": 0, "data": {"name": "mnist"}, "model": model,
               "training": train, "regularization": reg}
        test, val = classifier(0.02 + i / 100, 0.03 + i / 100)
        name = f"2026-{variant}"
        write_run(out, name, cfg, [] if variant == "lda" else [curve(1, 0.5, 0.9)],
                  summary_of(cfg, name, test, val, closed_form=variant == "lda"))

    c = C.compare([out])
    # model.type is the model column; hidden, linear_skip, solver and shrinkage are each read by runs
    # that agree (or by one run alone); training.epochs is the epochs column.
    assert c.differs == ["model.dropout", "model.input_dropout", "training.optimizer.name",
                         "training.optimizer.learning_rate", "regularization.l2"]
    rows = {r["run"]: r for r in md_rows(C.render_markdown(c))}
    assert list(rows["lda"])[:8] == ["run", "model", "dropout", "input_dropout", "optimizer", "learning_rate",
                                     "l2", "params"]
    lda, logistic, dropout = rows["lda"], rows["logistic"], rows["dropout"]
    assert lda["dropout"] == lda["input_dropout"] == lda["optimizer"] == lda["l2"] == ""  # LDA reads none of them
    assert logistic["dropout"] == "" and logistic["optimizer"] == "rmsprop" and logistic["l2"] == "0"
    assert dropout["input_dropout"] == "0.1" and dropout["optimizer"] == "nesterov"
    objects = {o["variant"]: o for o in C.to_json(c)}
    assert objects["lda"]["differs"] == {}
    assert objects["logistic"]["differs"] == {"training.optimizer.name": "rmsprop",
                                              "training.optimizer.learning_rate": 0.001, "regularization.l2": 0.0}

    # The rule is the model interface's: a family reads its spec's fields, a network also training:.
    from nnx.models import family

    assert not family("lda").reads("training.optimizer.name") and family("lda").reads("model.solver")
    assert family("mlp").reads("regularization.l2") and not family("mlp").reads("model.solver")
    assert family("lda").reads("data.validation_split")


def fake_runs_of(experiment_file: Path, out: Path) -> Path:
    """Run folders for every variant of a shipped experiment, written as the runner writes them (its
    resolved config.yaml; closed-form or not from the model family), with made-up metrics of the right
    size (squared errors in the hundred thousands for Hitters)."""
    from nnx.config import load_experiment
    from nnx.config.experiment import dump_run_config
    from nnx.models import family

    experiment = load_experiment(experiment_file)
    for i, spec in enumerate(experiment.runs):
        cfg = yaml.safe_load(dump_run_config(spec))
        closed = not family(spec.model).network
        name = f"20261202-0{i:05d}-{spec.variant}"
        stopping = spec.training.early_stopping is not None and not closed
        if experiment.name == "hitters":
            metrics = {"loss": 110341.34 - 9000 * i, "mse": 110341.34 - 9000 * i, "mae": 259.7 - 11.3 * i,
                       "r2": 0.3297 + 0.04 * i}
            test, val, task = metrics, {}, "regression"
        elif experiment.name == "nyse":
            metrics = {"loss": 0.6334 - 0.01 * i, "mse": 0.6334 - 0.01 * i, "mae": 0.58, "r2": 0.4129 + 0.005 * i}
            test, val, task = metrics, (metrics if spec.data.validation_split else {}), "regression"
        else:
            (test, val), task = classifier(0.015 + 0.01 * i, 0.02 + 0.01 * i), "classification"
        curves = [] if closed else [{"epoch": e, "train": test, "validation": val} for e in (1, 2)]
        write_run(out, name, cfg, curves, summary_of(cfg, name, test, val, closed_form=closed, params=235146,
                                                     epochs=2, best_epoch=1 if stopping else None, task=task,
                                                     model=spec.model.type))
    return out / experiment.name


@pytest.mark.parametrize("name", ["mnist_regularization", "hitters", "nyse"])
def test_the_shipped_experiments_fit_a_120_column_terminal(tmp_path, name):
    folder = fake_runs_of(ROOT / "experiments" / f"{name}.yaml", tmp_path / "outputs")
    variants = {json.loads(p.read_text())["variant"] for p in folder.rglob("summary.json")}
    text = invoke("compare", folder)  # piped: fitted to 120 characters
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 120, "\n".join(lines)
    table = "\n".join(lines)
    assert all(v in table for v in variants)
    assert "model.type" not in table and ("test error" in table or "test mse" in table)
    if name == "mnist_regularization":
        assert "1.50%" in table  # the best row's test error, as a number the user reads
    wide = invoke("compare", folder, "--wide")
    assert max(len(line) for line in wide.splitlines()) > 120  # every column: as wide as it needs
    assert "seconds" in wide and "device" in wide


def test_one_number_format_per_column_and_no_repeated_loss(tmp_path):
    out = tmp_path / "outputs"
    for variant, mse, mae, r2, seeds in (("ols", 110341.3409, 259.7, 0.3297, [0]),
                                         ("network", None, 228.1, 0.4824, [0, 1])):
        for seed in seeds:
            cfg = config(experiment="hitters", variant=variant, seed=seed, l2=0.1 if variant == "ols" else 0.0)
            value = mse if mse is not None else 66202.8107 + (10444.4369 if seed else -10444.4369) / 2 ** 0.5
            metrics = {"loss": value, "mse": value, "mae": mae + seed, "r2": r2 - seed / 100}
            name = f"2026-{variant}-{seed}"
            write_run(out, name, cfg, [{"epoch": 1, "train": metrics}] if variant == "network" else [],
                      summary_of(cfg, name, metrics, task="regression", closed_form=variant == "ols"))
    rows = {r["run"]: r for r in md_rows(invoke("compare", out, "--format", "markdown"))}
    assert "test loss" not in rows["ols"]  # the MSE again: a squared-error fit's loss
    # Thousands separators, no decimals for squared errors in the hundred thousands; the sd alike.
    assert rows["ols"]["test mse"] == "110,341" and rows["network"]["test mse"] == "**66,203 ± 10,444**"
    assert rows["ols"]["test mae"] == "259.7" and rows["network"]["test mae"] == "228.6 ± 0.7"
    assert rows["ols"]["test r2"] == "0.3297" and rows["network"]["test r2"] == "0.4774 ± 0.0071"
    assert C.column_format("test.error", [0.0012, 0.004])(0.0012) == "0.120%"
    assert C.column_format("test.loss", [1234.5, 0.5])(0.5) == "0" and C.column_format("test.r2", [])(0.5) == "0.5000"


def sweep(out: Path, experiment="sweep", errors=None):
    """Runs named as a sweep names them: ordinary variants with their values in config.yaml."""
    errors = errors or {"l2=1e-5,lr=0.1": (0.020, 0.030), "l2=1e-4,lr=0.1": (0.025, 0.021),
                        "l2=1e-3,lr=0.01": (0.018, 0.040)}
    for i, (variant, (test_error, val_error)) in enumerate(errors.items()):
        l2, lr = (float(v.split("=")[1]) for v in variant.split(","))
        cfg = config(experiment=experiment, variant=variant, l2=l2)
        cfg["training"]["optimizer"]["learning_rate"] = lr
        test, val = classifier(test_error, val_error)
        name = f"2026{i}-{variant}"
        write_run(out, name, cfg, [curve(1, 0.5, 0.9)], summary_of(cfg, name, test, val))


def test_best_by_marks_the_setting_chosen_on_validation_and_shows_its_test_metric(tmp_path):
    out = tmp_path / "outputs"
    sweep(out)
    sweep(out, experiment="other", errors={"l2=1e-5,lr=0.1": (0.05, 0.06), "l2=1e-4,lr=0.1": (0.04, 0.07)})
    c = C.compare([out], best_by="validation.error")
    assert {(r.first.experiment, r.name) for r in c.chosen} == {("sweep", "sweep/l2=1e-4,lr=0.1"),
                                                                 ("other", "other/l2=1e-5,lr=0.1")}
    assert c.metric == "validation.error"  # sorted by what it chooses on
    markdown = invoke("compare", out / "sweep", "--best-by", "validation.error", "--format", "markdown")
    rows = md_rows(markdown)
    assert list(rows[0])[:2] == ["run", "chosen"] and [r["chosen"] for r in rows] == ["✓", "", ""]
    chosen = rows[0]
    assert chosen["run"] == "l2=1e-4,lr=0.1"  # not the best on test (l2=1e-3: 1.80%)
    header = list(chosen)
    assert header.index("test error") == header.index("val error") + 1  # its test metric beside it
    assert chosen["test error"] == "2.50%" and "its test.error is the estimate to report" in markdown
    assert chosen["l2"] == "0.0001" and chosen["learning_rate"] == "0.1"
    objects = json.loads(invoke("compare", out / "sweep", "--best-by", "error", "--format", "json"))
    assert [o["chosen"] for o in objects] == [True, False, False]
    table = invoke("compare", out / "sweep", "--best-by", "val.error")
    assert "✓" in table and max(len(line) for line in table.splitlines()) <= 120
    rows = list(csv.DictReader(io.StringIO(invoke("compare", out / "sweep", "--best-by", "error", "--format", "csv"))))
    assert [r["chosen"] for r in rows] == ["true", "false", "false"]


@pytest.mark.parametrize("value, words", [("test.error", "optimistic"), ("train.loss", "overfits"),
                                          ("validation.bogus", "no compared run has validation.bogus")])
def test_best_by_refuses_test_and_unknown_metrics(tmp_path, capsys, value, words):
    sweep(tmp_path / "outputs")
    with pytest.raises(SystemExit) as e:
        main(["compare", str(tmp_path / "outputs"), "--best-by", value])
    err = capsys.readouterr().err
    assert e.value.code == 2 and len(err.strip().splitlines()) == 1 and words in err


def test_plot_draws_closed_form_baselines_as_labelled_lines(tmp_path):
    from matplotlib.figure import Figure

    from nnx.compare.plot import _baselines

    out = tmp_path / "outputs"
    for variant, mae in (("network", 228.1), ("ols", 259.7), ("lasso", 235.1)):
        cfg = config(experiment="hitters", variant=variant, l2=mae)
        metrics = {"loss": mae, "mse": mae * 400, "mae": mae, "r2": 0.4}
        curves = [{"epoch": e, "train": {**metrics, "mae": 300 - e}} for e in (1, 2, 3)] if variant == "network" else []
        write_run(out, f"2026-{variant}", cfg, curves,
                  summary_of(cfg, f"2026-{variant}", metrics, task="regression", closed_form=variant != "network"))
    c = C.compare([out], metrics=["test.mae"])
    ax = Figure().subplots()
    assert _baselines(ax, c, "mae", [f"C{i}" for i in range(10)])
    lines = {line.get_label(): set(line.get_ydata()) for line in ax.get_lines()}
    assert lines == {"lasso (closed form, test)": {235.1}, "ols (closed form, test)": {259.7}}  # not the network
    assert {t.get_text() for t in ax.texts} == {"ols", "lasso"}
    C.plot_curves(c, tmp_path / "c.png", ["test.mae"])
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_the_fitted_width_is_the_width_rich_draws(tmp_path):
    from rich.console import Console

    from nnx.compare.render import _table, _width

    folder = fake_runs_of(ROOT / "experiments" / "nyse.yaml", tmp_path / "outputs")
    c = C.compare([folder])
    columns = [col for col in C.expanded_columns(c) if col != "notes"]
    combined = ["run", "model", "differs", "params", "test.mse"]
    for shown, combine in ((columns, False), (combined, True), (columns[:4], False)):
        console = Console(width=100_000, file=io.StringIO())
        assert _width(c, shown, combine, {}) == console.measure(_table(c, shown, combine, [], None, None)).maximum
