"""Formats: a Rich table, markdown, csv and json, and the table `nnx train` prints at the end."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..record.metrics import SPLITS
from .group import Row, Stat
from .table import PLAIN_COLUMNS, Comparison, cell, compare, expanded_columns, header, short_headers

FORMATS = ("table", "markdown", "csv", "json")


def render_table(c: Comparison, title: str | None = None, width: int | None = None):
    """A Rich table; the best value of the sort metric in bold green. What is wrong with a run is
    listed under the table (the notes), not in a column, so that the table stays narrow. With
    `width` (and columns not chosen with --columns), the table is made to fit that many
    characters: one column per differing config key when they fit, else one wrapped "what
    differs" column, then leaving out seconds, device, ... (named under the table)."""
    columns = [col for col in expanded_columns(c) if col != "notes"]
    combine, hidden, differs_width = False, [], DIFFERS_WIDTH
    if width is not None and not c.custom_columns:
        columns, combine, hidden = _fit(c, columns, width)
        if combine:  # the wrapped column takes what the others leave
            differs_width += max(0, width - _width(c, columns, combine, {}))
    return _table(c, columns, combine, hidden, title, width, differs_width)


# Left out first, in this order, when the default table is too wide (then metrics other than the
# sort metric, validation's before test's, then params and epochs).
DROPPED_FIRST = ("device", "seconds", "best_epoch")
DIFFERS_WIDTH = 36  # the wrapped "what differs" column


def _fit(c: Comparison, columns: list[str], width: int) -> tuple[list[str], bool, list[str]]:
    """The columns that fit `width`: one per differing key, or one wrapped "what differs" column,
    whichever leaves out fewer of the others (one per key on a tie), leaving them out in order."""
    keys = [col for col in columns if col in c.differs]
    combined = ["differs" if col == keys[0] else col for col in columns if col not in keys[1:]] if keys else None
    keep = {c.metric, *(x for m in (c.metric, c.best_by) if m for x in (m, _other_split(m)))}
    metrics = [col for col in columns if col in c.metrics and col not in keep]
    validation = [col for col in metrics if col.startswith("validation.")]
    test = [col for col in metrics if col not in validation]
    order = [*DROPPED_FIRST, *reversed(validation), *reversed(test), "params", "epochs"]
    best, widths = None, {}
    for start, combine in ((columns, False), (combined, True)):
        if start is None:
            continue
        shown = start
        for name in [None, *order]:
            shown = [col for col in shown if col != name]
            if _width(c, shown, combine, widths) <= width:
                break
        hidden = [col for col in columns if col not in shown and col not in keys]
        if best is None or len(hidden) < len(best[2]):
            best = (shown, combine, hidden)
    return best


def _other_split(metric: str) -> str:
    split, _, leaf = metric.partition(".")
    return f"{'test' if split == 'validation' else 'validation'}.{leaf}"


def _width(c: Comparison, columns: list[str], combine: bool, widths: dict[str, int]) -> int:
    """The width of the table `_table` draws, unsqueezed: each column as wide as its widest cell
    or header (the wrapped column at most DIFFERS_WIDTH), one space either side, and a rule
    between columns and at both edges. Counted from the cells' text (`widths` caches a column's),
    not by laying the table out: a sweep of a thousand rows is measured many times over."""
    from rich.cells import cell_len

    names = short_headers(columns, c.differs)
    total = len(columns) + 1
    for col in columns:
        name = names.get(col, header(col))
        if col == "differs" and combine:
            natural = max([len(name), *(cell_len(_differs_cell(c, row, names)) for row in c.rows)])
            total += 2 + max(min(12, len(name)), min(natural, DIFFERS_WIDTH))
            continue
        if col not in widths:  # the cells' widest; the header's may change with the other columns
            widths[col] = max([0, *(cell_len(cell(row, col, c)) for row in c.rows)])
        total += 2 + max(widths[col], cell_len(name))
    return total


