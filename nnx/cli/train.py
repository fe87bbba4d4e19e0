"""`nnx train`: every variant and seed of an experiment file, or `--resume` of one run."""

from __future__ import annotations

import click

from .common import data_dir_option, debug_option, device_option, exit_for, print_runs_table
from .config import SET_HELP


@click.command()
@click.argument("experiment_file", type=click.Path(dir_okay=True, path_type=str), required=False)
@click.option("--output-dir", "-o", default="outputs", show_default=True, type=click.Path(file_okay=False),
              help="Where run folders are written: OUTPUT_DIR/<experiment>/<time>-<run>/.")
@data_dir_option
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=SET_HELP)
@click.option("--seed", type=int, help="Override the experiment's seed (the first seed with `seeds: N`).")
@click.option("--only", multiple=True, metavar="VARIANT", help="Run only these variants (repeatable).")
@click.option("--sweep", "sweeps", multiple=True, metavar="KEY=A,B,C",
              help="Try each value of KEY, one run per value (repeatable: every combination); added to the "
                   "file's sweep.grid. Values with commas: KEY=[[64, 32], [128]].")
@click.option("--yes", "-y", "many_runs", is_flag=True,
              help="Start a sweep of more than 1,000 runs (without it, such a sweep is refused).")
@device_option()
@click.option("--devices", default="1", show_default=True, metavar="N|all",
              help="Train data-parallel over N local devices (or all); batches are split over them.")
@click.option("--dry-run", is_flag=True, help="List the runs that would be made, and exit.")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False, path_type=str), metavar="RUN_FOLDER",
              help="Continue an interrupted or crashed run from its last complete epoch.")
@click.option("--force", is_flag=True, help="With --resume or --continue: accept a config that differs from the run's.")
@click.option("--jobs", "-j", type=int, default=1, show_default=True, metavar="N",
              help="Train N runs at once, each in its own process, the GPUs (one per job) or CPU cores split "
                   "between them.")
@click.option("--continue", "continue_dir", type=click.Path(file_okay=False, path_type=str), metavar="FOLDER",
              help="Carry on an experiment in OUTPUT_DIR/EXPERIMENT: skip completed runs, resume interrupted or "
                   "crashed ones from their checkpoints, start the missing ones.")
@click.option("--launcher", type=click.Choice(["local", "slurm"]), default="local", show_default=True,
              help="slurm: submit the runs as one SLURM job array (submitit), resources from the launcher: "
                   "section (--set launcher.partition=gpu).")
@click.option("--wait", is_flag=True, help="With --launcher slurm: wait for the tasks, then print the table.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors and the final table.")
@debug_option
def train(experiment_file, output_dir, data_dir, overrides, seed, only, sweeps, many_runs, device, devices, dry_run,
          resume_dir, force, jobs, continue_dir, launcher, wait, quiet, debug):
    """Train every variant and seed of EXPERIMENT_FILE, each into its own run folder.

    \b
    Examples:
      nnx train experiments/quickstart.yaml
      nnx train experiments/mnist_regularization.yaml --only dropout --set training.epochs=10
      nnx train experiments/mnist_mlp.yaml --dry-run
      nnx train experiments/mnist_mlp.yaml --sweep regularization.l2=1e-4,1e-3 --dry-run
      nnx train --resume outputs/mnist_mlp/20261126-101500-default
      nnx train experiments/mnist_regularization.yaml --jobs 2
      nnx train experiments/mnist_regularization.yaml --continue outputs/mnist_regularization
      nnx train experiments/mnist_regularization.yaml --launcher slurm --set launcher.time_min=30 --wait
    """
    from .. import runtime

    if devices != "all" and not devices.isdigit():
        raise click.BadParameter(f"'{devices}' is not a number of devices or 'all'", param_hint="--devices")
    launched = _check_launch_options(jobs, continue_dir, launcher, wait, resume_dir, experiment_file)
    if resume_dir:
        _refuse_options_resume_ignores(seed, only, sweeps)
        if dry_run:
            from ..runner import describe_resume

            click.echo(describe_resume(resume_dir))
            return
    # JAX reads its settings when it is first imported, and loading an experiment imports it (the
    # model families are Flax modules): the compilation cache and the platform are set first.
    runtime.use_compilation_cache()
    runtime.select_device(device)
    if launched:  # this process only plans and watches: it must not claim the GPUs' memory
        import os

        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    runtime.start_distributed()
    from ..config import load_experiment
    from ..config.schema import MAX_RUNS

    if resume_dir:
        _resume(experiment_file, resume_dir, overrides, force, device, data_dir, quiet, devices)
        return
    if experiment_file is None:
        raise click.UsageError("give an EXPERIMENT_FILE (or --resume RUN_FOLDER)")
    experiment = load_experiment(experiment_file, overrides=overrides, seed=seed, only=only, data_dir=data_dir,
                                 sweeps=sweeps, max_runs=None if many_runs or dry_run else MAX_RUNS)
    if dry_run:
        _print_plan(experiment, output_dir, continue_dir, force)
        return
    from ..report import ConsoleReporter
    from ..runner import run_experiment

    if launched:
        _launch(experiment, output_dir, jobs, launcher, continue_dir, force, wait, data_dir, device, devices, quiet,
                experiment_file)
        return

    runtime.check_device(device)
    output_dir, quiet = runtime.primary_writes(output_dir, quiet)
    outcomes = run_experiment(experiment, output_dir=output_dir, data_dir=data_dir,
                              reporter=ConsoleReporter(quiet=quiet), debug=debug, devices=devices)
    print_runs_table([o.folder for o in outcomes])
    exit_for(outcomes)


