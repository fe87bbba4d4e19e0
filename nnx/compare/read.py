"""Reading one run: what its folder says, read tolerantly; problems are kept, never raised."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ..record import read_run, run_state
from ..record.metrics import best_epoch, flatten

TASK_LOG = "task.log"  # nnx.launch.task.LOG (nnx.launch imports submitit; compare does not)

# Keys of config.yaml that name a run rather than describe it: never a "what differs" column.
IDENTITY_KEYS = {"experiment", "variant", "seed"}


@dataclass
class Run:
    """What one run folder says, read tolerantly: missing parts are None, problems are listed."""

    path: Path
    experiment: str | None = None
    variant: str | None = None
    seed: int | None = None
    status: str = "incomplete"
    reason: str | None = None
    task: str | None = None
    model: str | None = None
    device: str | None = None
    params: int | None = None
    epochs: int | None = None
    best_epoch: int | None = None
    metrics_epoch: int | None = None       # the epoch the train/validation metrics are taken from
    at_best: bool = False                  # metrics are those of early stopping's best epoch
    seconds: float | None = None
    closed_form: bool = False              # fitted without a training loop (summary.json says so)
    metrics: dict[str, float] = field(default_factory=dict)   # "test.accuracy" -> value
    config: dict[str, Any] | None = None   # flattened config.yaml, without experiment/variant/seed
    curves: list[dict] = field(default_factory=list)          # the records of metrics.jsonl
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def clean(self) -> bool:
        return self.status == "completed" and not self.problems

    def reads(self, key: str) -> bool:
        """Whether this run's model reads the flattened config key (the model interface's rule,
        from what its folder says: its `model:` fields and whether it was fitted in closed form)."""
        from ..models.base import reads

        return reads(key, network=not self.closed_form, model_fields=self._model_fields)

    @cached_property
    def _model_fields(self) -> frozenset[str]:
        return frozenset(k.split(".", 2)[1] for k in self.config or {} if k.startswith("model."))


def read_runs(folders: Iterable[str | Path]) -> list[Run]:
    return [read_one(folder) for folder in folders]


def read_one(folder: str | Path) -> Run:
    record = read_run(folder)
    run = Run(Path(folder), problems=list(record.problems))
    summary = _mapping(record.summary, "summary.json", run.problems)
    config = _mapping(record.config, "config.yaml", run.problems)
    status = _mapping(record.status, "status.json", run.problems)
    run.curves = [m for m in record.metrics if isinstance(m, dict) and _is_int(m.get("epoch"))]
    if len(run.curves) < len(record.metrics):
        run.problems.append("metrics.jsonl: records without an epoch number")
    if config is not None:
        run.config = {k: v for k, v in flatten(config).items() if k not in IDENTITY_KEYS}
    run.status = run_state(status, summary)
    if status and run.status != "completed" and isinstance(status.get("reason"), str):
        run.reason = status["reason"]
    if run.status == "crashed":
        run.reason = f"its process ({status['pid']}) is gone; resume with: nnx train --resume {folder}"
    if run.status in ("failed", "crashed") and (Path(folder) / TASK_LOG).is_file():
        # A launcher's task (--jobs, SLURM) keeps its output there: the traceback, SLURM's own lines.
        run.reason = f"{run.reason or run.status}; log: {Path(folder) / TASK_LOG}"
    if not (record.summary is not None or record.config is not None or record.metrics):
        run.problems.append("no summary.json, config.yaml or metrics.jsonl")

    def pick(key, kind, *sources):
        for source in sources:
            value = source.get(key) if isinstance(source, dict) else None
            if value is not None:
                if isinstance(value, kind) and not isinstance(value, bool):
                    return value
                kind_name = {int: "an integer", str: "text"}[kind]
                run.problems.append(f"{'summary.json' if source is summary else 'config.yaml'}: "
                                    f"{key} is not {kind_name}")
        return None

    run.experiment = pick("experiment", str, summary, config)
    run.variant = pick("variant", str, summary, config)
    run.seed = pick("seed", int, summary, config)
    run.model = pick("model", str, summary) or _model_type(config)
    run.device = pick("device", str, summary)
    run.task = pick("task", str, summary)
    run.params = pick("params", int, summary)
    if summary is not None:
        _from_summary(run, summary, config)
    else:
        _from_curves(run, config)
    if run.task is None:
        run.task = _guess_task(run.metrics)
    return run


def _from_summary(run: Run, summary: dict, config: dict | None) -> None:
    """A finished run: validation and test metrics as summary.json reports them."""
    epochs, best, seconds = summary.get("epochs"), summary.get("best_epoch"), summary.get("seconds")
    run.epochs = epochs if _is_int(epochs) else len(run.curves) or None
    run.best_epoch = best if _is_int(best) else None
    run.seconds = float(seconds) if _is_number(seconds) else None
    run.closed_form = summary.get("closed_form") is True
    restored = _early_stopping(config).get("restore_best", True) is not False
    run.at_best = run.best_epoch is not None and restored
    if run.best_epoch is not None and not restored:
        run.problems.append("early stopping kept the last weights (restore_best: false): "
                            "metrics are of the last epoch")
    run.metrics_epoch = run.best_epoch if run.at_best else (run.epochs or None)
    for split in ("validation", "test"):
        _add_metrics(run, split, summary.get(split), "summary.json")
    record = _curve_at(run.curves, run.metrics_epoch)
    if record is not None:
        _add_metrics(run, "train", record.get("train"), "metrics.jsonl")


def _from_curves(run: Run, config: dict | None) -> None:
    """An unfinished run: what metrics.jsonl has, at the epoch early stopping would choose so far."""
    if not run.curves:
        return
    run.epochs = len(run.curves)
    run.seconds = sum(float(c["seconds"]) for c in run.curves if _is_number(c.get("seconds")))
    record = run.curves[-1]
    stopping = _early_stopping(config)
    if stopping and stopping.get("restore_best", True) is not False:
        best = best_epoch(run.curves, stopping.get("monitor") or "validation.loss", stopping.get("mode", "auto"),
                          _number(stopping.get("min_delta")))
        if best is not None:
            record, run.best_epoch, run.at_best = best, best["epoch"], True
    run.metrics_epoch = record["epoch"]
    for split in ("train", "validation"):
        _add_metrics(run, split, record.get(split), "metrics.jsonl")


def _add_metrics(run: Run, split: str, metrics: Any, source: str) -> None:
    if metrics is None:
        return
    if not isinstance(metrics, dict):
        run.problems.append(f"{source}: {split} is not a mapping of metrics")
        return
    for leaf, value in metrics.items():
        if _is_number(value):
            run.metrics[f"{split}.{leaf}"] = float(value)
        else:
            run.problems.append(f"{source}: {split}.{leaf} is not a number")
    if f"{split}.accuracy" in run.metrics and f"{split}.error" not in run.metrics:
        run.metrics[f"{split}.error"] = 1.0 - run.metrics[f"{split}.accuracy"]


def _mapping(value: Any, name: str, problems: list[str]) -> dict | None:
    if value is None or isinstance(value, dict):
        return value
    problems.append(f"{name}: not a mapping")
    return None


def _early_stopping(config: dict | None) -> dict:
    training = (config or {}).get("training")
    stopping = training.get("early_stopping") if isinstance(training, dict) else None
    return stopping if isinstance(stopping, dict) else {}


def _model_type(config: dict | None) -> str | None:
    model = (config or {}).get("model")
    kind = model.get("type") if isinstance(model, dict) else None
    return kind if isinstance(kind, str) else None


def _curve_at(curves: list[dict], epoch: int | None) -> dict | None:
    if epoch is None:
        return None
    return next((c for c in curves if c["epoch"] == epoch), None)


def _guess_task(metrics: dict[str, float]) -> str | None:
    leaves = {k.rsplit(".", 1)[-1] for k in metrics}
    if "accuracy" in leaves or "error" in leaves:
        return "classification"
    if "r2" in leaves or "mse" in leaves:
        return "regression"
    return None


def _number(value: Any) -> float:
    return float(value) if _is_number(value) else 0.0


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
