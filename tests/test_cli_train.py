"""`nnx train` end to end through the CLI, on the bundled digits: what a user types and sees."""

import json

import numpy as np
import pytest
import yaml

from .conftest import EXPERIMENTS
from .helpers import QUICK, run_cli, run_folders, write_experiment


def test_help_and_version(capsys):
    code, out, _ = run_cli(["--help"], capsys)
    assert code == 0 and "train" in out
    code, out, _ = run_cli(["train", "--help"], capsys)
    assert code == 0 and "--set" in out and "--output-dir" in out and "--device" in out
    code, out, _ = run_cli(["--version"], capsys)
    assert code == 0 and "nnx" in out


def test_help_does_not_import_jax():
    import subprocess
    import sys

    code = "import sys; from nnx.cli import cli; sys.exit('jax' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_quickstart_trains_and_writes_a_complete_run_folder(tmp_path, capsys):
    code, out, err = run_cli(["train", EXPERIMENTS / "quickstart.yaml", "-o", tmp_path,
                              "--set", "training.epochs=3"], capsys)
    assert code == 0, err
    (run,) = run_folders(tmp_path)
    assert run.parent.name == "quickstart" and run.name.endswith("-default")
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["seed"] == 0 and config["training"]["epochs"] == 3 and config["model"]["type"] == "mlp"
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in lines] == [1, 2, 3]
    assert {"loss", "accuracy"} <= set(lines[0]["train"]) and {"loss", "accuracy"} <= set(lines[0]["validation"])
    summary = json.loads((run / "summary.json").read_text())
    for key in ("experiment", "run", "model", "params", "epochs", "seconds", "device", "seed", "test", "validation"):
        assert key in summary, key
    assert summary["params"] == 64 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10
    assert summary["epochs"] == 3 and 0.5 < summary["test"]["accuracy"] <= 1.0
    assert json.loads((run / "status.json").read_text())["status"] == "completed"
    assert "test error" in out and "default" in out


def test_checkpoint_loads_back_and_reproduces_test_accuracy(tmp_path, capsys):
    from nnx import data
    from nnx.train.checkpoint import load_model
    from nnx.train.loop import batch_for_eval

    path = write_experiment(tmp_path / "q.yaml", QUICK)
    assert run_cli(["train", path, "-o", tmp_path / "out", "-q"], capsys)[0] == 0
    (run,) = run_folders(tmp_path / "out")
    model, spec = load_model(run)
    dataset = data.load(spec.data, seed=spec.seed)
    test = batch_for_eval(dataset.x_test, dataset.y_test, 10_000)
    accuracy = float(np.mean(np.argmax(model(test.x[0], train=False), -1)[: test.n] == dataset.y_test))
    summary = json.loads((run / "summary.json").read_text())
    assert accuracy == pytest.approx(summary["test"]["accuracy"], abs=1e-6)


