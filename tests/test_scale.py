"""Scale without changing results: data parallel over 8 CPU devices, no recompiles across epochs."""

import logging

import jax
import numpy as np
import pytest
from flax import nnx

from nnx import data
from nnx.config import parse_experiment
from nnx.errors import ConfigError
from nnx.models import build
from nnx.train.loop import fit
from nnx.train.shuffle import _sort_on_device, _sort_on_host, permutation

SPEC = parse_experiment("""
data: {name: digits, validation_split: 0.2}
model: {type: mlp, hidden: [32], dropout: 0.2}
training: {epochs: 3, batch_size: 64, optimizer: adam}
""").runs[0]


def train(spec=SPEC, **kw):
    dataset = data.load(spec.data, seed=spec.seed)
    return fit(build(spec.model, dataset.info, nnx.Rngs(spec.seed)), dataset, spec, **kw)


def test_eight_devices_give_the_same_results_as_one():
    assert len(jax.devices()) >= 8, "conftest forces 8 CPU devices"
    one, eight = train(devices=1), train(devices=8)
    for a, b in zip(one.history, eight.history):
        np.testing.assert_allclose(a.train["loss"], b.train["loss"], rtol=1e-5)
        np.testing.assert_allclose(a.validation["loss"], b.validation["loss"], rtol=1e-5)
    np.testing.assert_allclose(one.test["loss"], eight.test["loss"], rtol=1e-5)
    assert one.test["accuracy"] == pytest.approx(eight.test["accuracy"], abs=1e-3)


def test_batch_that_does_not_split_over_devices_is_a_config_error():
    with pytest.raises(ConfigError, match="multiple of 3"):
        train(devices=3)
    with pytest.raises(ConfigError, match="use --devices 1 to 8, or all"):
        train(devices=99)


def test_devices_the_machine_lacks_are_a_usage_error_before_any_run_folder(tmp_path, capsys):
    from .helpers import QUICK, run_cli, write_experiment

    path = write_experiment(tmp_path / "quick.yaml", QUICK)
    cases = (([], "99", "use --devices 1 to 8"), ([], "3", "multiple of 3"),
             (["--set", "data.train_subset=3", "--set", "data.validation_split=0"], "2",
              "training.batch_size 64 is larger than the 3 training examples"),
             (["--set", "seeds=2", "--set", "training.parallel_seeds=true"], "2", "do not combine"))
    for overrides, devices, fragment in cases:
        code, _, err = run_cli(["train", path, "-o", tmp_path / "out", "--devices", devices, *overrides], capsys)
        assert code == 2 and fragment in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("status.json"))


def test_epochs_compile_once_even_with_a_partial_last_batch(caplog):
    # 1,150 training examples with batches of 64: the last batch of each epoch is partial.
    assert len(data.load(SPEC.data, seed=0).x_train) % 64 != 0
    spec = SPEC.model_copy(update={"training": SPEC.training.model_copy(update={"epochs": 4})})
    jax.config.update("jax_log_compiles", True)
    try:
        with caplog.at_level(logging.WARNING, logger="jax"):
            train(spec)
    finally:
        jax.config.update("jax_log_compiles", False)
    compiled = [r.getMessage() for r in caplog.records if "Compiling" in r.getMessage()]
    assert sum("train_batches" in m for m in compiled) == 1, compiled
    assert sum("epoch_keys" in m for m in compiled) == 1, compiled
    assert sum("order_by" in m for m in compiled) <= 1, compiled  # none if an earlier test compiled it
    # evaluate: one program for the validation split, one for the test split, none per epoch.
    assert sum("evaluate" in m for m in compiled) <= 2, compiled