def _table(c: Comparison, columns: list[str], combine: bool, hidden: list[str], title: str | None,
           width: int | None, differs_width: int = DIFFERS_WIDTH):
    from rich.table import Table

    names = short_headers(columns, c.differs)
    notes = [f"{row.name}: {note}" for row in c.rows for note in row.notes] if "notes" in c.columns else []
    if hidden:
        shown = "; ".join(_hidden_text(c, col) for col in hidden)
        notes.append(f"not shown, to fit {width} columns: {shown}. --wide shows every column, --columns picks.")
    table = Table(title=_escape(f"{title or f'{len(c.runs)} run(s)'}: {c.note}"), title_justify="left",
                  caption=_escape("\n".join(notes)) if notes else None, caption_justify="left")
    for col in columns:
        right = _is_numeric_column(col)
        folds = col in c.differs or col not in (*PLAIN_COLUMNS, *c.metrics)
        name = names.get(col, header(col))
        table.add_column(name, justify="right" if right else "left", overflow="fold", no_wrap=not folds,
                         max_width=differs_width if col == "differs" and combine else None,
                         min_width=min(12, len(name)) if folds else None)
    best = c.best
    for row in c.rows:
        cells = []
        for col in columns:
            text = _escape(_differs_cell(c, row, names) if col == "differs" and combine else cell(row, col, c))
            if row is best and col == c.metric:
                text = f"[bold green]{text}[/bold green]"
            cells.append(text)
        table.add_row(*cells, style="dim" if row.status != "completed" else None)
    return table


def _differs_cell(c: Comparison, row: Row, names: dict[str, str]) -> str:
    """The differing config keys this row's model reads, as key=value (the one-column form); an
    unset (null) one is left out."""
    texts = ((names.get(k, k), cell(row, k, c)) for k in c.differs if row.reads(k))
    return ", ".join(f"{name}={text}" for name, text in texts if text != "-")


def _hidden_text(c: Comparison, column: str) -> str:
    values = {cell(row, column, c) for row in c.rows}
    return f"{header(column)} ({values.pop()} in every row)" if len(values) == 1 else header(column)


def _is_numeric_column(col: str) -> bool:
    return col in ("n", "params", "epochs", "best_epoch", "seconds") or col.split(".", 1)[0] in SPLITS


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def render_markdown(c: Comparison) -> str:
    """A GitHub table that pastes into a README as is; the best value of the sort metric in bold."""
    columns = expanded_columns(c)
    names = short_headers(columns, c.differs)
    best = c.best
    right = [_is_numeric_column(col) for col in columns]
    lines = [f"{c.note[0].upper()}{c.note[1:]}", "",
             "| " + " | ".join(_md(names.get(col, header(col))) for col in columns) + " |",
             "|" + "|".join("---:" if r else "---" for r in right) + "|"]
    for row in c.rows:
        cells = []
        for col in columns:
            text = _md(cell(row, col, c))
            if row is best and col == c.metric and text != "-":
                text = f"**{text}**"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_json(c: Comparison) -> list[dict[str, Any]]:
    """One object per row: `run` (one run) or `variant` and `runs` (several seeds), `n`, `params`,
    and every flattened metric (`test.accuracy`, ...), a number, or {mean, sd, n} when n > 1."""
    out = []
    for row in c.rows:
        first = row.first
        obj: dict[str, Any] = {"name": row.name}
        if row.n == 1:
            obj["run"] = first.name
            obj["variant"] = first.variant
        else:
            obj["variant"] = first.variant
            obj["runs"] = [r.name for r in row.runs]
        obj.update(experiment=first.experiment, n=row.n, status=row.status,
                   **({"seeds": [r.seed for r in row.runs]} if row.n > 1 else {"seed": first.seed}),
                   model=row.value("model"), task=row.value("task"), params=row.value("params"),
                   epochs=row.value("epochs"), best_epoch=row.value("best_epoch"),
                   metrics_at=["best" if r.at_best else "last" for r in row.runs] if row.n > 1
                   else ("best" if first.at_best else "last"),
                   device=row.value("device"))
        obj["seconds"] = _stat_json(row.seconds, row.n)
        obj["differs"] = {k: row.value(k) for k in c.differs if row.reads(k)}
        if c.best_by:
            obj["chosen"] = c.is_chosen(row)
        for key in c.metrics:
            stat = row.metric(key)
            if stat is not None:
                obj[key] = _stat_json(stat, row.n)
        obj["problems"] = row.notes
        obj["paths"] = [str(r.path) for r in row.runs]
        out.append(obj)
    return out


