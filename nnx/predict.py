"""Use a trained run: predict new images, table rows or reviews, or its own test split.

    from nnx.predict import predict
    p = predict("outputs/mnist_mlp/2026...-default", ["digit.png"])
    p.top(3)          # [[("7", 0.98), ("1", 0.01), ("9", 0.004)]]
    p = predict(run, split="test")
    p.metrics == p.recorded   # the run's own test split scores what its summary.json says

A run is opened by `open_run` (its model behind the one `Model` interface, its preprocessing
record, its data on demand): the place to start for anything that uses a trained run (the
confusion matrix, `nnx show`). New inputs go through the run's `preprocessing.json`
(nnx/data/preprocessing.py), written at training time; a folder from before that file has its
record rebuilt from the data section of its config.yaml, by the same code that wrote it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ConfigError, DataError

SPLITS = {"test": "test", "val": "validation", "validation": "validation", "train": "train"}
SPLIT_NAMES = ("test", "val", "train")


# --------------------------------------------------------------------------------------------
# A run and its data


@dataclass
class OpenRun:
    """A completed run folder (or an ensemble's), ready to predict."""

    path: Path
    spec: object            # the RunSpec (an ensemble's: its first member's)
    summary: object         # record.Summary
    task: object            # train.tasks.Task
    data_dir: object = None
    ensemble: bool = False
    notes: list[str] = field(default_factory=list)
    _model: object = None
    _dataset: object = None
    _record: dict | None = None

    @property
    def classes(self) -> list[str] | None:
        return self.record.get("classes") if self.task.name != "regression" else None

    @property
    def dataset(self):
        """The run's data set, loaded as it was for training (the same splits)."""
        if self._dataset is None:
            from .models import load_run_dataset

            where = self._member_paths()[0] if self.ensemble else self.path  # an ensemble: its members' data
            self._dataset = load_run_dataset(where, self.data_dir)
        return self._dataset

    @property
    def model(self):
        """The trained model (`nnx.models.load_run`)."""
        if self._model is None:
            from .models import load_run

            closed_form = not self.ensemble and not _is_network(self.spec)
            try:
                self._model = load_run(self.path, self.data_dir, dataset=self.dataset if closed_form else None)
            except (ConfigError, DataError):
                raise
            except Exception as e:  # a damaged or partial checkpoint: Orbax's own errors say little to a user
                raise ConfigError(f"{self.path}: its saved model could not be read ({type(e).__name__}); "
                                  "train the run again") from e
            if closed_form:
                self.notes.append(f"{self.spec.model.type} keeps no weights: fitted again on the run's training "
                                  "data (deterministic, the same model)")
        return self._model

    @property
    def record(self) -> dict:
        """The preprocessing a new input goes through (preprocessing.json, or rebuilt)."""
        if self._record is None:
            self._record = self._read_record()
        return self._record

    def _read_record(self) -> dict:
        from .data.preprocessing import RECORD_FILE, read_record, record

        for folder in (self.path, *self._member_paths()):
            if (folder / RECORD_FILE).is_file():
                return read_record(folder)
        rebuilt = record(self.spec.data, self.dataset)
        if rebuilt is None:
            raise ConfigError(f"{self.path}: no {RECORD_FILE}, and the {self.spec.data.name} data set has no "
                              "preprocessing to rebuild it from; train the run again with this nnx")
        self.notes.append(f"no {RECORD_FILE} (a folder from an older nnx): the preprocessing was rebuilt from "
                          "the data section of its config.yaml")
        return rebuilt

    def _member_paths(self) -> list[Path]:
        return [Path(m["run"]) for m in self.summary.members or [] if isinstance(m, dict) and "run" in m]

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of the run's test, validation ('val') or training split."""
        which = SPLITS.get(name)
        if which is None:
            raise ConfigError(f"--split {name}: not a split; use one of {', '.join(SPLIT_NAMES)}")
        if self.ensemble and which == "train":
            raise ConfigError("--split train: an ensemble's members trained on different examples (each seed's "
                              "own validation split); use --split test")
        if self.ensemble and which == "validation" and not self.summary.validation:
            raise ConfigError("--split val: this ensemble's members were validated on different examples (each "
                              "seed's own random split), so it has no validation score; use --split test")
        d = self.dataset
        x, y = {"test": (d.x_test, d.y_test), "validation": (d.x_val, d.y_val), "train": (d.x_train, d.y_train)}[which]
        if len(x) == 0:
            raise ConfigError(f"--split {name}: the run has no {which} examples (data.validation_split: 0?)")
        return x, y

    def recorded(self, name: str) -> dict[str, float]:
        """The metrics the run recorded for a split (summary.json); none for the training split."""
        which = SPLITS.get(name)
        return dict({"test": self.summary.test, "validation": self.summary.validation}.get(which) or {})


def _is_network(spec) -> bool:
    from . import models

    return models.family(spec.model).network


def open_run(run_dir, data_dir=None) -> OpenRun:
    """A completed run folder, checked: a clear ConfigError for anything else."""
    import yaml

    from .config import load_run_config
    from .record import Summary, is_run_folder, read_run
    from .train import tasks

    path = Path(run_dir)
    if not path.exists():
        raise ConfigError(f"{path}: no such run folder; give a folder under outputs/<experiment>/")
    if not path.is_dir() or not is_run_folder(path):
        raise ConfigError(f"{path}: not a run folder (no config.yaml or summary.json); give a folder under "
                          "outputs/<experiment>/, e.g. outputs/mnist_mlp/20260101-120000-default")
    run = read_run(path)
    if run.problems:
        raise ConfigError(f"{path}: {run.problems[0]}; train the run again")
    if run.state != "completed":
        raise ConfigError(f"{path}: the run is {run.state}, not completed; it has no trained model to predict with"
                          + (f" (finish it: nnx train --resume {path})" if run.state in ("interrupted", "crashed")
                             else ""))
    try:
        summary = Summary.from_json(run.summary)
    except ValueError as e:
        raise ConfigError(f"{path}: {e}; train the run again") from None
    ensemble = isinstance(run.config, dict) and "ensemble" in run.config
    if ensemble:
        members = [Path(m["run"]) for m in summary.members or [] if isinstance(m, dict) and "run" in m]
        if not members or not (members[0] / "config.yaml").is_file():
            raise ConfigError(f"{path}: an ensemble whose member runs are gone ({members[0] if members else 'none listed'});"
                              " it predicts with its members' saved models")
        spec = load_run_config(members[0] / "config.yaml")
    else:
        try:
            spec = load_run_config(path / "config.yaml")
        except ConfigError as e:
            raise ConfigError(f"{path}: its config.yaml no longer reads as a run config ({e}); train it again") from None
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"{path}: config.yaml unreadable ({type(e).__name__}); train the run again") from None
        if _is_network(spec) and not (path / "checkpoint").is_dir():
            raise ConfigError(f"{path}: no saved model (checkpoint/ is missing); train the run again")
    task_name = summary.task or (summary.data_info or {}).get("task")
    if task_name not in tasks.TASKS:
        raise ConfigError(f"{path}: summary.json says no task; train the run again")
    task = tasks.task_for(task_name, spec.training.loss)
    return OpenRun(path, spec, summary, task, data_dir, ensemble)


