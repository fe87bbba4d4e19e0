"""Terminal output: one console, live progress on a terminal, plain lines elsewhere, nothing when quiet."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

# Progress and messages go to stderr so that stdout holds only results (tables, JSON).
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
out_console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)


def _headline(metrics: dict) -> str:
    """The registry's headline metrics (nnx.record.metrics), in the order the task reports them."""
    from .record.metrics import METRICS

    return "  ".join(f"{key} {value:.4f}" for key, value in metrics.items()
                     if key in METRICS and METRICS[key].headline)


class ConsoleReporter:
    """Rich progress bars on a terminal; one plain line per epoch otherwise; nothing when quiet.

    Several runs can be in flight at once (parallel seeds): each has its own bar, and plain epoch
    lines then name their run.
    """

    def __init__(self, quiet: bool = False, console: Console | None = None):
        self.console = console or err_console
        self.quiet = quiet
        self.live = self.console.is_terminal and not quiet
        self.progress: Progress | None = None
        self.bars: dict[str, object] = {}     # run name -> its progress task
        self.in_flight: set[str] = set()
        self.epoch_started: dict[str, float] = {}  # run name -> when its current epoch began
        self.epochs_shown: dict[str, int] = {}     # run name -> epochs ended in this session

    @property
    def shows_steps(self) -> bool:
        """Whether progress inside an epoch is wanted (`steps_done`): on a terminal only."""
        return self.live

    def message(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text)

    def run_started(self, spec, index: int, total: int, folder: Path, params: int, epochs: int = 0) -> None:
        self.in_flight.add(spec.run_name)
        if self.quiet:
            return
        size = f", {params:,} parameters" if params else ""
        self.console.print(f"[bold][{index}/{total}][/bold] {spec.run_name}: {spec.model.type} on "
                           f"{spec.data.name}{size} -> {folder}")
        if self.live and epochs:  # closed-form models have no epochs, and so no bar
            if self.progress is None:
                self.progress = Progress(TextColumn("  {task.description}"), MofNCompleteColumn(), BarColumn(),
                                         TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                                         console=self.console, transient=False)
                self.progress.start()
            label = f"{spec.run_name} epoch" if getattr(spec.training, "parallel_seeds", False) else "epoch"
            self.bars[spec.run_name] = self.progress.add_task(label, total=epochs,
                                                              status="compiling...")

    def steps_done(self, spec, epoch: int, done: int, total: int) -> None:
        """Inside an epoch run as several calls: once it has run for more than 2 s, the bar advances
        by the steps done, with examples per second and the epoch's time left (Rich redraws the bar
        10 times a second on its own thread; this only sets numbers)."""
        bar = self.bars.get(spec.run_name)
        if bar is None:
            return
        now = time.perf_counter()
        started = self.epoch_started.setdefault(spec.run_name, now)
        elapsed = now - started
        if elapsed < 2.0 or done == 0:
            return
        rate = done / elapsed
        examples = rate * spec.training.batch_size
        self.progress.update(bar, completed=self.epochs_shown.get(spec.run_name, 0) + done / total,
                             status=f"epoch {epoch}: step {done}/{total}, {examples:,.0f} examples/s, "
                                    f"{(total - done) / rate:.0f}s left")

    def epoch_ended(self, spec, record) -> None:
        if self.quiet:
            return
        status = f"train {_headline(record.train)}"
        if record.validation:
            status += f" | val {_headline(record.validation)}"
        # The next epoch's clock starts now (the first one's at its first finished step: after compiling).
        self.epoch_started[spec.run_name] = time.perf_counter()
        if spec.run_name in self.bars:
            self.epochs_shown[spec.run_name] = self.epochs_shown.get(spec.run_name, 0) + 1
            self.progress.update(self.bars[spec.run_name], completed=self.epochs_shown[spec.run_name], status=status)
        else:
            who = f"{spec.run_name} " if len(self.in_flight) > 1 else ""
            self.console.print(f"  {who}epoch {record.epoch}/{spec.training.epochs}  {status}  ({record.seconds:.2f}s)")

    def run_ended(self, outcome) -> None:
        self.in_flight.discard(outcome.spec.run_name)
        self.bars.pop(outcome.spec.run_name, None)
        if self.progress is not None and not self.bars:
            self.progress.stop()
            self.progress = None
        if self.quiet and outcome.status in ("completed", "failed"):  # a failure is the command's last line
            return
        if outcome.status == "completed":
            test = outcome.summary.get("test", {})
            self.console.print(f"  [green]done[/green] in {outcome.summary['seconds']:.1f}s: test {_headline(test)}")
            if outcome.summary.get("note"):
                self.console.print(f"  [yellow]note:[/yellow] {outcome.summary['note']}")
        elif outcome.status == "interrupted":  # what to do next is printed once, after the table
            self.console.print("  [yellow]interrupted[/yellow]")
        else:  # the reason is the command's last line (and is kept in the run's status.json)
            self.console.print(f"  [red]{outcome.status}[/red]")


def print_error(message: str) -> None:
    from rich.markup import escape

    # Escaped: a message's own brackets (jax[cuda13], a path) are text, not Rich markup.
    err_console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)

