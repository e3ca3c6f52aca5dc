"""What every `eidola` click command shares: user errors as one line, never a traceback."""

from __future__ import annotations

import sys

import click

from eidola.errors import EidolaError


class OneLineErrorGroup(click.Group):
    """A click group that prints EidolaError as ``error: <message>`` and exits with status 2,
    also when the group is used on its own (tests, scripts)."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        from eidola import interrupts

        interrupts.install()
        try:
            return super().invoke(ctx)
        except EidolaError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except MemoryError as exc:
            from eidola.memory import out_of_memory_message

            click.echo(f"error: {out_of_memory_message(exc)}", err=True)
            sys.exit(2)
        except RecursionError:
            click.echo("error: the input is nested too deeply to read", err=True)
            sys.exit(2)
        except KeyboardInterrupt as exc:
            said = str(exc) if exc.args and " " in str(exc) else "partial outputs were removed"
            interrupts.report_and_exit(said)
