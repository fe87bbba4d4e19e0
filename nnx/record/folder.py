"""The run folder: a record that a crash or Ctrl-C never leaves unreadable.

    outputs/<experiment>/<YYYYmmdd-HHMMSS>-<run>/
        config.yaml     the resolved config, written first
        status.json     queued | running (with pid, host) | completed | failed | interrupted (and why),
                        replaced atomically; a running one whose process is gone reads `crashed`
        metrics.jsonl   one JSON object per epoch, appended and flushed as each epoch ends
        summary.json    final metrics, written atomically at the end
        preprocessing.json  what a new input goes through to look like the training data
                        (written with config.yaml; nnx predict applies it)
        classification.json   classifiers: the test split's confusion matrix, per-class precision,
                        recall, F1 and most confident mistakes (nnx.show.confusion), just before summary.json
        checkpoint/     the trained parameters (Orbax)
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError

# queued: made by a launcher (--jobs, --launcher slurm, --continue) and waiting for its process or task.
STATUSES = ("queued", "running", "completed", "failed", "interrupted")


def write_atomic(path: Path, text: str) -> None:
    """Write a file so that readers see the old content or the new, never a part."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n")


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def safe_name(text: str) -> str:
    # `=` and `,` are safe in file names everywhere, and keep a sweep's run names readable.
    return "".join(c if c.isalnum() or c in "-_.=," else "_" for c in text) or "run"


def ensure_writable(output_dir: Path, experiment: str | None = None) -> None:
    """Fail before any work if the output folder cannot be created or written, or if the
    experiment's folder in it is taken by a file. Nothing is created: a run that never starts
    (a missing data file, a bad config) leaves no empty folder behind."""
    existing = Path(output_dir)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"--output-dir {output_dir}: {existing} is a file, not a folder; choose another folder")
    try:  # os.access says yes to root everywhere; a folder made and removed at once is the real test
        os.rmdir(tempfile.mkdtemp(dir=existing, prefix=".nnx-write-test-"))
    except OSError as e:
        raise ConfigError(f"--output-dir {output_dir}: cannot write in {existing} ({e.strerror}); "
                          "choose a folder you can write to") from None
    target = Path(output_dir) / safe_name(experiment) if experiment else None
    if target is not None and target.exists() and not target.is_dir():
        raise ConfigError(f"--output-dir {output_dir}: {target} is a file, where the experiment's folder goes; "
                          "move it or choose another folder")


class RunFolder:
    """Writes one run's folder."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def create(cls, output_dir: Path, experiment: str, run: str) -> RunFolder:
        """A new, unique folder: names sort by time, and two runs started in the same second
        (two terminals) each get their own folder, since mkdir is atomic."""
        parent = Path(output_dir) / safe_name(experiment)
        parent.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for attempt in range(1, 1000):
            suffix = "" if attempt == 1 else f"-{attempt}"
            path = parent / f"{stamp}-{safe_name(run)}{suffix}"
            try:
                path.mkdir()
                return cls(path)
            except FileExistsError:
                continue
        raise OSError(f"could not create a unique run folder under {parent}")

    def write_config(self, config_yaml: str) -> None:
        write_atomic(self.path / "config.yaml", config_yaml)

    def set_status(self, status: str, **details) -> None:
        assert status in STATUSES, status
        if status == "running":  # who runs it: a reader can tell a run in progress from a killed one
            details = {"pid": os.getpid(), "host": socket.gethostname(), **details}
        write_json(self.path / "status.json", {"status": status, "updated": _now(), **details})

    def append_metrics(self, record: dict) -> None:
        with open(self.path / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record, default=_jsonable) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def write_summary(self, summary: dict) -> None:
        write_json(self.path / "summary.json", summary)

    def write_preprocessing(self, record: dict) -> None:
        """What `nnx predict` applies to new inputs (nnx/data/preprocessing.py)."""
        write_json(self.path / "preprocessing.json", record)

    def has_preprocessing(self) -> bool:
        return (self.path / "preprocessing.json").is_file()

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / "checkpoint"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


# --------------------------------------------------------------------------------------------
# Reading


@dataclass
class RunRecord:
    """What a run folder holds, read tolerantly: problems are collected, never raised."""

    path: Path
    config: dict | None = None
    summary: dict | None = None
    status: dict | None = None
    metrics: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        return run_state(self.status, self.summary)


def run_state(status: Any, summary: Any) -> str:
    """completed | running | failed | interrupted | crashed | incomplete, from status.json and summary.json.

    `crashed`: the status says running, but the process that wrote it is gone from this host
    (killed, or the machine went down); such a run resumes like an interrupted one.
    """
    state = status.get("status") if isinstance(status, dict) else None
    if state == "running" and summary is not None:
        return "completed"  # the summary is written before the status: a crash in between
    if state == "running" and _process_gone(status):
        return "crashed"
    if state in STATUSES:
        return state
    return "completed" if summary is not None else "incomplete"


def _process_gone(status: dict) -> bool:
    pid, host = status.get("pid"), status.get("host")
    if not isinstance(pid, int) or host != socket.gethostname():
        return False  # another machine's run, or an older folder: cannot tell, so still running
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. another user's process: it exists
        return False
    return False


def is_run_folder(path: Path) -> bool:
    return path.is_dir() and any((path / name).exists() for name in ("config.yaml", "summary.json", "status.json"))


def read_run(path: str | Path) -> RunRecord:
    import yaml

    path = Path(path)
    record = RunRecord(path)
    for name, attr in (("summary.json", "summary"), ("status.json", "status")):
        file = path / name
        if file.exists():
            try:
                setattr(record, attr, json.loads(file.read_text(encoding="utf-8")))
            except (OSError, ValueError, UnicodeDecodeError) as e:
                record.problems.append(f"{name}: unreadable ({type(e).__name__})")
    config = path / "config.yaml"
    if config.exists():
        try:
            record.config = yaml.safe_load(config.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as e:
            record.problems.append(f"config.yaml: unreadable ({type(e).__name__})")
    metrics = path / "metrics.jsonl"
    if metrics.exists():
        try:
            lines = metrics.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            lines = []
            record.problems.append(f"metrics.jsonl: unreadable ({type(e).__name__})")
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record.metrics.append(json.loads(line))
            except ValueError:
                # A torn last line is what a kill mid-write leaves; anything else is corruption.
                record.problems.append(f"metrics.jsonl:{i}: unreadable line")
    return record