def test_same_seed_gives_identical_metrics(tmp_path, capsys):
    path = write_experiment(tmp_path / "q.yaml", QUICK)
    for out in ("a", "b"):
        assert run_cli(["train", path, "-o", tmp_path / out, "-q"], capsys)[0] == 0
    (a,), (b,) = run_folders(tmp_path / "a"), run_folders(tmp_path / "b")
    strip = lambda run: [{k: v for k, v in json.loads(line).items() if k != "seconds"}  # noqa: E731
                         for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert strip(a) == strip(b)
    assert json.loads((a / "summary.json").read_text())["test"] == json.loads((b / "summary.json").read_text())["test"]
    # ... and another seed gives other numbers.
    assert run_cli(["train", path, "-o", tmp_path / "c", "-q", "--seed", "1"], capsys)[0] == 0
    (c,) = run_folders(tmp_path / "c")
    assert strip(c) != strip(a)


@pytest.mark.parametrize("text, fragment", [
    (QUICK.replace("type: mlp", "type: mpl"), "'mpl' is not one of"),
    (QUICK.replace("name: digits", "name: digitz"), "did you mean 'digits'"),
    (QUICK + "extra_key: 1\n", "unknown key"),
    ("data: [", "malformed YAML"),
])
def test_user_errors_are_one_line_exit_2_and_leave_no_run_folder(tmp_path, capsys, text, fragment):
    path = write_experiment(tmp_path / "bad.yaml", text)
    code, out, err = run_cli(["train", path, "-o", tmp_path / "out"], capsys)
    assert code == 2
    assert fragment in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not run_folders(tmp_path / "out")


def test_missing_data_file_is_a_user_error_without_run_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NNX_DATA_DIR", raising=False)
    path = write_experiment(tmp_path / "m.yaml", QUICK.replace("name: digits", "name: mnist"))
    code, _, err = run_cli(["train", path, "-o", tmp_path / "out", "--data-dir", tmp_path / "nodata"], capsys)
    assert code == 2 and "mnist/train-images-idx3-ubyte.gz" in err and str(tmp_path / "nodata") in err
    assert "Traceback" not in err and not run_folders(tmp_path / "out")


def test_bad_option_is_a_usage_error(tmp_path, capsys):
    code, _, err = run_cli(["train", EXPERIMENTS / "quickstart.yaml", "--device", "abacus"], capsys)
    assert code == 2 and "abacus" in err


def test_device_gpu_without_a_gpu_is_one_line_saying_how_to_install_it(tmp_path, capsys):
    import jax

    if jax.default_backend() == "gpu":
        pytest.skip("JAX sees a GPU here")
    path = write_experiment(tmp_path / "q.yaml", QUICK)
    code, _, err = run_cli(["train", path, "-o", tmp_path / "out", "--device", "gpu"], capsys)
    assert code == 2 and "Traceback" not in err and not run_folders(tmp_path / "out")
    assert err.strip().splitlines() == [f"error: --device gpu: no GPU visible to JAX (it sees: {jax.default_backend()}); "
                                        'install JAX with GPU support (pip install -U "jax[cuda13]"; see the README) '
                                        "or use --device cpu"], err


def test_debug_shows_the_traceback(tmp_path):
    import subprocess
    import sys

    path = write_experiment(tmp_path / "bad.yaml", QUICK + "extra_key: 1\n")
    plain = subprocess.run([sys.executable, "-m", "nnx", "train", str(path)], capture_output=True, text=True)
    debug = subprocess.run([sys.executable, "-m", "nnx", "--debug", "train", str(path)], capture_output=True, text=True)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert "Traceback" in debug.stderr


def test_compilation_cache_folder_follows_the_environment(tmp_path):
    from nnx.cli import compilation_cache_dir

    assert compilation_cache_dir({"NNX_COMPILATION_CACHE": str(tmp_path / "cc")}) == str(tmp_path / "cc")
    for off in ("off", "0", "OFF", "no"):
        assert compilation_cache_dir({"NNX_COMPILATION_CACHE": off}) is None
    assert compilation_cache_dir({"JAX_COMPILATION_CACHE_DIR": "/elsewhere"}) is None  # JAX's own setting wins


def test_default_compilation_cache_is_beside_the_data_cache(tmp_path, monkeypatch):
    from nnx.cli import compilation_cache_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compilation_cache_dir({}) == str(tmp_path / "nnx" / "jax")


def test_a_cache_folder_that_cannot_be_made_is_skipped(tmp_path, monkeypatch):
    from nnx import cli

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("NNX_COMPILATION_CACHE", str(blocker / "jax"))
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    cli.use_compilation_cache()
    assert "JAX_COMPILATION_CACHE_DIR" not in __import__("os").environ


def test_a_second_run_reuses_the_compiled_programs(tmp_path):
    import os
    import subprocess
    import sys

    path = write_experiment(tmp_path / "quick.yaml", QUICK.replace("epochs: 2", "epochs: 1"))
    cache = tmp_path / "compiled"
    env = {**os.environ, "NNX_COMPILATION_CACHE": str(cache)}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env.pop("XLA_FLAGS", None)  # one CPU device, as a user's run
    run = lambda: subprocess.run([sys.executable, "-m", "nnx", "train", str(path), "-q", "-o", str(tmp_path / "out")],  # noqa: E731
                                 env=env, capture_output=True, text=True)
    first = run()
    assert first.returncode == 0, first.stderr
    entries = sorted(p.name for p in cache.iterdir())
    assert any("train_batches" in name for name in entries), entries
    env["JAX_LOG_COMPILES"] = "1"  # JAX then logs each persistent-cache hit as a warning
    second = run()
    assert second.returncode == 0, second.stderr
    assert "Persistent compilation cache hit for 'jit_train_batches'" in second.stderr, second.stderr[-2000:]


def test_a_model_its_data_cannot_take_stops_the_experiment_before_any_run(tmp_path, capsys):
    text = QUICK + ("variants:\n  ok:\n  bad: {model: {type: cnn, blocks: [{filters: 4}, {filters: 4}, "
                    "{filters: 4}, {filters: 4}, {filters: 4}]}}\n")
    code, _, err = run_cli(["train", write_experiment(tmp_path / "q.yaml", text), "-o", tmp_path / "out"], capsys)
    assert code == 2 and "variant bad: model.blocks" in err and "pool_size" in err, err
    assert not list((tmp_path / "out").rglob("status.json"))  # not even the good variant ran
