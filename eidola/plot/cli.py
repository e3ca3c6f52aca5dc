"""`eidola plot ...`: figures from run directories and sweep tables."""

from __future__ import annotations

import click

from eidola.cli_support import OneLineErrorGroup


@click.group("plot", cls=OneLineErrorGroup)
def plot_group() -> None:
    """Figures: polling traffic, link utilization, sweep lines, seed distributions."""


@plot_group.command("polling")
@click.argument("polling_dir")
@click.argument("syncmon_dir")
@click.option("-o", "--output", required=True, help="file.png / .svg / .pdf")
def polling_cmd(polling_dir: str, syncmon_dir: str, output: str) -> None:
    """Polling reads per µs per GPU: a polling run beside a SyncMon run."""
    from eidola.plot import polling_traffic, save

    click.echo(save(polling_traffic(polling_dir, syncmon_dir), output))


@plot_group.command("links")
@click.argument("run_dir")
@click.option("-o", "--output", required=True)
def links_cmd(run_dir: str, output: str) -> None:
    """Link utilization heatmap over time and bytes per link."""
    from eidola.plot import link_heatmap, save

    click.echo(save(link_heatmap(run_dir), output))


@plot_group.command("sweep")
@click.argument("table")
@click.option("--x", "x", required=True, help="swept column on the x axis, e.g. link_bw")
@click.option("--line", required=True, help="one line per value of this column, e.g. sync")
@click.option("--y", default="makespan_ns", show_default=True)
@click.option("--by", "by", multiple=True, metavar="COLUMN",
              help="one row of panels per value of this column (repeatable), e.g. profile")
@click.option("-o", "--output", required=True)
def sweep_cmd(table: str, x: str, line: str, y: str, by: tuple[str, ...], output: str) -> None:
    """A metric (and bus bandwidth, for collectives) against a swept parameter."""
    from eidola.plot import save, sweep_lines

    click.echo(save(sweep_lines(table, x.replace("-", "_"), line.replace("-", "_"), y,
                                by=[b.replace("-", "_") for b in by]), output))


@plot_group.command("seeds")
@click.argument("table")
@click.option("-o", "--output", required=True)
def seeds_cmd(table: str, output: str) -> None:
    """Completion-time distribution across the seeds of a sweep."""
    from eidola.plot import save, seed_distribution

    click.echo(save(seed_distribution(table), output))