def _refuse_options_resume_ignores(seed, only, sweeps=()) -> None:
    """A resumed run keeps its folder, seed and variant: options that would choose others are errors."""
    from click.core import ParameterSource

    source = click.get_current_context().get_parameter_source
    given = [name for name, used in (("--seed", seed is not None), ("--only", bool(only)), ("--sweep", bool(sweeps)),
                                     ("--output-dir", source("output_dir") == ParameterSource.COMMANDLINE)) if used]
    if given:
        from ..errors import ConfigError

        raise ConfigError(f"{', '.join(given)} cannot be used with --resume: the run keeps its own folder, "
                          "seed and variant (change its config with --set KEY=VALUE --force)")


def _resume(experiment_file, resume_dir, overrides, force, device, data_dir, quiet, devices) -> None:
    from .. import runtime
    from ..config import load_experiment

    experiment = load_experiment(experiment_file, data_dir=data_dir, max_runs=None) if experiment_file else None
    from ..report import ConsoleReporter, err_console
    from ..runner import resume_run

    runtime.check_device(device)
    outcome = resume_run(resume_dir, overrides=overrides, force=force, experiment=experiment, data_dir=data_dir,
                         reporter=ConsoleReporter(quiet=quiet), devices=devices)
    if outcome.status == "completed" and outcome.error:
        err_console.print(f"{resume_dir}: {outcome.error}")
        return
    print_runs_table([outcome.folder])
    exit_for([outcome])


def _check_launch_options(jobs, continue_dir, launcher, wait, resume_dir, experiment_file) -> bool:
    """Whether the runs go through a launcher (nnx.launch); options that do not combine are errors."""
    from ..errors import ConfigError

    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: give the number of runs to train at once, 1 or more")
    launched = jobs > 1 or continue_dir is not None or launcher != "local"
    if launched and resume_dir:
        raise ConfigError("--resume trains one run folder; use --continue OUTPUT_DIR/EXPERIMENT (with --jobs or "
                          "--launcher) for a whole experiment")
    if continue_dir is not None and experiment_file is None:
        raise ConfigError(f"--continue {continue_dir}: give the EXPERIMENT_FILE too (nnx train EXPERIMENT_FILE "
                          "--continue FOLDER)")
    if launcher == "slurm" and jobs > 1:
        raise ConfigError("--jobs is for the local launcher; with --launcher slurm, launcher.array_parallelism "
                          "sets how many tasks run at once")
    if wait and launcher != "slurm":
        raise ConfigError("--wait is for --launcher slurm (the local launchers always wait)")
    return launched


def _launch(experiment, output_dir, jobs, launcher, continue_dir, force, wait, data_dir, device, devices, quiet,
            experiment_file) -> None:
    import sys

    from .. import runtime
    from ..launch.experiment import launch_experiment
    from ..report import ConsoleReporter, err_console, print_error
    from .common import EXIT_INTERRUPTED

    runtime.check_device(device)
    launched = launch_experiment(experiment, output_dir, jobs=jobs, launcher=launcher, continue_dir=continue_dir,
                                 force=force, wait=wait, data_dir=data_dir, device=device,
                                 devices=None if devices == "1" else devices, reporter=ConsoleReporter(quiet=quiet),
                                 quiet=quiet)
    print_runs_table(launched.skipped + launched.folders)
    if launcher == "slurm" and not wait:
        return  # submitted: the table shows them queued
    outcomes = launched.outcomes
    stopped = [o for o in outcomes if o.status in ("interrupted", "queued")]
    if stopped:
        failed = [o for o in outcomes if o.status == "failed"]
        if failed:
            print_error(f"run {failed[0].spec.run_name} failed: {failed[0].error}")
        err_console.print(f"interrupted: {len(stopped)} run(s) not finished; continue with: nnx train "
                          f"{experiment_file} --continue {launched.experiment_dir}"
                          + (f" --jobs {jobs}" if jobs > 1 else "")
                          + (" --launcher slurm" if launcher == "slurm" else ""), markup=False)
        sys.exit(EXIT_INTERRUPTED)
    exit_for(outcomes)


def _print_plan(experiment, output_dir, continue_dir=None, force=False) -> None:
    if continue_dir is not None:
        from ..launch.plan import plan

        result = plan(experiment, output_dir, continue_dir, force)
        click.echo(f"{experiment.name}: --continue {continue_dir}: {len(result.skipped)} completed (skipped)")
        for task in result.tasks:
            for spec, folder in zip(task.specs, task.folders or [None] * len(task.specs)):
                click.echo(f"  {spec.run_name:<24} " + (f"resume {folder.name}" if folder else "start"))
        for folder, reason in result.failed:
            click.echo(f"  {folder.name:<24} failed, left as it is ({reason}); --resume it to retry")
        return
    from ..models import family
    from ..runner import parallel_groups

    click.echo(f"{experiment.name}: {len(experiment.runs)} run(s) into {output_dir}/{experiment.name}/")
    together = [g for g in parallel_groups(experiment.runs) if len(g) > 1]
    if together:
        click.echo(f"  trained together (one vectorized program each): {len(together)} group(s) of "
                   f"{', '.join(str(len(g)) for g in together)} runs")
    for spec in experiment.runs:
        opt = spec.training.optimizer
        how = (f"{spec.training.epochs} epochs, {opt.name} lr {opt.learning_rate:g}, batch {spec.training.batch_size}"
               if family(spec.model).network else "fitted in closed form (no training loop)")
        click.echo(f"  {spec.run_name:<24} {spec.model.type:<10} {spec.data.name:<14} seed {spec.seed:<4} {how}")
