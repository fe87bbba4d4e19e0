"""The experiment schema: pydantic models, the single source of what a file may say.

`ExperimentFile` is an experiment file's top level; `RunSpec` is one run (one variant, one seed),
the resolved config saved as a run folder's config.yaml. The `data:` and `model:` sections are
unions of one schema per data set (tagged by `name`) and per model type (tagged by `type`),
declared by their own packages. Every field's description is what `nnx config --schema` and
docs/experiment-schema.md print.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from ..data import DataSpec
from ..models import ModelSpec
from ..spec import Strict
from ..train.augment import AugmentationSpec

# The sections of a run, which variants and `--set` merge into; those whose schema depends on a
# tag (the data set's `name`, the model's `type`) start afresh when the tag changes.
SECTIONS = ("data", "model", "training", "regularization")
TAGS = {"data": "name", "model": "type"}

# A mapping that may be given by its name alone: `optimizer: adam` means `optimizer: {name: adam}`.
SHORTHANDS: dict[tuple[str, ...], str] = {("training", "optimizer"): "name"}


class ScheduleSpec(Strict):
    """A learning-rate schedule from Optax, in epochs (converted to steps at build time)."""

    name: Literal["constant", "step", "exponential", "cosine", "warmup_cosine"] = Field(
        "constant", description="how the rate changes over the epochs; cosine and warmup_cosine decay to "
                                "end_factor times the peak at the last epoch")
    decay_rate: float = Field(0.1, gt=0, le=1, description="step/exponential: factor per decay_epochs")
    decay_epochs: float = Field(10, gt=0, description="step/exponential: epochs per decay")
    warmup_epochs: float = Field(0, ge=0, description="warmup_cosine: linear warm-up length")
    end_factor: float = Field(0.0, ge=0, le=1, description="cosine: final rate as a fraction of the peak")


class OptimizerSpec(Strict):
    """The optimizer (Optax); `optimizer: adam` is short for `optimizer: {name: adam}`."""

    name: Literal["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw", "nadam", "adagrad"] = Field(
        "rmsprop", description="the update rule")
    learning_rate: float = Field(1e-3, gt=0, description="the peak learning rate (the schedule scales it)")
    momentum: float = Field(0.9, ge=0, lt=1, description="momentum and nesterov")
    decay: float = Field(0.9, gt=0, lt=1, description="rmsprop: discount of the squared-gradient average")
    b1: float = Field(0.9, ge=0, lt=1, description="adam, adamw, nadam: first-moment decay")
    b2: float = Field(0.999, ge=0, lt=1, description="adam, adamw, nadam: second-moment decay")
    eps: float | None = Field(None, gt=0, description="default: Optax's for the optimizer")
    clip_norm: float | None = Field(None, gt=0, description="clip gradients to this global norm")
    schedule: ScheduleSpec = Field(ScheduleSpec(), description="the learning-rate schedule")


class EarlyStoppingSpec(Strict):
    """Stop when a metric has not improved for `patience` epochs."""

    monitor: str = Field("validation.loss", description="SPLIT.METRIC: validation.loss, validation.accuracy, "
                                                        "train.loss, ...")
    mode: Literal["min", "max", "auto"] = Field("auto", description="whether the monitored metric should go up or down; auto: "
                                                              "the metric's own (accuracy up, loss down)")
    patience: int = Field(5, ge=1, description="epochs without improvement before stopping")
    min_delta: float = Field(0.0, ge=0, description="smaller changes do not count as improvement")
    restore_best: bool = Field(True, description="end with the best epoch's weights, not the last")


class TrainingSpec(Strict):
    """How a network is trained (closed-form models ignore this section)."""

    epochs: int = Field(10, ge=1, description="passes over the training split")
    batch_size: int = Field(128, ge=1, description="examples per step")
    eval_batch_size: int = Field(2048, ge=1, description="examples per evaluation batch (memory only)")
    optimizer: OptimizerSpec = Field(OptimizerSpec(), description="a mapping, or an optimizer's name alone")
    early_stopping: EarlyStoppingSpec | None = Field(None, description="null: train every epoch")
    parallel_seeds: bool = Field(False, description="train all seeds of a variant at once, in one vectorized program (vmap)")
    loss: Literal["cross_entropy", "squared_error", "absolute_error"] | None = Field(
        None, description="the training loss; default: cross-entropy for classes, squared error for regression")
    augmentation: AugmentationSpec | None = Field(None, description="random image transforms, on the device")
    divergence_factor: float | None = Field(100.0, gt=1, description=(
        "a run fails as diverged when an epoch's training loss is not finite or exceeds this many times the "
        "loss of all-zero outputs (log K, log 2, or the mean of y**2 or |y|: about where a network starts); "
        "null: only a loss that is not finite"))
    checkpoint_every_s: float = Field(30.0, ge=0, description=(
        "save the training state for --resume at most once every this many seconds, and always after the last "
        "epoch, when early stopping stops, and on Ctrl-C, SIGTERM or SIGUSR1; a run killed between saves "
        "resumes from the last one, exactly; 0: after every epoch"))


    @model_validator(mode="before")
    @classmethod
    def _optimizer_by_name(cls, data: Any) -> Any:
        # The shorthand of SHORTHANDS, for configs that never went through expand_shorthands.
        if isinstance(data, dict) and isinstance(data.get("optimizer"), str):
            data = {**data, "optimizer": {"name": data["optimizer"]}}
        return data


class RegularizationSpec(Strict):
    """Penalties on the weights (networks)."""

    l2: float = Field(0.0, ge=0, description="ridge: adds l2 * sum of squared weights (not biases) to the loss")
    l1: float = Field(0.0, ge=0, description="lasso: adds l1 * sum of absolute weights (not biases)")
    weight_decay: float = Field(0.0, ge=0, description="decoupled weight decay (Optax), scaled by the learning rate")


# Seeds feed numpy and JAX key derivation (32-bit); names become folder names (255 bytes at most).
MAX_SEEDS = 1000  # seeds of one variant
MAX_SEED, MAX_NAME = 2**32 - 1, 100
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]


# A sweep of more runs than this needs `--yes` (a typo such as a grid of 10 keys is caught first);
# more than MAX_SWEEP_RUNS is refused (split the sweep: each run is validated before any starts).
MAX_RUNS, MAX_SWEEP_RUNS = 1000, 100_000


def _as_number(value: Any) -> Any:
    """YAML reads `1e-4` (no dot) as text; a sweep's values are numbers the way the schema reads them."""
    if isinstance(value, list):
        return [_as_number(v) for v in value]
    if isinstance(value, str):
        for kind in (int, float):
            try:
                return kind(value)
            except ValueError:
                continue
    return value


