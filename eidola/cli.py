"""The `eidola` command: a thin click shell over library functions notebooks can call directly."""

from __future__ import annotations

import click

from eidola import __version__
from eidola.cli_support import OneLineErrorGroup


@click.group(cls=OneLineErrorGroup)
@click.version_option(__version__, prog_name="eidola")
def main() -> None:
    """Eidola: GPU-to-GPU traffic of fused compute+communication kernels, replayed."""


def _register() -> None:
    from eidola.plot.cli import plot_group
    from eidola.profile.cli import profile_group
    from eidola.runner import run_command
    from eidola.sweep.cli import sweep_command

    for command in (profile_group, run_command, sweep_command, plot_group):
        main.add_command(command)


_register()


if __name__ == "__main__":
    main()
