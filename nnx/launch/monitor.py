"""The live table of a launcher's runs: read from their run folders, so every launcher shows the
same thing (a local process and a SLURM task both write status.json and metrics.jsonl)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..record import read_run
from ..report import _headline as headline

MAX_ROWS = 30  # beyond this, the table shows the runs in progress and a count of the others


@dataclass
class RunView:
    name: str
    job: str
    state: str
    epoch: int
    epochs: int | None
    last: str


def view(folder: Path, job: str) -> RunView:
    record = read_run(folder)
    config = record.config if isinstance(record.config, dict) else {}
    training = config.get("training") if isinstance(config.get("training"), dict) else {}
    epochs = [m for m in record.metrics if isinstance(m, dict) and isinstance(m.get("epoch"), int)]
    last = ""
    if epochs:
        split = "validation" if epochs[-1].get("validation") else "train"
        last = f"{split} {headline(epochs[-1].get(split) or {})}"
    if record.state == "completed" and isinstance(record.summary, dict):
        last = f"test {headline(record.summary.get('test') or {})}"
    return RunView(folder.name, job, record.state, epochs[-1]["epoch"] if epochs else 0, training.get("epochs"), last)


def table(views: list[RunView], title: str):
    from rich.table import Table

    shown = views
    if len(views) > MAX_ROWS:
        shown = [v for v in views if v.state == "running"][:MAX_ROWS]
    counts = {}
    for v in views:
        counts[v.state] = counts.get(v.state, 0) + 1
    caption = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    t = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    for column in ("run", "job", "status", "epoch", "last epoch"):
        t.add_column(column, justify="right" if column == "epoch" else "left")
    style = {"completed": "green", "failed": "red", "crashed": "red", "interrupted": "yellow", "running": "bold"}
    for v in shown:
        epoch = f"{v.epoch}/{v.epochs}" if v.epochs else str(v.epoch)
        t.add_row(v.name, v.job, f"[{style.get(v.state, 'dim')}]{v.state}[/]", epoch, v.last)
    return t


class Monitor:
    """A Rich Live table on a terminal; elsewhere one line each time a run changes state."""

    def __init__(self, title: str, quiet: bool = False):
        from ..report import err_console

        self.console, self.title, self.quiet = err_console, title, quiet
        self.live = None
        self.seen: dict[str, str] = {}

    def __enter__(self) -> Monitor:
        if self.console.is_terminal and not self.quiet:
            from rich.live import Live

            self.live = Live(console=self.console, refresh_per_second=4, transient=False)
            self.live.start()
        return self

    def update(self, rows: list[tuple[Path, str]]) -> None:
        views = [view(folder, job) for folder, job in rows]
        if self.live is not None:
            self.live.update(table(views, self.title))
            return
        if self.quiet:
            return
        for v in views:
            key = f"{v.state} {v.job}"
            if self.seen.get(v.name) != key:
                self.seen[v.name] = key
                epoch = f" at epoch {v.epoch}" if v.epoch and v.state != "completed" else ""
                self.console.print(f"  {v.name}: {v.state}{epoch} ({v.job}) {v.last}".rstrip(), markup=False)

    def message(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text)

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.stop()


def launcher_details(folder: Path) -> dict:
    """The last start of a task in this run folder (launcher.jsonl), or {}."""
    try:
        lines = (folder / "launcher.jsonl").read_text(encoding="utf-8").splitlines()
        return json.loads(lines[-1]) if lines else {}
    except (OSError, ValueError):
        return {}