def _stat_json(stat: Stat | None, n: int):
    if stat is None:
        return None
    if n == 1:
        return stat.mean
    return {"mean": stat.mean, "sd": stat.sd, "n": stat.n}


def render_json(c: Comparison) -> str:
    return json.dumps(to_json(c), indent=2) + "\n"


def render_csv(c: Comparison, columns: Sequence[str] | None = None) -> str:
    """Full-precision values for scripts: every metric (with `.sd` when some row averages seeds),
    or the columns asked for."""
    any_group = any(row.n > 1 for row in c.rows)
    if columns is None:
        base = ["run", "experiment", "variant", "n", "status", "seeds", "model", "task", "params", "epochs",
                "best_epoch", "seconds", "device"]
        columns = base + (["chosen"] if c.best_by else []) + [k for k in c.differs] + list(c.metrics) + ["notes"]
    header_row, getters = [], []
    for col in columns:
        header_row.append(col)
        getters.append(col)
        if any_group and (col in c.metrics or col == "seconds"):
            header_row.append(f"{col}.sd")
            getters.append((col, "sd"))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header_row)
    for row in c.rows:
        writer.writerow([_csv_value(row, g, c) for g in getters])
    return buffer.getvalue()


def _csv_value(row: Row, getter, c: Comparison) -> Any:
    if isinstance(getter, tuple):
        stat = row.seconds if getter[0] == "seconds" else row.metric(getter[0])
        return "" if stat is None or stat.sd is None else repr(stat.sd)
    col = getter
    if col in c.metrics:
        stat = row.metric(col)
        return "" if stat is None else repr(stat.mean)
    if col == "seconds":
        stat = row.seconds
        return "" if stat is None else repr(stat.mean)
    if col == "run":
        return row.name
    if col in ("experiment", "variant"):
        return _plain(row.value(col))
    if col == "seeds":
        return ";".join("" if r.seed is None else str(r.seed) for r in row.runs)
    if col == "chosen":
        return "true" if c.is_chosen(row) else "false"
    if col in ("n", "status", "notes"):
        return cell(row, col, c)
    if row.first.config is not None and not row.reads(col):
        return ""
    return _plain(row.value(col))


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def render(c: Comparison, fmt: str) -> str:
    """markdown, csv or json as text (the table is a Rich object: see render_table)."""
    if fmt == "markdown":
        return render_markdown(c)
    if fmt == "csv":
        return render_csv(c, expanded_columns(c) if c.custom_columns else None)
    if fmt == "json":
        return render_json(c)
    raise ConfigError(f"--format {fmt}: choose one of {', '.join(FORMATS)}")


def table_from_runs(paths: Iterable[str | Path], metric: str | None = None, title: str | None = None,
                    width: int | None = None):
    """The Rich table of these run folders (what `nnx train` can print at the end): one row per
    variant (mean ± sd over seeds), failed runs with their reason under the table; fitted to
    `width` characters when given."""
    paths = [str(p) for p in paths if p is not None]
    if not paths:
        from rich.table import Table

        return Table(title=title or "no run folder was written", title_justify="left")
    c = compare(paths, metrics=[metric] if metric else ())
    return render_table(c, title=title, width=width)
