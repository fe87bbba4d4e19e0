"""Models: each family module declares a `ModelFamily` (spec, builder, tasks) in `REGISTRY`; this
module derives the `model:` schema from them and builds models.

Adding a model family is adding a module here (or under applications/) that registers one:
nothing else changes. `make` gives the one interface (`Model`: fit, predict, evaluate, count,
save, restore) that the runner, ensemble, count-params and predict use; `build` gives the bare
Flax module (or estimator) of a spec, as count-params and tests inspect it.
"""

from __future__ import annotations

from .base import REGISTRY, ClosedForm, Model, ModelFamily, Network


def __getattr__(name: str):
    # `ModelSpec` is built on first use: building it imports every family module (and so JAX), which
    # readers of the declarations in base.py alone (nnx compare) must not pay for.
    if name == "ModelSpec":
        globals()["ModelSpec"] = spec = REGISTRY.union()
        return spec
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def family(spec_or_type) -> ModelFamily:
    return REGISTRY.get(spec_or_type if isinstance(spec_or_type, str) else spec_or_type.type)


def make(spec, info, seed: int = 0) -> Model:
    """The model a spec describes on data described by `info`, behind the one interface."""
    return family(spec).make(spec, info, seed)


def build(spec, info, rngs=None):
    """The bare model of a spec: a Flax NNX module (initialized from `rngs`), or an estimator."""
    fam = family(spec)
    if not fam.network:
        return fam.build(spec, info)
    from flax import nnx

    rngs = rngs if rngs is not None else nnx.Rngs(0)
    module = fam.build(spec, info, rngs)
    if getattr(spec, "init", "default") == "pytorch":
        from .init import pytorch_init

        pytorch_init(module, rngs)
    return module


def load_run(run_dir, data_dir=None, dataset=None) -> Model:
    """A run folder's trained model behind the one interface: rebuilt from its config.yaml and the
    data description in its summary.json, then restored from its saved weights (checkpoint/).

    A closed-form model (OLS, LDA, lasso...) keeps no weights: it is fitted again on its run's
    training data (`dataset`, else loaded from the config's data section and `data_dir`), which
    gives the same model, as every estimator here is deterministic given its config and seed. An
    ensemble's folder (nnx ensemble) gives the mean of its members' models (nnx.ensemble.Averaged).
    """
    import json
    from pathlib import Path

    import yaml

    from ..config import load_run_config
    from ..data.base import DataInfo
    from ..record import Summary

    run_dir = Path(run_dir)
    config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    summary = Summary.from_json(json.loads((run_dir / "summary.json").read_text(encoding="utf-8")))
    if isinstance(config, dict) and "ensemble" in config:
        from ..ensemble import Averaged

        return Averaged.load(run_dir, summary, data_dir)
    spec = load_run_config(run_dir / "config.yaml")
    if not isinstance(summary.data_info, dict):
        raise ValueError(f"{run_dir}: summary.json has no data_info")
    info = DataInfo(**{**summary.data_info, "input_shape": tuple(summary.data_info["input_shape"])})
    model = make(spec.model, info, spec.seed)
    model.run_spec = spec
    if model.trains_in_epochs:
        return model.restore(run_dir / "checkpoint")
    if dataset is None:
        from .. import data

        dataset = data.load(spec.data, seed=spec.seed, data_dir=data_dir)
    model.fit(dataset, spec)
    return model


def load_run_dataset(run_dir, data_dir=None):
    """A run folder's data set, loaded again as it was trained: its config.yaml's data section and
    seed. A missing data file is a DataError naming the run and the file."""
    from pathlib import Path

    from .. import data
    from ..config import load_run_config
    from ..errors import DataError

    spec = load_run_config(Path(run_dir) / "config.yaml")
    try:
        return data.load(spec.data, seed=spec.seed, data_dir=data_dir)
    except DataError as e:
        raise DataError(f"{run_dir}: its data could not be loaded again: {e}") from None


def names(network: bool | None = None) -> list[str]:
    """Every model type; only networks (True) or only closed-form models (False)."""
    return [n for n in REGISTRY.names() if network is None or REGISTRY.get(n).network == network]


__all__ = ["REGISTRY", "ClosedForm", "Model", "ModelFamily", "ModelSpec", "Network", "build", "family", "load_run",
           "load_run_dataset", "make", "names"]
