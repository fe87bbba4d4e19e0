"""Model checkpoints with Orbax: save a trained model's state, and load it back from a run folder."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
from flax import nnx


def _multiprocessing_options(ocp):
    # Every process writes its own folder on its own disk (the run folder is local), so no host
    # waits for another: Orbax's "all hosts are primary" mode.
    return ocp.options.MultiprocessingOptions(primary_host=None) if jax.process_count() > 1 else None


def _checkpointer():
    import orbax.checkpoint as ocp  # imported late: Orbax is slow to import and only needed here

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
    """Save every variable of the model (parameters and e.g. batch statistics) under `directory`."""
    checkpointer = _checkpointer()
    checkpointer.save(Path(directory).absolute() / "model", host_copy(nnx.state(model)), force=True)
    checkpointer.wait_until_finished()


def restore_into(directory: Path, model: nnx.Module) -> nnx.Module:
    abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), nnx.state(model))
    state = _checkpointer().restore(Path(directory).absolute() / "model", abstract)
    nnx.update(model, state)
    return model


def load_model(run_dir: str | Path) -> tuple[nnx.Module, object]:
    """Rebuild a run's model from its config.yaml and restore its trained parameters.

    Returns (model, RunSpec). The input shape and classes come from summary.json's data_info.
    """
    import json

    from .. import models
    from ..config import load_run_config
    from ..data.base import DataInfo

    run_dir = Path(run_dir)
    spec = load_run_config(run_dir / "config.yaml")
    info_dict = json.loads((run_dir / "summary.json").read_text())["data_info"]
    info = DataInfo(**{**info_dict, "input_shape": tuple(info_dict["input_shape"])})
    model = models.build(spec.model, info, nnx.Rngs(spec.seed))
    return restore_into(run_dir / "checkpoint", model), spec


class TrainCheckpoints:
    """Per-epoch training state for exact resume: the last epoch's and the best epoch's.

    Each holds the parameters, other variables, optimizer state, and a small JSON record (epoch,
    early-stopping state). Orbax writes each checkpoint to a temporary folder and renames it when
    complete, so a crash mid-write leaves the previous checkpoint intact. The data order and the
    dropout keys derive from (seed, epoch), so the epoch number is the whole data-order state.
    """

    def __init__(self, directory: Path):
        import orbax.checkpoint as ocp

        self._ocp = ocp
        directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(max_to_keep=1, enable_async_checkpointing=True,
                                               **({"multiprocessing_options": _multiprocessing_options(ocp)}
                                                  if jax.process_count() > 1 else {}))
        self.last = ocp.CheckpointManager(directory / "last", options=options)
        self.best = ocp.CheckpointManager(directory / "best", options=options)

    def save(self, epoch: int, state, record: dict, is_best: bool) -> None:
        # Host copies first: the device buffers are donated to the next epoch while Orbax writes.
        host = host_copy(state)
        args = self._args(host, {**record, "epoch": epoch}, save=True)
        self.last.save(epoch, args=args)
        if is_best:
            self.best.save(epoch, args=self._args(host, {**record, "epoch": epoch}, save=True))

    def latest_epoch(self) -> int | None:
        return self.last.latest_step()

    def restore(self, abstract_state, which: str = "last"):
        """(state, record) of the last (or best) checkpoint, or None if there is none."""
        manager = self.last if which == "last" else self.best
        step = manager.latest_step()
        if step is None:
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
        for manager in (self.last, self.best):
            manager.wait_until_finished()
            manager.close()
