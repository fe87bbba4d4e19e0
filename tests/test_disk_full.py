"""A full disk while saving a checkpoint: one line naming the epoch and the resume command, exit 1,
a readable run folder that resumes to the uninterrupted result, and no library logging on stderr."""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from nnx.errors import DiskFullError, RunError, is_disk_full
from nnx.train import checkpoint as ck

from .helpers import run_cli, run_folders, write_experiment

TINY = """
name: tiny
seed: 0
data: {name: digits, validation_split: 0.2}
model: {type: mlp, hidden: [128, 64], dropout: 0.1}
training: {epochs: 4, batch_size: 64, optimizer: {name: adam, learning_rate: 0.003},
           checkpoint_every_s: 0}  # a checkpoint every epoch: the disk fills at one of them
"""

NO_SPACE = "RESOURCE_EXHAUSTED: Error writing \"opt.0.count/0\" in OCDBT database at local file \"x\": " \
           "Failed to write 57800 bytes to file 4: No space left on device [os_error_code='28']"


def disk_full_line(err: str) -> str:
    """The one stderr line that reports the full disk (the reporter may prefix it: error:, failed:)."""
    lines = [line.strip() for line in err.splitlines() if "disk full" in line]
    assert len(lines) == 1, err
    return lines[0]


def metrics_without_time(run: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


def _state():
    rng = np.random.default_rng(0)
    return {"w": rng.random((8, 4), dtype=np.float32), "b": np.zeros(4, np.float32)}


# --------------------------------------------------------------------------------------------
# The checkpoint layer, without a full disk


def test_is_disk_full_reads_errno_and_tensorstore_messages():
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert is_disk_full(ValueError(NO_SPACE))
    wrapped = RuntimeError("save failed")
    wrapped.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    assert is_disk_full(wrapped)
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_disk_full(ValueError("RESOURCE_EXHAUSTED: Out of memory allocating 4 GiB"))


def test_a_failed_background_save_is_named_with_its_own_epoch(tmp_path, monkeypatch):
    run = tmp_path / "run"
    store = ck.TrainCheckpoints(run / "checkpoints")
    store.save(1, _state(), {"seconds": 0.0})
    store.save(2, _state(), {"seconds": 0.0})
    store.last.wait_until_finished()
    partial = run / "checkpoints" / "last" / "3.orbax-checkpoint-tmp"  # what a failed write leaves
    partial.mkdir()

    def fails():
        raise ValueError(NO_SPACE)

    monkeypatch.setattr(store.last, "wait_until_finished", fails)
    with pytest.raises(DiskFullError) as e:
        store.save(3, _state(), {"seconds": 0.0})  # epoch 2's save fails late
    assert str(e.value) == (f"disk full while saving the checkpoint of epoch 2 in {run}; "
                            f"free space, then nnx train --resume {run}")
    assert isinstance(e.value, RunError) and e.value.exit_code == 1
    assert not partial.exists() and (run / "checkpoints" / "last" / "2").is_dir()
    store.close()  # after a failure: nothing more to wait for, no second error


def test_a_failed_save_at_close_is_named_with_the_last_epoch(tmp_path, monkeypatch):
    store = ck.TrainCheckpoints(tmp_path / "run" / "checkpoints")
    store.save(1, _state(), {"seconds": 0.0}, best=(1, _state()))

    def fails():
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.best, "wait_until_finished", fails)
    with pytest.raises(DiskFullError, match="checkpoint of epoch 1 in .*--resume"):
        store.close()


def test_other_save_failures_are_not_called_a_full_disk(tmp_path, monkeypatch):
    store = ck.TrainCheckpoints(tmp_path / "run" / "checkpoints")

    def fails(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(store.last, "save", fails)
    with pytest.raises(PermissionError):
        store.save(1, _state(), {"seconds": 0.0})


def test_a_full_disk_while_saving_the_trained_model_names_the_run(tmp_path, monkeypatch):
    import orbax.checkpoint as ocp
    from flax import nnx

    def fails(self, directory, *args, **kwargs):
        Path(directory).parent.joinpath("model.orbax-checkpoint-tmp-1").mkdir(parents=True)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ocp.StandardCheckpointer, "save", fails)
    run = tmp_path / "run"
    with pytest.raises(DiskFullError) as e:
        ck.save_model(run / "checkpoint", nnx.Linear(2, 2, rngs=nnx.Rngs(0)))
    assert str(e.value) == f"disk full while saving the trained model in {run}; free space, then nnx train --resume {run}"
    assert list((run / "checkpoint").iterdir()) == []


def test_orbax_log_records_are_kept_off_the_terminal_and_others_are_not():
    ck._orbax()
    absl_logger = logging.getLogger("absl")

    def record(path):
        return logging.LogRecord("absl", logging.ERROR, path, 1, "failed", None, None)

    site = Path(ck.__file__).parents[2]
    assert not absl_logger.filter(record(str(site / "orbax" / "checkpoint" / "checkpoint_manager.py")))
    assert absl_logger.filter(record(str(site / "somelib" / "module.py")))
    assert logging.getLogger("nnx").isEnabledFor(logging.ERROR)


def test_only_the_closed_event_loop_noise_is_dropped_from_unraisable_exceptions():
    seen = []
    hook = ck._unraisable_hook(seen.append)

    def unraisable(e):
        try:
            raise e
        except BaseException as raised:
            return types.SimpleNamespace(exc_type=type(raised), exc_value=raised,
                                         exc_traceback=raised.__traceback__, err_msg=None, object=None)

    import asyncio

    loop = asyncio.new_event_loop()
    loop.close()
    try:
        loop.call_soon_threadsafe(print)
    except RuntimeError as e:
        closed = unraisable(e)
    hook(closed)
    other = unraisable(RuntimeError("Event loop is closed"))  # not raised by asyncio: kept
    hook(other)
    also = unraisable(ValueError("something else"))
    hook(also)
    assert seen == [other, also]
    assert ck._unraisable_hook(hook) is hook  # installed once


