"""Plots for notebooks and the `eidola plot` command (matplotlib, Agg)."""

from eidola.plot.figures import link_heatmap, polling_traffic, save, seed_distribution, sweep_lines

__all__ = ["link_heatmap", "polling_traffic", "save", "seed_distribution", "sweep_lines"]
