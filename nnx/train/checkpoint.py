"""Model checkpoints with Orbax: save a trained model's state, and load it back from a run folder.

A full disk while saving is a `DiskFullError` naming the epoch and the run folder, with the resume
command; Orbax's own logging (tracebacks from its background threads) stays off the terminal.

The training state is saved by wall time (`should_checkpoint`), not every epoch: a save costs tens of
milliseconds, as much as a whole epoch of a small model.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
from pathlib import Path

import jax
import numpy as np
from flax import nnx

from ..errors import DiskFullError, is_disk_full

_TMP_GLOB = "*.orbax-checkpoint-tmp*"  # where Orbax writes a checkpoint before renaming it
_orbax_quieted = False


def _orbax():
    """orbax.checkpoint, imported late (it is slow to import and only needed here), its logging quieted."""
    import orbax.checkpoint as ocp

    global _orbax_quieted
    if not _orbax_quieted:
        _quiet_orbax()
        _orbax_quieted = True
    return ocp


def _from_orbax(record: logging.LogRecord) -> bool:
    return f"{Path('orbax', 'checkpoint')}" in record.pathname


def _quiet_orbax() -> None:
    """Keep Orbax's log records (absl logging, with tracebacks from its threads) off the terminal.

    Orbax logs every failure of a background save, several times, before the save's exception
    reaches nnx, which reports it in one line; records of other libraries through absl, and nnx's
    own errors, are left as they are.
    """
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)
    logging.getLogger("absl").addFilter(lambda record: not _from_orbax(record))
    logging.getLogger("orbax").setLevel(logging.CRITICAL)
    logging.getLogger("asyncio").addFilter(lambda record: not _orphaned_orbax_write(record))
    sys.unraisablehook = _unraisable_hook(sys.unraisablehook)


def _orphaned_orbax_write(record: logging.LogRecord) -> bool:
    """asyncio's "Task exception was never retrieved" for one of Orbax's concurrent array writes,
    when several fail on a full disk and the save's error (reported by nnx in one line) carries
    only the first; it would print a bare traceback when the task is collected."""
    error = record.exc_info[1] if record.exc_info else None
    if error is None or not is_disk_full(error):
        return False
    tb = error.__traceback__
    while tb is not None:
        if f"{Path('orbax', 'checkpoint')}" in tb.tb_frame.f_code.co_filename:
            return True
        tb = tb.tb_next
    return False


def _unraisable_hook(previous):
    """Drop the `RuntimeError: Event loop is closed` that TensorStore's write callbacks raise when a
    failed save has already closed Orbax's event loop (printed as bare tracebacks); pass on the rest."""

    def hook(unraisable):
        e = unraisable.exc_value
        if isinstance(e, RuntimeError) and str(e) == "Event loop is closed" and _raised_in_asyncio(e):
            return
        previous(unraisable)

    hook.nnx_orbax = True
    return previous if getattr(previous, "nnx_orbax", False) else hook


def _raised_in_asyncio(e: BaseException) -> bool:
    tb = e.__traceback__
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).parent.name == "asyncio":
            return True
        tb = tb.tb_next
    return False


def _disk_full(what: str, run: Path) -> DiskFullError:
    return DiskFullError(f"disk full while saving {what} in {run}; free space, then nnx train --resume {run}")


def _remove_partial(directory: Path) -> None:
    """Remove the temporary folders of saves that failed (the finished checkpoints stay): they
    hold the space a full disk needs back, and a resume never reads them."""
    for tmp in Path(directory).glob(_TMP_GLOB):
        shutil.rmtree(tmp, ignore_errors=True)


def _multiprocessing_options(ocp):
    # Every process writes its own folder on its own disk (the run folder is local), so no host
    # waits for another: Orbax's "all hosts are primary" mode.
    return ocp.options.MultiprocessingOptions(primary_host=None) if jax.process_count() > 1 else None


def _checkpointer():
    ocp = _orbax()
    options = _multiprocessing_options(ocp)
    return ocp.StandardCheckpointer(multiprocessing_options=options) if options else ocp.StandardCheckpointer()


def host_copy(tree):
    """Numpy copies of a state's arrays; for arrays spread over several hosts, this host's replica."""
    def copy(a):
        if isinstance(a, jax.Array) and not a.is_fully_addressable:
            a = a.addressable_data(0)
        return np.array(a, copy=True)

    return jax.tree.map(copy, tree)


def save_model(directory: Path, model: nnx.Module) -> None:
    """Save every variable of the model (parameters and e.g. batch statistics) under `directory`.

    `directory` is a run folder's `checkpoint/`: a full disk is a DiskFullError naming the run folder.
    """
    checkpointer = _checkpointer()
    target = Path(directory).absolute()
    try:
        checkpointer.save(target / "model", host_copy(nnx.state(model)), force=True)
        checkpointer.wait_until_finished()
    except Exception as e:
        if not is_disk_full(e):
            raise
        with contextlib.suppress(Exception):
            checkpointer.close()
        _remove_partial(target)
        raise _disk_full("the trained model", Path(directory).parent) from e


def restore_into(directory: Path, model: nnx.Module) -> nnx.Module:
    abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), nnx.state(model))
    state = _checkpointer().restore(Path(directory).absolute() / "model", abstract)
    nnx.update(model, state)
    return model


