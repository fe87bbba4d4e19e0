"""An experiment file in, one validated RunSpec per variant and seed out.

The file is read once (safe loader, line of every key remembered). Overrides of the top level
and of variants are written into it, and its top level is validated (`ExperimentFile`). Then each
variant is merged over the base sections, the section overrides are applied, and the result is
validated as a `RunSpec`; a problem is reported at the file line or the `--set` it came from.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .. import checks
from ..errors import ConfigError
from ..record.metrics import flatten  # noqa: F401  (nnx.config.flatten, as before)
from . import overrides as ov
from .messages import did_you_mean, validate
from .schema import MAX_NAME, MAX_SEED, SECTIONS, TAGS, ExperimentFile, RunSpec, expand_shorthands
from .yaml_lines import Claims, Origins, VariantLines, key_text, read_yaml


@dataclass
class Experiment:
    """A validated experiment: its name, its source, and one RunSpec per variant and seed."""

    name: str
    path: Path | None
    runs: list[RunSpec]
    description: str = ""
    variants: list[str] = field(default_factory=list)


def load_experiment(
    path: str | Path,
    overrides: Iterable[str] = (),
    seed: int | None = None,
    only: Iterable[str] = (),
    only_option: str = "--only",
    data_dir=None,
) -> Experiment:
    """Read, validate and expand an experiment file. Raises ConfigError with file:line.
    `data_dir` (--data-dir) is searched for a data set's relative file paths (see _paths_from)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such file; give the path of an experiment YAML file")
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, not an experiment file; give the path of a .yaml file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (is it binary?); give a YAML experiment file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read it ({e.strerror})") from None
    return parse_experiment(text, source=str(path), default_name=path.stem, overrides=overrides,
                            seed=seed, only=only, path=path, only_option=only_option, data_dir=data_dir)


def parse_experiment(
    text: str,
    source: str = "<string>",
    default_name: str = "experiment",
    overrides: Iterable[str] = (),
    seed: int | None = None,
    only: Iterable[str] = (),
    path: Path | None = None,
    only_option: str = "--only",
    data_dir=None,
) -> Experiment:
    """An experiment from YAML text; `only_option` names the option that chose the variants."""
    raw, lines = read_yaml(text, source)
    if raw is None:
        raise ConfigError(f"{source}: the file is empty; an experiment needs at least `data:` and `model:`")
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}:1: the top level must be a mapping of keys (data:, model:, ...), "
                          f"not a {type(raw).__name__}")
    sections, top = ov.split(ov.parse_overrides(overrides))

    # The top level and the variants, with their overrides, validated as an ExperimentFile.
    ov.check_variants_exist(top, raw.get("variants"), source)
    file_claims = Claims()
    ov.apply_all(raw, top, file_claims)
    file = validate(ExperimentFile, raw, Origins(source, lines, file_claims))
    name = file.name or default_name
    seeds = list(range(file.seed, file.seed + file.seeds)) if isinstance(file.seeds, int) else file.seeds
    if seed is not None:
        seeds = [seed + s - seeds[0] for s in seeds]
        if not all(0 <= s <= MAX_SEED for s in seeds):
            span = f" (with `seeds` this gives {seeds[0]}..{seeds[-1]})" if len(seeds) > 1 else ""
            raise ConfigError(f"--seed {seed}: seeds are integers from 0 to {MAX_SEED}{span}")
    variants = list(file.variants) or ["default"]
    only = list(only)
    for name_ in only:
        if name_ not in variants:
            raise ConfigError(f"{only_option} {name_}: no such variant; the variants are {', '.join(variants)}"
                              + did_you_mean(name_, variants))
    base = expand_shorthands({k: raw[k] for k in SECTIONS if k in raw})

    runs = []
    for variant in variants:
        if only and variant not in only:
            continue
        own_sections = expand_shorthands(file.variants.get(variant) or {})
        merged = _merge_variant(base, own_sections, variant, Origins(source, lines, file_claims))
        run_claims, own = Claims(), file_claims.under(("variants", variant))
        ov.apply_all(merged, sections, run_claims)
        merged.update(experiment=name, variant=variant, seed=seeds[0])
        origins = Origins(source, VariantLines(lines, variant), run_claims, own,
                          variant=variant if len(variants) > 1 else None, variant_sections=own_sections)
        spec = _paths_from(validate(RunSpec, merged, origins), path, data_dir)
        for where, message in checks.problems(spec, own=file.variants.get(variant) or {}):
            raise ConfigError(origins.where(where) + message)  # the first; fixing it shows the next
        for s in seeds:
            runs.append(spec.model_copy(update={"seed": s, "seeds_in_name": len(seeds) if len(seeds) > 1 else None}))
    return Experiment(name=name, path=path, runs=runs, description=file.description,
                      variants=[v for v in variants if not only or v in only])