# --------------------------------------------------------------------------------------------
# Through the command line: Orbax's save raising ENOSPC (no mount needed)


def test_enospc_from_orbax_fails_the_run_in_one_line_and_resume_completes_it(tmp_path, capsys, monkeypatch):
    import orbax.checkpoint as ocp

    real_save = ocp.CheckpointManager.save

    def save(self, step, *args, **kwargs):
        if step == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, step, *args, **kwargs)

    monkeypatch.setattr(ocp.CheckpointManager, "save", save)
    exp = write_experiment(tmp_path / "tiny.yaml", TINY)
    code, _, err = run_cli(["train", exp, "-o", tmp_path / "out"], capsys)
    (run,) = run_folders(tmp_path / "out")
    assert code == 1, err
    line = disk_full_line(err)
    assert line.endswith(f"disk full while saving the checkpoint of epoch 3 in {run}; "
                         f"free space, then nnx train --resume {run}"), line
    assert "Traceback" not in err and "RESOURCE_EXHAUSTED" not in err and "Errno" not in err
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "failed" and status["reason"] == line[line.index("disk full"):]
    assert [p.name for p in (run / "checkpoints" / "last").iterdir()] == ["2"]

    monkeypatch.setattr(ocp.CheckpointManager, "save", real_save)  # space freed
    code, _, err = run_cli(["train", "--resume", run, "-q"], capsys)
    assert code == 0, err
    assert json.loads((run / "status.json").read_text())["status"] == "completed"
    assert [m["epoch"] for m in metrics_without_time(run)] == [1, 2, 3, 4]


# --------------------------------------------------------------------------------------------
# A real full disk: a small tmpfs (root and mount needed; skipped otherwise)


@pytest.fixture
def small_disk(tmp_path):
    """A 300 KiB tmpfs: room for the first checkpoints of TINY's model, not for a later one."""
    if os.geteuid() != 0 or not shutil.which("mount") or not sys.platform.startswith("linux"):
        pytest.skip("mounting a tmpfs needs root and mount")
    point = tmp_path / "disk"
    point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_a_full_disk_during_a_checkpoint_is_one_line_and_the_run_resumes(small_disk, tmp_path, capsys):
    exp = write_experiment(tmp_path / "tiny.yaml", TINY.replace("epochs: 4", "epochs: 6"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # A real process, so stderr is what a terminal shows (absl, C++ and Python's own output included).
    proc = subprocess.run([sys.executable, "-m", "nnx", "train", str(exp), "-o", str(small_disk)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    (run,) = run_folders(small_disk)
    line = disk_full_line(proc.stderr)
    match = re.search(r"disk full while saving the checkpoint of epoch (\d+) in (\S+); "
                      r"free space, then nnx train --resume (\S+)$", line)
    assert match and match[2] == match[3] == str(run), line
    assert "Traceback" not in proc.stderr and "RESOURCE_EXHAUSTED" not in proc.stderr
    assert "absl" not in proc.stderr and "orbax" not in proc.stderr.lower()
    # Besides the progress lines (the run's header, one per epoch), that line is all stderr holds.
    others = [text.strip() for text in proc.stderr.splitlines()
              if text.strip() and not re.match(r"\s*(epoch \d+/|\[1/1\]|failed$)", text)]
    assert others == [line], proc.stderr
    epoch = int(match[1])
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "failed" and status["reason"] == line[line.index("disk full"):]
    # The last good checkpoint is kept, the failed one's partial files are gone.
    assert [p.name for p in (run / "checkpoints" / "last").iterdir()] == [str(epoch - 1)]

    subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)  # space freed
    code, _, err = run_cli(["train", "--resume", run, "-q"], capsys)
    assert code == 0, err
    assert json.loads((run / "status.json").read_text())["status"] == "completed"
    assert run_cli(["train", exp, "-o", tmp_path / "whole", "-q"], capsys)[0] == 0
    (whole,) = run_folders(tmp_path / "whole")
    assert metrics_without_time(run) == metrics_without_time(whole)
    resumed, straight = (json.loads((r / "summary.json").read_text()) for r in (run, whole))
    assert resumed["test"] == straight["test"]


def test_an_orphaned_orbax_write_on_a_full_disk_is_kept_off_the_terminal():
    # Several of Orbax's concurrent array writes can fail on a full disk; the save's error carries
    # the first, and asyncio logs the others ("Task exception was never retrieved") with a bare
    # traceback when their tasks are collected. Seen once in a CI run of the tmpfs test above.
    import logging
    import sys

    from nnx.train import checkpoint

    checkpoint._orbax()  # installs the filters

    def raised_in(filename: str, message: str):
        namespace: dict = {}
        exec(compile(f"def write():\n    raise ValueError({message!r})\n", filename, "exec"), namespace)
        try:
            namespace["write"]()
        except ValueError:
            return sys.exc_info()

    def kept(exc_info) -> bool:
        record = logging.LogRecord("asyncio", logging.ERROR, "base_events.py", 1, "Task exception was never "
                                   "retrieved", (), exc_info)
        return logging.getLogger("asyncio").filter(record)

    full = "RESOURCE_EXHAUSTED: Failed writing: x: No space left on device"
    assert not kept(raised_in("/site-packages/orbax/checkpoint/_src/type_handlers.py", full))
    assert kept(raised_in("/site-packages/orbax/checkpoint/_src/type_handlers.py", "another failure"))
    assert kept(raised_in("/somewhere/else.py", full))  # not Orbax's: shown
