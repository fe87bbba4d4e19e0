"""Terminal output: one console, live progress on a terminal, plain lines elsewhere, nothing when quiet."""

from __future__ import annotations

import math
import statistics
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

# Progress and messages go to stderr so that stdout holds only results (tables, JSON).
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
out_console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)


def _headline(metrics: dict) -> str:
    parts = []
    for key in ("loss", "accuracy", "r2", "mae"):
        if key in metrics:
            parts.append(f"{key} {metrics[key]:.4f}")
    return "  ".join(parts)


class ConsoleReporter:
    """Rich progress bars on a terminal; one plain line per epoch otherwise; nothing when quiet."""

    def __init__(self, quiet: bool = False, console: Console | None = None):
        self.console = console or err_console
        self.quiet = quiet
        self.live = self.console.is_terminal and not quiet
        self.progress: Progress | None = None
        self.task = None
        self.index = self.total = 0

    def message(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text)

    def run_started(self, spec, index: int, total: int, folder: Path, params: int) -> None:
        self.index, self.total = index, total
        if self.quiet:
            return
        size = f", {params:,} parameters" if params else ""
        self.console.print(f"[bold][{index}/{total}][/bold] {spec.run_name}: {spec.model.type} on "
                           f"{spec.data.name}{size} -> {folder}")
        if self.live and getattr(spec.model, "type", None) and spec.training.epochs:
            self.progress = Progress(TextColumn("  epoch"), MofNCompleteColumn(), BarColumn(),
                                     TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                                     console=self.console, transient=False)
            self.progress.start()
            self.task = self.progress.add_task("epochs", total=spec.training.epochs, status="compiling...")

    def epoch_ended(self, spec, record) -> None:
        if self.quiet:
            return
        status = f"train {_headline(record.train)}"
        if record.validation:
            status += f" | val {_headline(record.validation)}"
        if self.progress is not None:
            self.progress.update(self.task, advance=1, status=status)
        else:
            self.console.print(f"  epoch {record.epoch}/{spec.training.epochs}  {status}  ({record.seconds:.2f}s)")

    def run_ended(self, outcome) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        if self.quiet and outcome.status == "completed":
            return
        if outcome.status == "completed":
            test = outcome.summary.get("test", {})
            self.console.print(f"  [green]done[/green] in {outcome.summary['seconds']:.1f}s: test {_headline(test)}")
            if outcome.summary.get("note"):
                self.console.print(f"  [yellow]note:[/yellow] {outcome.summary['note']}")
        else:
            self.console.print(f"  [red]{outcome.status}[/red]: {outcome.error}")


def _mean_sd(values: list[float]) -> str:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.2%}" if values[0] <= 1 else f"{values[0]:.4g}"
    return f"{statistics.mean(values):.2%} ± {statistics.stdev(values):.2%}"


def _mean_sd_plain(values: list[float]) -> str:
    """Like _mean_sd, for numbers that are not fractions (MAE, R²): 4 significant digits, no %."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{statistics.mean(values):.4g} ± {statistics.stdev(values):.2g}"


# The table's metric columns: (header, split, metric, formatter). Regression runs have no error
# rate; they show the mean absolute error and R² instead.
_ERROR_COLUMNS = [("test error", "test", "error", _mean_sd), ("validation error", "validation", "error", _mean_sd)]
_REGRESSION_COLUMNS = [("test MAE", "test", "mae", _mean_sd_plain), ("test R²", "test", "r2", _mean_sd_plain),
                       ("validation MAE", "validation", "mae", _mean_sd_plain)]


def outcomes_table(outcomes) -> Table:
    """The end-of-train table: one row per variant (mean ± sd over seeds)."""
    table = Table(title="runs", title_justify="left")
    tasks = {o.summary.get("task") for o in outcomes if o.summary}
    metrics = _REGRESSION_COLUMNS if tasks == {"regression"} else _ERROR_COLUMNS
    for column in ("run", "status", *(m[0] for m in metrics), "params", "epochs", "seconds"):
        table.add_column(column, justify="left" if column in ("run", "status") else "right")
    groups: dict[str, list] = {}
    for outcome in outcomes:
        groups.setdefault(outcome.spec.variant, []).append(outcome)
    for variant, group in groups.items():
        done = [o.summary for o in group if o.summary]
        statuses = sorted({o.status for o in group})
        name = variant if len(group) == 1 else f"{variant} (n={len(group)})"
        if not done:
            table.add_row(name, ", ".join(statuses), *["-"] * (len(metrics) + 3))
            continue
        cells = [fmt([s.get(split, {}).get(key) for s in done]) for _, split, key, fmt in metrics]
        table.add_row(name, ", ".join(statuses), *cells,
                      f"{done[0]['params']:,}", str(done[0]["epochs"]),
                      f"{statistics.mean(s['seconds'] for s in done):.1f}")
    return table


def print_error(message: str) -> None:
    err_console.print(f"[red]error:[/red] {message}", soft_wrap=True)


def is_terminal() -> bool:
    return sys.stderr.isatty()
