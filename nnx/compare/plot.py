"""Curves: validation and train metrics per epoch from metrics.jsonl, drawn with matplotlib (imported
only when a plot is asked for)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError
from ..record.metrics import metric
from .read import _is_number
from .table import Comparison


def plot_curves(c: Comparison, path: str | Path, metrics: Sequence[str] | None = None) -> Path:
    """Validation (solid) and train (dashed) curves against epochs from metrics.jsonl: one panel per
    metric, one colour per row (its seeds share it), a dot at the epoch the table reports; rows
    without curves (closed-form baselines) as labelled dotted horizontal lines."""
    from matplotlib.figure import Figure

    path = Path(path)
    leaves = list(dict.fromkeys(m.rsplit(".", 1)[-1] for m in (metrics or [c.metric])))
    fig = Figure(figsize=(6.0 * len(leaves), 4.2), layout="constrained")
    axes = fig.subplots(1, len(leaves), squeeze=False)[0]
    colors = [f"C{i}" for i in range(10)]
    for ax, leaf in zip(axes, leaves, strict=True):
        drawn = False
        for i, row in enumerate(c.rows):
            color = colors[i % len(colors)]
            label = row.name if row.n == 1 else f"{row.name} (n={row.n})"
            labelled = False  # one legend entry per row: its validation curve, or its train curve without one
            for run in row.runs:
                for split, style in (("validation", "-"), ("train", "--")):
                    xs, ys = _series(run.curves, split, leaf)
                    if not xs:
                        continue
                    ax.plot(xs, ys, style, color=color, linewidth=1.4 if split == "validation" else 1.0,
                            label=None if labelled else label)
                    labelled = drawn = True
                    if split == "validation" and run.metrics_epoch in xs:
                        k = xs.index(run.metrics_epoch)
                        ax.plot([xs[k]], [ys[k]], "o", color=color, markersize=4)
        baselines = _baselines(ax, c, leaf, colors)
        drawn |= baselines
        ax.set_xlabel("epoch")
        ax.set_ylabel(leaf)
        if metric(leaf) is not None and metric(leaf).percent:
            from matplotlib.ticker import PercentFormatter

            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_title(f"{leaf}: validation (solid), train (dashed)" + (", closed form (dotted)" if baselines else ""),
                     fontsize="medium")
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(fontsize="small")
        else:
            ax.text(0.5, 0.5, f"no per-epoch {leaf} in metrics.jsonl", ha="center", va="center",
                    transform=ax.transAxes)
    return save_figure(fig, path)


def save_figure(fig, path: str | Path) -> Path:
    """Write a figure for `--plot PATH` (compare's curves, show's pictures); a path that cannot be
    written is one line."""
    path = Path(path)
    try:
        fig.savefig(path, dpi=110)
    except (OSError, ValueError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e).split("\n")[0]
        raise ConfigError(f"--plot {path}: cannot write it ({reason}); choose a .png path in a "
                          "folder you can write to") from None
    return path


def _baselines(ax, c: Comparison, leaf: str, colors: list[str]) -> bool:
    """Rows without curves (closed-form fits: OLS, the lasso, LDA) as dotted horizontal lines at
    their final value: validation where they have one (as the solid curves), else test; labelled."""
    drawn = False
    for i, row in enumerate(c.rows):
        if any(_series(run.curves, split, leaf)[0] for run in row.runs for split in ("validation", "train")):
            continue
        split = next((s for s in ("validation", "test") if row.metric(f"{s}.{leaf}") is not None), None)
        if split is None:
            continue
        value = row.metric(f"{split}.{leaf}").mean
        color = colors[i % len(colors)]
        label = f"{row.name} ({'closed form' if row.first.closed_form else 'no curve'}, {split})"
        ax.axhline(value, linestyle=":", color=color, linewidth=1.4, label=label)
        ax.annotate(row.name, (1.0, value), xycoords=("axes fraction", "data"), xytext=(-4, 3),
                    textcoords="offset points", ha="right", fontsize="small", color=color)
        drawn = True
    return drawn


def _series(curves: list[dict], split: str, leaf: str) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for record in curves:
        metrics = record.get(split)
        value = metrics.get(leaf) if isinstance(metrics, dict) else None
        if value is None and leaf == "error" and isinstance(metrics, dict) and _is_number(metrics.get("accuracy")):
            value = 1.0 - metrics["accuracy"]
        if _is_number(value):
            xs.append(record["epoch"])
            ys.append(float(value))
    return xs, ys
