"""Plots for notebooks and the `eidola plot` command (matplotlib, Agg).

Loaded on first use (PEP 562) so that `eidola run` does not pay for matplotlib and pandas.
"""

_NAMES = ("link_heatmap", "mem_channel_timeline", "polling_traffic", "save", "seed_distribution",
          "sweep_lines")


def __getattr__(name: str):
    if name not in _NAMES:
        raise AttributeError(f"module 'eidola.plot' has no attribute {name!r}")
    from eidola.plot import figures

    return getattr(figures, name)


__all__ = list(_NAMES)