# --------------------------------------------------------------------------------------------
# Predictions


@dataclass
class Prediction:
    """What a run predicts for some inputs: the raw outputs and what they mean."""

    run: Path
    task: str
    classes: list[str] | None
    names: list[str]                    # each input: a file, "rows.csv row 3", "test[17]"
    outputs: np.ndarray                 # the model's outputs (logits, a binary logit, a value)
    labels: np.ndarray | None = None    # true labels or values (a split, or a table with the target)
    split: str | None = None
    metrics: dict[str, float] | None = None   # scored now on the split
    recorded: dict[str, float] | None = None  # what the run's summary.json says for that split
    notes: list[str] = field(default_factory=list)

    @property
    def probabilities(self) -> np.ndarray | None:
        """Class probabilities (n, K); for a binary task the positive class's (n,); None for a regression."""
        z = np.asarray(self.outputs, np.float64)
        if self.task == "classification":
            e = np.exp(z - z.max(axis=-1, keepdims=True))
            return e / e.sum(axis=-1, keepdims=True)
        if self.task == "binary":
            return 1.0 / (1.0 + np.exp(-z[:, 0]))
        return None

    @property
    def predicted(self) -> np.ndarray:
        """The predicted class index (as the accuracy counts it), or the regression value."""
        if self.task == "classification":
            return np.argmax(self.outputs, axis=-1)
        if self.task == "binary":
            return (self.outputs[:, 0] > 0).astype(np.int64)
        return np.asarray(self.outputs[:, 0], np.float64)

    def class_name(self, index: int) -> str:
        return self.classes[index] if self.classes and index < len(self.classes) else str(index)

    def top(self, k: int = 3) -> list[list[tuple[str, float]]]:
        """Per input, the k most probable classes with their probabilities (a classifier)."""
        p = self.probabilities
        if self.task != "classification":
            raise ValueError("top-k classes are a classifier's; a binary task has one probability")
        order = np.argsort(-p, axis=-1, kind="stable")[:, :k]
        return [[(self.class_name(int(c)), float(p[i, c])) for c in row] for i, row in enumerate(order)]

    def rows(self, k: int = 3) -> list[dict]:
        """One plain dict per input (the CSV and JSON output)."""
        out = []
        predicted = self.predicted
        if self.task == "classification":
            for name, top in zip(self.names, self.top(k)):
                row = {"input": name, "prediction": top[0][0], "probability": top[0][1]}
                for rank, (c, p) in enumerate(top[1:], 2):
                    row[f"top{rank}"], row[f"probability{rank}"] = c, p
                out.append(row)
        elif self.task == "binary":
            positive = self.class_name(1)
            for name, c, p in zip(self.names, predicted, self.probabilities):
                out.append({"input": name, "prediction": self.class_name(int(c)), f"p({positive})": float(p)})
        else:
            out = [{"input": name, "value": float(v)} for name, v in zip(self.names, predicted)]
        if self.labels is not None:
            for row, y in zip(out, self.labels):
                row["true"] = float(y) if self.task == "regression" else self.class_name(int(y))
        return out