def test_parallel_seeds_equal_sequential_seeds(tmp_path, capsys):
    import json

    from .helpers import run_cli, write_experiment

    text = """
name: seeds
seeds: 3
data: {name: digits}
model: {type: mlp, hidden: [32], dropout: 0.2}
training: {epochs: 3, batch_size: 64, optimizer: adam, parallel_seeds: %s}
"""
    for mode in ("true", "false"):
        path = write_experiment(tmp_path / f"{mode}.yaml", text % mode)
        assert run_cli(["train", path, "-o", tmp_path / mode, "-q"], capsys)[0] == 0

    def runs(mode):
        return sorted((tmp_path / mode / "seeds").iterdir(), key=lambda p: p.name.split("-seed")[-1])

    for together, alone in zip(runs("true"), runs("false"), strict=True):
        assert together.name.split("-", 2)[2] == alone.name.split("-", 2)[2]
        a, b = (json.loads((r / "summary.json").read_text()) for r in (together, alone))
        assert a["seed"] == b["seed"] and a.get("parallel_seeds") is True
        np.testing.assert_allclose(a["test"]["loss"], b["test"]["loss"], rtol=1e-4)
        np.testing.assert_allclose(a["validation"]["loss"], b["validation"]["loss"], rtol=1e-4)
        la, lb = ([json.loads(x)["train"]["loss"] for x in (r / "metrics.jsonl").read_text().splitlines()]
                  for r in (together, alone))
        np.testing.assert_allclose(la, lb, rtol=1e-4)
    # Different seeds really differ.
    losses = {json.loads((r / "summary.json").read_text())["test"]["loss"] for r in runs("true")}
    assert len(losses) == 3


def test_two_processes_over_loopback_agree_with_one(tmp_path, capsys):
    import json
    import os
    import socket
    import subprocess
    import sys

    from .helpers import run_cli, write_experiment

    exp = write_experiment(tmp_path / "d.yaml", "name: dist\ndata: {name: digits}\nmodel: {type: mlp, hidden: [32]}\n"
                                                "training: {epochs: 2, batch_size: 64, optimizer: adam}\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    for rank in range(2):
        env = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu", "NNX_COORDINATOR": f"127.0.0.1:{port}",
               "NNX_NUM_PROCESSES": "2", "NNX_PROCESS_ID": str(rank)}
        procs.append(subprocess.Popen([sys.executable, "-m", "nnx", "train", str(exp), "-o", str(tmp_path / "two"),
                                       "--devices", "all", "-q"], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    for proc in procs:
        try:
            _, err = proc.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise AssertionError("2-process run timed out: " + "\n---\n".join(p.communicate()[1][-1500:] for p in procs)) from None
        assert proc.returncode == 0, err[-2000:]
    (run,) = (tmp_path / "two" / "dist").iterdir()  # only process 0 writes a run folder
    assert run_cli(["train", exp, "-o", tmp_path / "one", "-q"], capsys)[0] == 0
    (single,) = (tmp_path / "one" / "dist").iterdir()
    two, one = (json.loads((r / "summary.json").read_text()) for r in (run, single))
    np.testing.assert_allclose(two["test"]["loss"], one["test"]["loss"], rtol=1e-5)
    np.testing.assert_allclose(two["validation"]["loss"], one["validation"]["loss"], rtol=1e-5)


@pytest.mark.parametrize("n", [1, 2, 3, 1000, 60_000])
def test_the_epoch_shuffle_is_jax_random_permutation_bit_for_bit(n):
    for seed in range(3):
        key = jax.random.key(seed)
        expected = np.asarray(jax.random.permutation(key, n))
        np.testing.assert_array_equal(jax.jit(permutation, static_argnums=1)(key, n), expected)


def test_the_epoch_shuffle_under_vmap_and_its_device_sort_agree_with_jax():
    keys = jax.random.split(jax.random.key(7), 3)
    expected = np.stack([jax.random.permutation(k, 5000) for k in keys])
    np.testing.assert_array_equal(jax.jit(jax.vmap(lambda k: permutation(k, 5000)))(keys), expected)
    # The sort XLA runs on GPU and TPU (the host's NumPy sort serves the CPU), checked here directly.
    round_keys = jax.random.bits(jax.random.key(1), (2, 5000), jax.numpy.uint32)
    np.testing.assert_array_equal(_sort_on_device(round_keys), _sort_on_host(round_keys))
