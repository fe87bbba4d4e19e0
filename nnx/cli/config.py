"""`nnx config`: the resolved config of each run of an experiment, or the schema's reference."""

from __future__ import annotations

import click

from .common import data_dir_option, debug_option

SET_HELP = ("Override a config value (repeatable), e.g. --set training.epochs=5; VALUE is YAML. Keys are "
            "checked like the file's. A mapping merges into its section (--set training.optimizer=adam "
            "keeps the learning rate); KEY:=VALUE replaces it whole; variants.NAME.KEY=... changes an "
            "existing variant.")


@click.command("config")
@click.argument("experiment_file", type=click.Path(dir_okay=True, path_type=str), required=False)
@click.option("--variant", "variants", multiple=True, metavar="NAME", help="Only this variant (repeatable).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=SET_HELP)
@click.option("--seed", type=int, help="Override the experiment's seed (the first seed with `seeds: N`).")
@click.option("--schema", is_flag=True, help="Print every key of an experiment file: type, default, allowed "
                                             "values, description.")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown"]), default=None,
              help="With --schema: text (default) or markdown (docs/experiment-schema.md).")
@data_dir_option
@debug_option
def config(experiment_file, variants, overrides, seed, schema, fmt, data_dir, debug):
    """Print the resolved config of every run of EXPERIMENT_FILE, or the schema with --schema.

    Each run is one YAML document (`---` between them) headed by a `# run: NAME` comment, with
    every default filled in: exactly the config.yaml its run folder would hold. Nothing is
    trained or written.

    \b
    Examples:
      nnx config experiments/quickstart.yaml
      nnx config experiments/mnist_regularization.yaml --variant ridge --set training.epochs=5
      nnx config --schema
      nnx config --schema --format markdown > docs/experiment-schema.md
    """
    from ..errors import ConfigError

    if schema:
        given = [o for o, used in ((experiment_file, experiment_file), ("--variant", variants),
                                   ("--set", overrides), ("--seed", seed is not None)) if used]
        if given:
            raise ConfigError(f"--schema describes every experiment file; it takes no {given[0]} "
                              "(drop it, or drop --schema)")
        from ..config.reference import schema_reference

        click.echo(schema_reference(fmt or "text"), nl=False)
        return
    if fmt is not None:
        raise ConfigError(f"--format {fmt}: applies to --schema only; a run's config is printed as YAML")
    if experiment_file is None:
        raise ConfigError("nnx config: give an EXPERIMENT_FILE (or --schema for every key)")
    from ..config import dump_run_config, load_experiment

    experiment = load_experiment(experiment_file, overrides=overrides, seed=seed, only=variants,
                                 only_option="--variant", data_dir=data_dir, max_runs=None)  # prints, runs nothing
    documents = [f"# run: {spec.run_name}\n{dump_run_config(spec)}" for spec in experiment.runs]
    click.echo("---\n".join(documents), nl=False)
