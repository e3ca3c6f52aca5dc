"""The built-in backend's Python face: run a profile on a topology, get a RunResult."""

from eidola.engine.run import RunResult, run

__all__ = ["RunResult", "run"]
