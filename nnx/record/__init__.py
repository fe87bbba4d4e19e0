"""The run record: the files of a run folder, the summary type, and the metric registry. No JAX.

    folder.py    writing run folders atomically, reading them back tolerantly, a run's state
    summary.py   `Summary`: summary.json as one type
    metrics.py   every metric's name, direction and format; the one best-epoch rule
"""

from .folder import RunFolder, RunRecord, ensure_writable, is_run_folder, read_run, run_state, write_atomic
from .metrics import METRICS, Metric, best_epoch, flatten, higher_is_better
from .summary import Summary

__all__ = ["METRICS", "Metric", "RunFolder", "RunRecord", "Summary", "best_epoch", "ensure_writable",
           "flatten", "higher_is_better", "is_run_folder", "read_run", "run_state", "write_atomic"]