def load_model(run_dir: str | Path) -> tuple[nnx.Module, object]:
    """Rebuild a run's network from its run folder and restore its trained parameters.

    Returns (Flax module, RunSpec); `nnx.models.load_run` gives the same as a `Model`.
    """
    from ..models import load_run

    model = load_run(run_dir)
    return model.impl, model.run_spec


def should_checkpoint(epoch: int, last_epoch: int, seconds_since_save: float, every_s: float,
                      stopping: bool) -> bool:
    """Whether to save the training state after `epoch` (of `last_epoch` planned).

    Always after the last epoch and when training stops there (early stopping, Ctrl-C, SIGTERM):
    a resume then continues where the run ended. Otherwise only once `every_s` seconds have passed
    since the last save (or the start of training), so a short run writes one checkpoint; a
    process killed between saves resumes from the last one and replays the epochs after it, which
    is exact because an epoch's keys depend only on (seed, epoch). `every_s` 0: every epoch.
    """
    return stopping or epoch >= last_epoch or seconds_since_save >= every_s


class TrainCheckpoints:
    """Training state for exact resume: the last saved epoch's and early stopping's best epoch's.

    Each holds the parameters, other variables, optimizer state, and a small JSON record (epoch,
    early-stopping state). Orbax writes each checkpoint to a temporary folder and renames it when
    complete, so a crash mid-write leaves the previous checkpoint intact. The data order and the
    dropout keys derive from (seed, epoch), so the epoch number is the whole data-order state.
    Which epochs are saved is the caller's choice (`should_checkpoint`).
    """

    def __init__(self, directory: Path):
        ocp = _orbax()

        self._ocp = ocp
        self._run = Path(directory).parent  # the run folder, as the caller named it (for messages)
        self._pending: int | None = None  # the epoch whose asynchronous save may still be running
        self._closed = False
        directory = Path(directory).absolute()

        def options(keep: int):
            return ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=True,
                                                **({"multiprocessing_options": _multiprocessing_options(ocp)}
                                                   if jax.process_count() > 1 else {}))

        self.last = ocp.CheckpointManager(directory / "last", options=options(1))
        # Two bests: a process killed after saving a new best and before the last checkpoint that
        # names it still has the best epoch the last checkpoint names.
        self.best = ocp.CheckpointManager(directory / "best", options=options(2))
        self._best_saved = self.best.latest_step()  # the epoch the best folder holds

    def save(self, epoch: int, state, record: dict, best: tuple[int, object] | None = None) -> None:
        """Start saving `epoch` (Orbax writes in the background, while the next epoch trains), and
        `best`, early stopping's (best epoch, its state), when the best folder does not hold it yet.

        A failure of the previous save surfaces here, and is named with its epoch.
        """
        self._finish()
        # Host copies first: the device buffers are donated to the next epoch while Orbax writes.
        host = host_copy(state)
        try:
            if best is not None and best[0] != self._best_saved:
                best_epoch, best_state = best
                best_host = host if best_epoch == epoch else host_copy(best_state)
                self.best.save(best_epoch, args=self._args(best_host, {**record, "epoch": best_epoch}, save=True))
                # Complete before the last checkpoint names it.
                self.best.wait_until_finished()
                self._best_saved = best_epoch
            self.last.save(epoch, args=self._args(host, {**record, "epoch": epoch}, save=True))
        except Exception as e:
            self._failed(e, epoch)
        self._pending = epoch

    def _finish(self) -> None:
        """Wait for the pending save; its failure names its epoch."""
        if self._pending is None:
            return
        try:
            for manager in (self.last, self.best):
                manager.wait_until_finished()
        except Exception as e:
            self._failed(e, self._pending)
        self._pending = None

    def _failed(self, error: Exception, epoch: int):
        """A save failed: stop Orbax's threads, drop the partial checkpoint (the previous one stays),
        and raise the error, a full disk as one line with the resume command."""
        self._pending = None
        self._closed = True
        for manager in (self.last, self.best):
            with contextlib.suppress(Exception):
                manager.close()
            _remove_partial(Path(str(manager.directory)))
        if is_disk_full(error):
            raise _disk_full(f"the checkpoint of epoch {epoch}", self._run) from error
        raise error

    def latest_epoch(self) -> int | None:
        return self.last.latest_step()

    def restore(self, abstract_state, which: str = "last", epoch: int | None = None):
        """(state, record) of the last (or best) checkpoint, or of `epoch`'s; None if there is none."""
        manager = self.last if which == "last" else self.best
        step = manager.latest_step() if epoch is None else epoch
        if step is None or step not in manager.all_steps():
            return None
        out = manager.restore(step, args=self._args(abstract_state, None, save=False))
        return out.state, out.record

    def _args(self, state, record, save: bool):
        a = self._ocp.args
        if save:
            return a.Composite(state=a.StandardSave(state), record=a.JsonSave(record))
        abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), state)
        return a.Composite(state=a.StandardRestore(abstract), record=a.JsonRestore())

    def close(self) -> None:
        """Wait for the last save (its failure raised as in `save`) and release Orbax's threads."""
        if self._closed:
            return
        self._finish()
        self._closed = True
        for manager in (self.last, self.best):
            manager.close()
