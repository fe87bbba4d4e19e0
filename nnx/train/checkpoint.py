"""Model checkpoints with Orbax: save a trained model's state, and load it back from a run folder."""

from __future__ import annotations

from pathlib import Path

import jax
from flax import nnx


def _checkpointer():
    import orbax.checkpoint as ocp  # imported late: Orbax is slow to import and only needed here

    return ocp.StandardCheckpointer()


def save_model(directory: Path, model: nnx.Module) -> None:
    """Save every variable of the model (parameters and e.g. batch statistics) under `directory`."""
    checkpointer = _checkpointer()
    checkpointer.save(Path(directory).absolute() / "model", nnx.state(model), force=True)
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
