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
    from eidola.profile.cli import profile_group

    main.add_command(profile_group)
    for module, name in (("eidola.runner", "run_command"), ("eidola.sweep.cli", "sweep_command"),
                         ("eidola.plot.cli", "plot_group")):
        try:
            mod = __import__(module, fromlist=[name])
        except ModuleNotFoundError as exc:  # a part not built yet must not break the others
            if exc.name and exc.name.startswith("eidola"):
                continue
            raise
        main.add_command(getattr(mod, name))


_register()


if __name__ == "__main__":
    main()
