"""The `nnx` command: a thin Click layer over the library, one module per command.

Commands parse their options, call the library, and render with Rich. Heavy imports (JAX, Flax,
Optax) happen inside the commands, so `nnx --help` answers at once.
"""

from __future__ import annotations

import sys

import click

from .. import __version__
from ..runtime import compilation_cache_dir, use_compilation_cache  # noqa: F401  (public API, tested)
from .common import EXIT_INTERRUPTED, EXIT_RUN_FAILED


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="nnx")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def cli(debug: bool) -> None:
    """nnx: run the neural-network experiments of ISLR/ISLP chapter 10 from YAML files.

    \b
    Examples:
      nnx train experiments/quickstart.yaml
      NNX_DATA_DIR=~/data nnx train experiments/mnist_mlp.yaml --set training.epochs=5
      nnx compare outputs/mnist_regularization
      nnx show outputs/mnist_mlp/20261202-001500-default --plot confusion.png
      nnx predict outputs/mnist_mlp/<run> digit.png
      nnx count-params experiments/mnist_mlp.yaml
    """


def _register() -> None:
    from .compare import compare
    from .config import config
    from .count_params import count_params
    from .ensemble import ensemble
    from .predict import predict
    from .show import show
    from .train import train

    for command in (train, compare, show, predict, ensemble, count_params, config):
        cli.add_command(command)


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point: turns nnx's errors into one-line messages and exit codes."""
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        cli.main(args=argv, prog_name="nnx", standalone_mode=False)
    except click.exceptions.Abort:  # Click's form of Ctrl-C
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as e:
        from ..errors import NnxError

        if debug:
            raise
        from ..report import print_error

        if isinstance(e, NnxError):
            print_error(str(e))
            sys.exit(e.exit_code)
        print_error(f"internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback, "
                    "and please report it)")
        sys.exit(EXIT_RUN_FAILED)


if __name__ == "__main__":
    main()
