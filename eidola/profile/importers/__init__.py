"""Importers: recorded traces in, `Profile` out.

- `kineto`: PyTorch profiler traces with NCCL/RCCL collectives (sizes from kernel or CPU-op
  args), expanded into the same op patterns the generator uses.
- `iris`: AMD Iris device-side traces (put/get/atomics/waits per CU), op for op.
- `csv`: a plain table of ops, for hand-made profiles and other tools.
See docs/profile-format.md for the exact mappings.
"""

from __future__ import annotations

from pathlib import Path

from eidola.errors import EidolaError
from eidola.profile.model import Profile

FORMATS = ("kineto", "iris", "csv")


def import_profile(fmt: str, paths: list[str | Path], *, default_size: int | None = None,
                   gpus: int | None = None, name: str | None = None) -> Profile:
    """Import `paths` in format `fmt` (kineto, iris or csv)."""
    f = fmt.strip().lower()
    if f not in FORMATS:
        raise EidolaError(f"unknown import format {fmt!r}; choose one of {', '.join(FORMATS)}",
                          field="format")
    files = [Path(p) for p in paths]
    if not files:
        raise EidolaError("no input files given", field="input")
    if f == "kineto":
        from eidola.profile.importers.kineto import import_kineto
        return import_kineto(files, default_size=default_size, gpus=gpus, name=name)
    if default_size is not None:
        raise EidolaError(f"applies only to kineto imports, not {f}", field="default_size")
    if f == "iris":
        from eidola.profile.importers.iris import import_iris
        return import_iris(files, gpus=gpus, name=name)
    from eidola.profile.importers.csv import import_csv
    return import_csv(files, gpus=gpus, name=name)
