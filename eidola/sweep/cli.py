"""`eidola sweep`: the command-line face of eidola.sweep.run_sweep."""

from __future__ import annotations

import os
from pathlib import Path

import click

from eidola.errors import EidolaError


def _load_spec(path: str) -> dict:
    import yaml

    try:
        spec = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise EidolaError(f"cannot read the sweep spec: {exc}".splitlines()[0], path=path) from None
    if not isinstance(spec, dict):
        raise EidolaError("must be a mapping (config, profiles, grid, ...)", path=path)
    return spec


@click.command("sweep")
@click.argument("config", required=False)
@click.option("--profile", "profiles", multiple=True, help="profile file (repeatable)")
@click.option("--grid", "grids", multiple=True, help="KEY=V1,V2,... over a config argument (repeatable)")
@click.option("--set", "fixed", multiple=True, help="KEY=VALUE passed to every point (repeatable)")
@click.option("--spec", type=click.Path(dir_okay=False), help="YAML file with the same settings")
@click.option("--backend", type=click.Choice(["builtin", "gem5"]), default=None)
@click.option("--gem5", "gem5", default=None, help="gem5.opt built with Eidola (default $EIDOLA_GEM5)")
@click.option("--executor", type=click.Choice(["local", "dask"]), default=None)
@click.option("--scheduler", default=None, help="Dask scheduler address (tcp://host:8786)")
@click.option("--workers", type=int, default=None, help="parallel points (local) or Dask workers")
@click.option("--timeout", type=float, default=None, help="seconds per point")
@click.option("--out", "out", default=None, help="sweep directory")
def sweep_command(config, profiles, grids, fixed, spec, backend, gem5, executor, scheduler, workers,
                  timeout, out) -> None:
    """Run CONFIG over every combination of --grid values and --profile files; one row per
    point in OUT/results.parquet. Rerunning skips finished points."""
    from eidola.sweep import parse_grid, run_sweep

    s = _load_spec(spec) if spec else {}
    config = config or s.get("config")
    if not config:
        raise EidolaError("no config given", field="config")
    grid = parse_grid(list(grids)) if grids else {k: [str(v) for v in vs] for k, vs in (s.get("grid") or {}).items()}
    fixed_args = {k: str(v) for k, v in (s.get("set") or {}).items()}
    for item in fixed:
        k, sep, v = item.partition("=")
        if not sep:
            raise EidolaError(f"'{item}' is not KEY=VALUE", field="set")
        fixed_args[k.lstrip("-")] = v
    out = out or s.get("out")
    if not out:
        raise EidolaError("no output directory (--out)", field="out")
    table = run_sweep(config, list(profiles) or list(s.get("profiles") or []), grid, out,
                      fixed_args=fixed_args, backend=backend or s.get("backend", "builtin"),
                      executor=executor or s.get("executor", "local"),
                      workers=workers or int(s.get("workers", 2)), scheduler=scheduler or s.get("scheduler"),
                      gem5=gem5 or s.get("gem5") or os.environ.get("EIDOLA_GEM5"),
                      timeout=timeout or s.get("timeout"))
    ok = int((table["status"] == "ok").sum()) if len(table) else 0
    click.echo(f"{len(table)} points ({ok} ok, {len(table) - ok} failed or timed out): {Path(out) / 'results.parquet'}")
    if len(table) and ok == 0:  # nothing to plot or publish: say so with a failing status
        first = str(table["error"].iloc[0]).splitlines()[0].removeprefix("error: ") if "error" in table else ""
        raise EidolaError(f"every point of the sweep failed (first: {first})",
                          path=Path(out) / "results.parquet")
