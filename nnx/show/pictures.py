"""Pictures of what a classifier gets wrong, drawn with matplotlib (imported only when asked for)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..compare.plot import save_figure
from ..errors import ConfigError
from .confusion import format_probability


def check_writable(path: str | Path) -> None:
    """Before any work (loading a data set for the mistakes): the picture's folder must exist."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"--plot {path}: is a folder; give a file name such as {path / 'confusion.png'}")
    if not path.parent.is_dir():
        raise ConfigError(f"--plot {path}: the folder {path.parent} does not exist; create it or choose another path")


def plot_confusion(record: dict, path: str | Path) -> Path:
    """The confusion matrix: counts in each cell, coloured by the share of the true class (row), so
    that the diagonal reads as per-class recall whatever the class sizes."""
    from matplotlib.figure import Figure

    matrix = np.asarray(record["confusion"])
    names = record["classes"]
    k = len(names)
    rows = np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    side = min(max(4.5, 0.55 * k + 2.0), 30.0)
    fig = Figure(figsize=(side + 1.2, side), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(matrix / rows, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the true class")
    if k <= 30:  # beyond that the numbers do not fit their cells
        for i in range(k):
            for j in range(k):
                if matrix[i, j]:
                    share = matrix[i, j] / rows[i, 0]
                    ax.text(j, i, f"{matrix[i, j]:,}", ha="center", va="center", fontsize=8 if k <= 12 else 6,
                            color="white" if share > 0.5 else "black")
    ticks = range(k) if k <= 50 else range(0, k, max(1, k // 25))
    ax.set_xticks(list(ticks), [names[i] for i in ticks], rotation=45 if max(map(len, names)) > 2 else 0,
                  ha="right" if max(map(len, names)) > 2 else "center")
    ax.set_yticks(list(ticks), [names[i] for i in ticks])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    correct = int(np.trace(matrix))
    ax.set_title(f"test split: {correct:,} of {int(matrix.sum()):,} correct "
                 f"({record['accuracy']:.2%})", fontsize="medium")
    return save_figure(fig, path)


def plot_mistakes(record: dict, images: np.ndarray, path: str | Path, count: int = 25) -> Path:
    """A grid of the most confidently wrong test images, each titled with its true and predicted
    classes and the probability the model gave its prediction."""
    from matplotlib.figure import Figure

    mistakes = record.get("mistakes", [])[:count]
    names = record["classes"]
    columns = max(1, min(5, len(mistakes)))
    rows = max(1, math.ceil(len(mistakes) / columns))
    fig = Figure(figsize=(2.1 * columns, 2.35 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    for ax in axes:
        ax.set_axis_off()
    if not mistakes:
        axes[0].text(0.5, 0.5, "no mistakes on the test split", ha="center", va="center", transform=axes[0].transAxes)
    for ax, m in zip(axes, mistakes):
        image = _displayable(images[m["index"]])
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(f"true {names[m['true']]}\npredicted {names[m['predicted']]} ({format_probability(m['probability'])})",
                     fontsize=8)
    fig.suptitle(f"the {len(mistakes)} most confidently wrong of {record['examples']:,} test images",
                 fontsize="medium")
    return save_figure(fig, path)


def _displayable(image: np.ndarray) -> np.ndarray:
    """An (H, W) or (H, W, 3) array in [0, 1]: grayscale squeezed; pixels outside [0, 1]
    (standardized inputs) rescaled to the image's own range."""
    image = np.asarray(image, np.float32)
    if image.shape[-1] == 1:
        image = image[..., 0]
    low, high = float(image.min()), float(image.max())
    if low < 0.0 or high > 1.0:
        image = (image - low) / (high - low) if high > low else np.zeros_like(image)
    return image