def _some_values(values: list) -> list:
    if not values:
        raise ValueError("an empty list of values; give at least one (or remove the key)")
    values = [_as_number(v) for v in values]
    seen = []
    for v in values:  # two runs of one setting would only look like two results
        if v in seen:
            raise ValueError(f"{v!r} is listed twice; give each value once")
        seen.append(v)
    return values


SweepValues = Annotated[list[Any], AfterValidator(_some_values)]


def _bounds(kind: str):
    def check(bounds: tuple[float, float]) -> tuple[float, float]:
        low, high = bounds
        if low > high:
            raise ValueError(f"{kind}: low {low:g} is above high {high:g}; give [low, high]")
        if kind == "loguniform" and low <= 0:
            raise ValueError(f"loguniform: bounds must be above 0 (low is {low:g}); use uniform for a range "
                             "that includes 0")
        return bounds
    return AfterValidator(check)


def _some_keys(space: dict) -> dict:
    if not space:
        raise ValueError("no keys to draw; give at least one, e.g. model.dropout: {uniform: [0, 0.5]}")
    return space


class Distribution(Strict):
    """Where a random sweep draws one key's values from: exactly one of the three."""

    loguniform: Annotated[tuple[float, float], _bounds("loguniform")] | None = Field(
        None, description="[low, high], low > 0: uniform in log(value) (learning rates, penalty weights)")
    uniform: Annotated[tuple[float, float], _bounds("uniform")] | None = Field(
        None, description="[low, high]: uniform in value (dropout rates)")
    choice: SweepValues | None = Field(None, description="a list: one of its values, each as likely")

    @model_validator(mode="after")
    def _exactly_one(self):
        given = [k for k in ("loguniform", "uniform", "choice") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of loguniform: [low, high], uniform: [low, high], choice: [...]"
                             + (f" (not {' and '.join(given)})" if given else ""))
        return self


class RandomSweep(Strict):
    """`n` settings drawn at random (reproducibly, from `seed`) from one distribution per key."""

    n: Annotated[int, Field(ge=1, le=MAX_SWEEP_RUNS)] = Field(description="how many settings to draw")
    seed: Seed = Field(0, description="the draws' seed (not the runs' seeds: see seeds)")
    space: Annotated[dict[str, Distribution], AfterValidator(_some_keys)] = Field(
        description="DOTTED.KEY: {loguniform: [low, high]} | {uniform: [low, high]} | {choice: [...]}")