def predict(run, inputs=(), texts=(), split: str | None = None, data_dir=None) -> Prediction:
    """Predict with a run folder (a path or an `OpenRun`): image files or folders, table files
    (CSV, TSV, Parquet) or text files (one review per line) in `inputs`, reviews in `texts`, or
    the run's own `split` ('test', 'val', 'train'), which is also scored against the targets."""
    opened = run if isinstance(run, OpenRun) else open_run(run, data_dir)
    inputs, texts = [Path(p) for p in inputs], list(texts)
    if split is not None and (inputs or texts):
        raise ConfigError("--split predicts the run's own examples; give it without INPUTS or --text")
    if split is None and not inputs and not texts:
        raise ConfigError(f"nothing to predict: give {_what_inputs(opened.record)}, or --split test for the run's "
                          "own test split")
    if split is not None:
        x, y = opened.split(split)
        names = [f"{split}[{i}]" for i in range(len(x))]
        notes = []
    else:
        x, names, y, notes = read_inputs(opened.record, inputs, texts)
        _check_shape(opened, x)
    outputs = np.asarray(opened.model.predict(x))
    prediction = Prediction(opened.path, opened.task.name, opened.classes, names, outputs, y, split,
                            notes=[*opened.notes, *notes])
    if split is not None:
        from .train.tasks import score

        prediction.metrics = score(opened.task, outputs, y)
        prediction.recorded = opened.recorded(split)
    return prediction


def _check_shape(opened: OpenRun, x: np.ndarray) -> None:
    """Inputs the model cannot take are a bug of the record, not of the user: say so plainly."""
    expected = tuple(opened.record.get("input_shape") or ())
    widened = opened.record.get("representation") == "bow"  # a bag of words' width is padding (transform_text)
    if expected and tuple(x.shape[1:]) != expected and not widened:
        raise DataError(f"{opened.path}: the inputs came out {tuple(x.shape[1:])}, the model takes {expected}; "
                        "its preprocessing.json does not match its model (train the run again)")


# --------------------------------------------------------------------------------------------
# Reading inputs by the record's kind


def _what_inputs(rec: dict) -> str:
    return {"image": "image files or folders (PNG, JPEG, BMP, GIF, WebP)",
            "table": "a CSV, TSV or Parquet file of rows with the training columns",
            "features": "a CSV, TSV or Parquet file of rows with the training columns",
            "text": "--text \"a review\" or a text file, one review per line",
            "series": "--split (a time series predicts each day from the days before it)"}[rec["kind"]]


def read_inputs(rec: dict, inputs: list[Path], texts: list[str]):
    """(x, names, labels or None, notes) of new inputs by a preprocessing record."""
    kind = rec["kind"]
    if kind == "series":
        raise ConfigError(f"a {rec['data']} run predicts each day from the days before it, built from its own data "
                          "file; use --split test, val or train")
    text_table = kind == "table" and rec.get("text")
    if texts and kind != "text" and not text_table:
        raise ConfigError(f"--text: this run was trained on {rec['data']} data ({kind}), not text; give "
                          f"{_what_inputs(rec)}")
    for path in inputs:
        if not path.exists():
            raise DataError(f"{path}: no such file or folder")
    if kind == "image":
        return _images(rec, inputs)
    if kind == "text":
        return _texts(rec, inputs, texts)
    return _tables(rec, inputs, texts)


def image_files(inputs: list[Path]) -> list[Path]:
    """The image files of `inputs`: files as given, and each folder's files (those of its
    subfolders too: a folder of class folders), hidden ones left out."""
    files = []
    for path in inputs:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file()
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not found:
                raise DataError(f"{path}: a folder without files; give image files or a folder of them")
            files += found
        else:
            files.append(path)
    return files


