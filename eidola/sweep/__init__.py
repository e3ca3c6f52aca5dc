"""Parameter sweeps: many runs of a config over a grid, on a local pool or a Dask cluster."""

from eidola.sweep.points import Point, make_points, parse_grid
from eidola.sweep.run import run_sweep

__all__ = ["Point", "make_points", "parse_grid", "run_sweep"]