class SweepSpec(Strict):
    """Settings to try, each a run (times the variants and seeds); keys are a run's dotted keys."""

    grid: dict[str, SweepValues] = Field({}, description=(
        "DOTTED.KEY: [values]: every combination (the first key varies slowest); e.g. "
        "regularization.l2: [1.0e-4, 1.0e-3]"))
    random: RandomSweep | None = Field(None, description="settings drawn at random; with a grid, each grid "
                                                         "setting is combined with each draw")
    vectorize: bool = Field(False, description=(
        "train the settings of a variant that differ only in numbers (learning rate, l2/l1, weight decay, "
        "dropout rates, seeds) together, in one vectorized program (vmap); see README's Sweeps"))


class SweepPoint(Strict):
    """A run's place in its experiment's sweep (written by the expansion, kept in config.yaml)."""

    variant: Name = Field(description="the variant the sweep was applied to")
    values: dict[str, Any] = Field(description="DOTTED.KEY: value, this run's setting")
    vectorize: bool = Field(False, description="from sweep.vectorize")


class RunSpec(Strict):
    """Everything one run needs: the resolved config saved into its folder."""

    experiment: Name
    variant: Name = "default"
    seed: Seed = 0
    data: DataSpec
    model: ModelSpec
    training: TrainingSpec = TrainingSpec()
    regularization: RegularizationSpec = RegularizationSpec()
    sweep: SweepPoint | None = Field(None, description="set by a sweep: the variant swept and this run's values")

    @property
    def run_name(self) -> str:
        return self.variant if self.seeds_in_name is None else f"{self.variant}-seed{self.seed}"

    # Set by `expand` when an experiment has several seeds; not part of the saved config.
    seeds_in_name: Annotated[int | None, Field(exclude=True)] = None


class LauncherSpec(Strict):
    """Resources of each SLURM task (`nnx train --launcher slurm`); one task trains one run (or the
    seeds of a variant with training.parallel_seeds). The local launchers ignore this section."""

    partition: str | None = Field(None, description="the SLURM partition; default: the cluster's default")
    time_min: int = Field(60, ge=1, description="the time limit of each task, in minutes (a task at its limit "
                                                "is requeued and resumes from its last checkpoint)")
    cpus_per_task: int | None = Field(None, ge=1, description="CPU cores of each task; default: SLURM's")
    gpus_per_task: int | None = Field(None, ge=0, description="GPUs of each task (--gpus-per-task)")
    mem: str | None = Field(None, pattern=r"^[0-9]+[KMGT]?$",
                            description="memory of each task, as sbatch's --mem: 16G, 4000M")
    array_parallelism: int = Field(256, ge=1, description="at most this many tasks of the array run at once")
    max_requeues: int = Field(3, ge=0, description="times a task that reaches its time limit is requeued "
                                                   "(preemptions do not count)")
    signal_delay_s: int = Field(120, ge=10, description="seconds before the time limit when SLURM warns the task; "
                                                        "it must cover one epoch and a checkpoint")
    setup: list[str] = Field([], description="shell lines run before each task (module load ..., source venv)")
    sbatch: dict[str, str | int | bool] = Field({}, description="other sbatch options, without the dashes: "
                                                               "{account: proj, qos: high, constraint: a100}")


class ExperimentFile(Strict):
    """The top level of an experiment file. The sections are checked per variant, as a RunSpec."""

    name: Name | None = Field(None, description="the folder under outputs/; default: the file's name")
    description: str = Field("", description="free text")
    seed: Seed = Field(0, description="the first seed")
    # At most MAX_SEEDS: a mistyped `seeds: 4294967295` would otherwise try to build billions of runs.
    seeds: Annotated[int, Field(ge=1, le=MAX_SEEDS)] | Annotated[list[Seed], Field(max_length=MAX_SEEDS)] = Field(
        1, description="N: seeds seed, seed+1, ..., seed+N-1 of every variant; or a list of seeds")
    data: dict[str, Any] = Field(description="the data set (see data: below)")
    model: dict[str, Any] = Field(description="the model (see model: below)")
    training: dict[str, Any] = Field({}, description="see training: below")
    regularization: dict[str, Any] = Field({}, description="see regularization: below")
    variants: dict[str, dict[str, Any] | None] = Field(
        {}, description="NAME: {data/model/training/regularization keys}; each variant is merged over the "
                        "sections above and is a run folder of its own; none: one run, 'default'")
    sweep: SweepSpec | None = Field(None, description="settings to try in every variant (see sweep: below)")
    launcher: LauncherSpec = Field(LauncherSpec(), description="resources of SLURM tasks (--launcher slurm)")


def expand_shorthands(data: Any, path: tuple = ()) -> Any:
    """`data` (a run's sections, or a part of them at `path`) with every shorthand spelled out."""
    if path in SHORTHANDS and isinstance(data, str):
        return {SHORTHANDS[path]: data}
    if isinstance(data, dict) and any(s[:len(path)] == path and len(s) > len(path) for s in SHORTHANDS):
        return {k: expand_shorthands(v, path + (k,)) for k, v in data.items()}
    return data
