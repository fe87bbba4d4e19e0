"""`nnx compare`: run folders -> rows -> one row per variant over seeds -> a table, and curves.

One module per stage:

    find.py     find_runs(paths)        run folders from run folders, experiment folders and globs
                                        (no path: every experiment under outputs/)
    read.py     read_runs(folders)      one `Run` per folder, read tolerantly: problems are kept, never raised
    group.py    group_runs(runs)        one `Row` per variant and config over seeds (mean, sd, n);
                                        incomplete or damaged runs stay rows of their own
    table.py    compare(paths, ...)     the whole pipeline: a `Comparison` with sorted rows and chosen columns;
                                        headers and the text of each cell
    render.py   render_table / render_markdown / render_csv / to_json: the outputs
    plot.py     plot_curves: validation and train curves per epoch

Metrics come from `summary.json` (validation and test: those of the restored best epoch when early
stopping restored weights, else of the last epoch) and from `metrics.jsonl` (train metrics, curves,
and everything an incomplete run has). Nothing here imports JAX: comparing is instant.
"""

from __future__ import annotations

from .find import find_runs
from .group import Row, Stat, Varies, config_value, differing_keys, group_runs
from .plot import plot_curves
from .read import IDENTITY_KEYS, Run, read_one, read_runs
from .render import (
    FORMATS,
    render,
    render_csv,
    render_json,
    render_markdown,
    render_table,
    table_from_runs,
    to_json,
)
from .table import (
    DEFAULT_LEAVES,
    HEADERS,
    HIDDEN_LEAVES,
    PLAIN_COLUMNS,
    Comparison,
    cell,
    column_format,
    compare,
    expanded_columns,
    format_metric,
    format_stat,
    format_value,
    header,
    resolve_metric,
    short_headers,
)

__all__ = [
    "DEFAULT_LEAVES", "FORMATS", "HEADERS", "HIDDEN_LEAVES", "IDENTITY_KEYS", "PLAIN_COLUMNS",
    "Comparison", "Row", "Run", "Stat", "Varies",
    "cell", "column_format", "compare", "config_value", "differing_keys", "expanded_columns", "find_runs", "format_metric",
    "format_stat", "format_value", "group_runs", "header", "short_headers", "plot_curves", "read_one", "read_runs", "render",
    "render_csv", "render_json", "render_markdown", "render_table", "resolve_metric", "table_from_runs",
    "to_json",
]
