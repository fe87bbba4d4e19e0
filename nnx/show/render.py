"""`nnx show` as Rich renderables (for the terminal) and as one JSON document (for scripts)."""

from __future__ import annotations

from ..record.metrics import format_value
from . import RunView, confusion

MATRIX_TABLE_CLASSES = 20  # a wider matrix does not fit a terminal: the picture and the JSON have it all


def _escape(text) -> str:
    from rich.markup import escape

    return escape(str(text))


def basics(run: RunView):
    """Status, model, data, training and the headline metrics of the run, as a two-column grid."""
    from rich.table import Table

    s = run.summary
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("run", _escape(run.path))
    grid.add_row("status", _escape(run.status.get("status", "completed")))
    grid.add_row("model", _escape(f"{s.get('model')}, {s.get('params', 0):,} parameters" if s.get("params")
                                  else s.get("model")))
    data = s.get("data") if isinstance(s.get("data"), dict) else {}
    sizes = ", ".join(f"{data[k]:,} {k}" for k in ("train", "validation", "test") if isinstance(data.get(k), int))
    if data.get("name") or sizes:
        grid.add_row("data", _escape(f"{data.get('name', '?')} ({sizes}), {run.task}" if sizes else data.get("name")))
    training = _training(s)
    if training:
        grid.add_row("training", _escape(training))
    for split in ("test", "validation"):
        metrics = s.get(split)
        if isinstance(metrics, dict) and metrics:
            grid.add_row(split, _escape("  ".join(f"{k} {format_value(k, v)}" for k, v in metrics.items()
                                                  if isinstance(v, int | float))))
    if run.is_ensemble:
        grid.add_row("members", _escape(f"{len(s['members'])} runs (summary.json lists them)"))
    if isinstance(s.get("note"), str):
        grid.add_row("note", _escape(s["note"]))
    return grid


def _training(s: dict) -> str:
    parts = []
    if s.get("closed_form"):
        parts.append("closed form (no epochs)")
    elif isinstance(s.get("epochs"), int):
        parts.append(f"{s['epochs']} epochs")
        if isinstance(s.get("best_epoch"), int):
            parts.append(f"best epoch {s['best_epoch']}" + (", stopped early" if s.get("stopped_early") else ""))
    if isinstance(s.get("seconds"), int | float):
        parts.append(f"{s['seconds']:.1f} s" + (f" on {s['device']}" if s.get("device") else ""))
    return ", ".join(parts)


def per_class(record: dict):
    from rich.table import Table

    table = Table(title=f"per class, test split ({record['examples']:,} examples)", title_justify="left")
    for name, justify in (("class", "left"), ("precision", "right"), ("recall", "right"), ("F1", "right"),
                          ("support", "right")):
        table.add_column(name, justify=justify)
    for row in record["per_class"]:
        table.add_row(_escape(row["class"]), f"{row['precision']:.4f}", f"{row['recall']:.4f}", f"{row['f1']:.4f}",
                      f"{row['support']:,}")
    macro = record["macro"]
    table.add_section()
    table.add_row("macro mean", f"{macro['precision']:.4f}", f"{macro['recall']:.4f}", f"{macro['f1']:.4f}",
                  f"{record['examples']:,}", style="bold")
    return table


def matrix(record: dict):
    """The confusion matrix, true classes down, predicted across; the diagonal in bold."""
    from rich.table import Table

    names = record["classes"]
    table = Table(title="confusion matrix, test split: rows are the true class, columns the predicted",
                  title_justify="left")
    table.add_column("true \\ predicted", style="bold")
    for name in names:
        table.add_column(_escape(name), justify="right")
    table.add_column("total", justify="right", style="dim")
    for i, (name, counts) in enumerate(zip(names, record["confusion"])):
        cells = [f"[bold green]{c:,}[/bold green]" if i == j else (f"{c:,}" if c else "[dim]·[/dim]")
                 for j, c in enumerate(counts)]
        table.add_row(_escape(name), *cells, f"{sum(counts):,}")
    return table


def mistakes(record: dict, top: int):
    from rich.table import Table

    names = record["classes"]
    wrong = record["examples"] - sum(record["confusion"][i][i] for i in range(len(names)))
    shown = min(top, len(record["mistakes"]))
    table = Table(title=f"{shown} most confidently wrong (of {wrong:,} mistakes)",
                  title_justify="left")
    for name, justify in (("test index", "right"), ("true", "left"), ("predicted", "left"),
                          ("probability", "right"), ("p(true)", "right")):
        table.add_column(name, justify=justify)
    for m in record["mistakes"][:top]:
        table.add_row(str(m["index"]), _escape(names[m["true"]]), _escape(names[m["predicted"]]),
                      confusion.format_probability(m["probability"]),
                      confusion.format_probability(m["probability_true"]))
    return table


def renderables(run: RunView, top_mistakes: int = 10) -> list:
    """Everything `nnx show` prints, in order."""
    out = [basics(run)]
    record = run.classification
    if record is None:
        out.append(f"\n[dim]a confusion matrix applies to classifiers; this run is a {_escape(run.task)} run[/dim]")
        return out
    if run.computed_now:
        out.append(f"\n[dim]{confusion.FILE} is not in the run folder (trained before nnx recorded it): "
                   "computed now from the saved model and the test data[/dim]")
    recorded = (run.summary.get("test") or {}).get("accuracy")
    if isinstance(recorded, float) and abs(recorded - record["accuracy"]) > 0.5 / max(record["examples"], 1):
        out.append(f"[yellow]note:[/yellow] the matrix's accuracy {record['accuracy']:.4%} differs from the "
                   f"summary's {recorded:.4%}")
    if "roc_auc" in record:
        out.append(f"\nROC AUC (test): {record['roc_auc']:.4f}")
    out += ["", per_class(record)]
    if len(record["classes"]) <= MATRIX_TABLE_CLASSES:
        out += ["", matrix(record)]
    else:
        out.append(f"\n[dim]{len(record['classes'])} classes: the matrix is drawn by --plot confusion.png and "
                   "printed by --format json[/dim]")
    confused = confusion.most_confused(record)
    if confused:
        out.append("\nmost confused: " + _escape(", ".join(f"{t} as {p} ({n:,})" for t, p, n in confused)))
    if record["mistakes"] and top_mistakes:
        out += ["", mistakes(record, top_mistakes)]
    return out


def as_json(run: RunView) -> dict:
    return {"run": str(run.path), "status": run.status.get("status", "completed"), "summary": run.summary,
            "classification": run.classification, "computed_now": run.computed_now}
