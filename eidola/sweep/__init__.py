"""Parameter sweeps: many runs of a config over a grid, on a local pool or a Dask cluster.

Loaded on first use (PEP 562) so that other commands do not pay for pandas.
"""

_WHERE = {"Point": "points", "make_points": "points", "parse_grid": "points", "run_sweep": "run"}


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'eidola.sweep' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"eidola.sweep.{module}"), name)


__all__ = list(_WHERE)
