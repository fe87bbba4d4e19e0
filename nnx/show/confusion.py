"""What a classifier gets wrong on its test split: the confusion matrix, per-class precision,
recall and F1, ROC AUC for binary tasks, and its most confidently wrong examples.

Computed once when a run (or an ensemble) ends, from the model's own outputs on the test split,
and kept in the run folder as classification.json (small: counts and a few dozen mistakes, never
the outputs). The numbers are those the run's summary reports: predictions are the argmax of the
logits (a positive logit for binary tasks), as nnx.train.tasks scores them. No JAX here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

FILE = "classification.json"
CLASSIFIER_TASKS = ("classification", "binary")
KEPT_MISTAKES = 64  # enough for a grid of mistakes; the file stays a few kilobytes


def is_classifier(task: str | None) -> bool:
    return task in CLASSIFIER_TASKS


def probabilities(task: str, outputs: np.ndarray) -> np.ndarray:
    """(n, classes) probabilities from the outputs the task's loss reads: softmax of logits, or
    the sigmoid of one binary logit as [1 - p, p]."""
    z = np.asarray(outputs, np.float64)
    if task == "binary":
        p = 1.0 / (1.0 + np.exp(-z[..., 0]))
        return np.stack([1.0 - p, p], axis=-1)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def predicted_labels(task: str, outputs: np.ndarray) -> np.ndarray:
    """The labels nnx.train.tasks counts as the prediction (so accuracy agrees with the summary)."""
    outputs = np.asarray(outputs)
    if task == "binary":
        return (outputs[..., 0] > 0).astype(np.int64)
    return np.argmax(outputs, axis=-1).astype(np.int64)


def class_names(classes: Sequence | None, count: int) -> list[str]:
    """The data set's class names (Dataset.meta['classes']), else the labels 0..count-1 as text."""
    if classes is not None and len(classes) == count:
        return [str(c) for c in classes]
    return [str(i) for i in range(count)]


def report(task: str, outputs: np.ndarray, targets: np.ndarray, classes: Sequence | None = None,
           num_classes: int | None = None, kept_mistakes: int = KEPT_MISTAKES) -> dict:
    """The classification record of one split, as plain JSON data."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    from ..train.tasks import roc_auc

    y = np.asarray(targets).astype(np.int64).ravel()
    count = 2 if task == "binary" else int(num_classes or np.asarray(outputs).shape[-1])
    labels = list(range(count))
    predicted = predicted_labels(task, outputs)
    matrix = confusion_matrix(y, predicted, labels=labels)
    precision, recall, f1, support = precision_recall_fscore_support(y, predicted, labels=labels,
                                                                     zero_division=0)
    names = class_names(classes, count)
    record = {
        "split": "test",
        "task": task,
        "examples": int(len(y)),
        "classes": names,
        "accuracy": float(np.trace(matrix) / max(len(y), 1)),
        "confusion": matrix.tolist(),  # rows: true class, columns: predicted class
        "per_class": [{"class": n, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                      for n, p, r, f, s in zip(names, precision, recall, f1, support)],
        "macro": {"precision": float(precision.mean()), "recall": float(recall.mean()), "f1": float(f1.mean())},
    }
    if task == "binary":
        record["roc_auc"] = roc_auc(np.asarray(outputs)[..., 0], y)
    record["mistakes"] = confident_mistakes(task, outputs, y, kept_mistakes)
    return record


def confident_mistakes(task: str, outputs: np.ndarray, targets: np.ndarray, keep: int) -> list[dict]:
    """The `keep` wrong test examples the model was surest of, surest first: their index in the
    test split, the true and predicted labels, and the probability given to the prediction."""
    probs = probabilities(task, outputs)
    predicted = predicted_labels(task, outputs)
    y = np.asarray(targets).astype(np.int64).ravel()
    wrong = np.flatnonzero(predicted != y)
    # Surest first; among predictions equally sure (a probability of 1.0 in float64), the ones
    # that gave the true class least.
    order = wrong[np.lexsort((probs[wrong, y[wrong]], -probs[wrong, predicted[wrong]]))][:keep]
    return [{"index": int(i), "true": int(y[i]), "predicted": int(predicted[i]),
             "probability": float(probs[i, predicted[i]]), "probability_true": float(probs[i, y[i]])}
            for i in order]


def format_probability(p: float) -> str:
    """A probability as a percentage that never rounds a near-certainty to a flat 100% or 0%."""
    if 0.9995 <= p < 1.0:
        return ">99.9%"
    if 0.0 < p < 0.0005:
        return "<0.1%"
    return f"{p:.1%}"


def most_confused(record: dict, top: int = 5) -> list[tuple[str, str, int]]:
    """The largest off-diagonal cells: (true class, predicted class, count), largest first."""
    matrix = np.asarray(record["confusion"])
    names = record["classes"]
    cells = [(int(matrix[i, j]), i, j) for i in range(len(names)) for j in range(len(names))
             if i != j and matrix[i, j] > 0]
    cells.sort(key=lambda c: (-c[0], c[1], c[2]))
    return [(names[i], names[j], n) for n, i, j in cells[:top]]


def for_dataset(outputs: np.ndarray, dataset) -> dict | None:
    """The record of a model's test outputs on `dataset`; None for regression or without a test split."""
    info = dataset.info
    if not is_classifier(info.task) or len(dataset.y_test) == 0:
        return None
    return report(info.task, outputs, dataset.y_test, dataset.meta.get("classes"), info.num_classes)


def write(run_dir: Path, record: dict | None) -> None:
    """classification.json, atomically (readers see the whole file or none)."""
    from ..record.folder import write_json

    if record is not None:
        write_json(Path(run_dir) / FILE, record)


def record_run(run_dir: Path, model, dataset) -> None:
    """At the end of a run, before its summary: the trained model's test-split record, for classifiers."""
    if is_classifier(dataset.info.task) and len(dataset.x_test):
        write(run_dir, for_dataset(model.predict(dataset.x_test), dataset))
