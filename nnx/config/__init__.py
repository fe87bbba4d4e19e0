"""The experiment schema: YAML in, validated runs out. Nothing here imports JAX.

Where each concept lives:

- `schema`: the pydantic models (`ExperimentFile`, `RunSpec`, the training sections); the
  `data:` and `model:` unions come from `nnx.data` and `nnx.models`.
- `yaml_lines`: YAML read with the line of every key; where a key came from (file line or `--set`).
- `overrides`: `--set KEY=VALUE` and `KEY:=VALUE`, merged and validated like the file.
- `experiment`: the pipeline, file + variants + overrides -> one `RunSpec` per variant and seed.
- `messages`: pydantic's errors as one line with the key, the allowed values, a did-you-mean.
- `reference`: the schema as a reference (`nnx config --schema`, docs/experiment-schema.md).
"""

from .experiment import (
    Experiment,
    apply_overrides,
    dump_run_config,
    flatten,
    load_experiment,
    load_run_config,
    parse_experiment,
)
from .schema import (
    MAX_NAME,
    MAX_SEED,
    EarlyStoppingSpec,
    ExperimentFile,
    LauncherSpec,
    OptimizerSpec,
    RegularizationSpec,
    RunSpec,
    ScheduleSpec,
    TrainingSpec,
)

__all__ = ["MAX_NAME", "MAX_SEED", "EarlyStoppingSpec", "Experiment", "ExperimentFile", "LauncherSpec", "OptimizerSpec",
           "RegularizationSpec", "RunSpec", "ScheduleSpec", "TrainingSpec", "apply_overrides",
           "dump_run_config", "flatten", "load_experiment", "load_run_config", "parse_experiment"]