def _paths_from(spec: RunSpec, experiment_file: Path | None, data_dir=None) -> RunSpec:
    """A data set's relative file paths (`data.path: my.csv`), and a weight file's (`model.weights:
    my.h5`), are relative to the experiment file's
    folder, so an experiment runs from any folder; the run's config.yaml records them absolute.
    One that is not there is looked for under the same relative path in the data folders
    (--data-dir, $NNX_DATA_DIR, the cache: `path: islp/Default.csv`), as the shipped data sets are."""
    base = experiment_file.parent if experiment_file is not None else Path.cwd()
    resolved = {name: _resolve(value, base, data_dir) for name, value in spec.data if isinstance(value, Path)
                and not value.is_absolute()}
    if resolved:
        spec = spec.model_copy(update={"data": spec.data.model_copy(update=resolved)})
    weights = getattr(spec.model, "weights", None)  # a weight file of one's own (model.weights: my.h5)
    if isinstance(weights, Path) and not weights.is_absolute():
        spec = spec.model_copy(update={"model": spec.model.model_copy(
            update={"weights": _resolve(weights, base, data_dir)})})
    return spec


def _resolve(value: Path, base: Path, data_dir) -> Path:
    """`value` beside the experiment file; else the first data folder that has it; else beside the
    file (where the data set's loader will say it is missing)."""
    here = (base / value).resolve()
    if not here.exists():
        from ..data.store import search_dirs

        for folder in search_dirs(data_dir):
            if (folder / value).exists():
                return (folder / value).resolve()
    return here


def _merge_variant(base: dict, override: dict, variant: str, origins: Origins) -> dict:
    """The base sections with a variant merged over them."""
    if len(variant) > MAX_NAME:
        raise ConfigError(origins.where(("variants", variant))
                          + f"variants.{key_text(variant[:20])}...: a name of {len(variant)} characters; "
                            f"use at most {MAX_NAME}")
    for key in sorted(set(override) - set(SECTIONS), key=str):
        raise ConfigError(origins.where(("variants", variant, key))
                          + f"variants.{key_text(variant)}.{key_text(key)}: unknown key; a variant overrides "
                          + ", ".join(SECTIONS) + did_you_mean(str(key), SECTIONS))
    merged = copy.deepcopy(base)
    for section, tag in TAGS.items():
        # A variant that changes the model type or the data set replaces that section whole:
        # the other keys of the old kind would not apply to the new one.
        new, old = override.get(section), merged.get(section)
        if isinstance(new, dict) and isinstance(old, dict) and new.get(tag, old.get(tag)) != old.get(tag):
            merged[section] = {}
    return ov.deep_merge(merged, override)


def load_run_config(path: str | Path) -> RunSpec:
    """Read back a run folder's resolved config.yaml."""
    path = Path(path)
    raw, lines = read_yaml(path.read_text(encoding="utf-8"), str(path))
    return validate(RunSpec, raw, Origins(str(path), lines))


def apply_overrides(spec: RunSpec, overrides: Iterable[str]) -> RunSpec:
    """A RunSpec with `--set KEY=VALUE` overrides applied (the same rules as for a file), validated."""
    parsed = ov.parse_overrides(overrides)
    if not parsed:
        return spec
    for o in parsed:
        if o.keys[0] not in SECTIONS:
            raise ConfigError(f"--set {o.text}: a run's config has the sections {', '.join(SECTIONS)}; "
                              f"{key_text(o.keys[0])!s} is not one of them{did_you_mean(str(o.keys[0]), SECTIONS)}")
    raw = spec.model_dump(mode="json")
    claims = Claims()
    ov.apply_all(raw, parsed, claims)
    return validate(RunSpec, raw, Origins("the run's config.yaml", {}, claims)).model_copy(
        update={"seeds_in_name": spec.seeds_in_name})


def dump_run_config(spec: RunSpec) -> str:
    """The YAML a run folder's config.yaml holds: every key, defaults filled in."""
    return yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)