def predict_pretrained(arch: str, inputs, weights="imagenet", *, class_names=None, resize: str = "stretch",
                       batch_size: int = 32, data_dir=None, pretrained=None) -> Prediction:
    """A pretrained ImageNet network's answers for image files or folders (`nnx predict --model
    ARCH --weights imagenet|FILE.h5`): each image decoded as RGB, resized to the network's input
    by `resize` and preprocessed as Keras does for that family (see
    `nnx.models.applications.pretrained`)."""
    from flax import nnx

    from .models.applications.pretrained import _decode, load_pretrained

    files = image_files([Path(p) for p in inputs])
    if not files:
        raise ConfigError(f"--model {arch}: give image files or folders to classify")
    net = pretrained or load_pretrained(arch, weights, True, class_names=class_names, data_dir=data_dir)
    height, width, _ = net.input_shape
    forward = nnx.jit(lambda m, x: m(x, train=False))
    outputs = []
    for start in range(0, len(files), batch_size):
        pixels = np.stack([_decode(str(f), (height, width), resize) for f in files[start:start + batch_size]])
        outputs.append(np.asarray(forward(net.module, net.preprocess(pixels.astype(np.float32)))))
    source = f"{net.arch} ({weights if weights == 'imagenet' else Path(weights).name} weights)"
    note = f"images resized to {height}x{width} ({resize}) and preprocessed as Keras' {net.arch}"
    return Prediction(Path(source), "classification", net.class_names, [str(f) for f in files],
                      np.concatenate(outputs), notes=[note])


def _images(rec: dict, inputs: list[Path]):
    from .data.preprocessing import image_array

    files = image_files(inputs)
    arrays, notes = [], []
    for file in files:
        pixels, note = image_array(file, rec, str(file))
        arrays.append(pixels)
        if note:
            notes.append(note)
    return np.stack(arrays), [str(f) for f in files], None, notes


def _texts(rec: dict, inputs: list[Path], texts: list[str]):
    from .data.preprocessing import text_array

    names, reviews = [], []
    for path in inputs:
        lines = _lines(path)
        text_array(rec, lines, str(path))  # the file's own checks: an empty line named by its line number
        names += [f"{path} line {i + 1}" for i in range(len(lines))]
        reviews += lines
    if texts:
        text_array(rec, texts, "--text")
        names += [_short(t) for t in texts]
        reviews += texts
    return text_array(rec, reviews, "--text"), names, None, []


def _lines(path: Path) -> list[str]:
    if path.is_dir():
        raise DataError(f"{path}: a folder; give a text file with one review per line")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text; give a text file with one review per line") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():  # a final newline or blank lines at the end are not reviews
        lines.pop()
    if not lines:
        raise DataError(f"{path}: empty; give one review per line")
    return lines


def _short(text: str, width: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _tables(rec: dict, inputs: list[Path], texts: list[str]):
    from .data.preprocessing import table_array
    from .data.table import file_format, read_table, transform_target

    blocks, names, labels = [], [], []
    target = rec.get("target")
    for path in inputs:
        if rec.get("text") and not path.is_dir() and file_format(path) is None:  # reviews, one a line
            from .data.preprocessing import text_array

            lines = _lines(path)
            blocks.append(text_array(rec, lines, str(path)))
            names += [f"{path} line {i + 1}" for i in range(len(lines))]
            labels.append(None)
            continue
        if path.is_dir() or file_format(path) is None:
            raise DataError(f"{path}: not a .csv, .tsv or .parquet file; this run predicts rows of a table with "
                            "its training columns")
        frame = read_table(path)
        blocks.append(table_array(rec, frame, str(path)))
        names += [f"{path.name} row {i + 1}" for i in range(len(frame))]
        if rec["kind"] == "table" and target in frame.columns and frame[target].notna().all():
            labels.append(transform_target(rec["task"], rec["classes"], frame[target], path))
        else:
            labels.append(None)
    if texts:
        from .data.preprocessing import text_array

        blocks.append(text_array(rec, texts, "--text"))
        names += [_short(t) for t in texts]
        labels.append(None)
    x = np.concatenate(blocks)
    y = np.concatenate(labels) if labels and all(lab is not None for lab in labels) else None
    return x, names, y, []


# --------------------------------------------------------------------------------------------
# Output


def to_json(prediction: Prediction, k: int = 3) -> str:
    body = {"run": str(prediction.run), "task": prediction.task, "classes": prediction.classes,
            "split": prediction.split, "metrics": prediction.metrics, "recorded": prediction.recorded,
            "notes": prediction.notes, "predictions": prediction.rows(k)}
    return json.dumps({k_: v for k_, v in body.items() if v is not None}, indent=2) + "\n"


def to_csv(prediction: Prediction, k: int = 3) -> str:
    import csv
    import io

    rows = prediction.rows(k)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["input"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
