"""Importers: recorded traces in, `Profile` out.

- `kineto`: PyTorch profiler traces with NCCL/RCCL collectives (sizes from kernel or CPU-op
  args), expanded into the same op patterns the generator uses.
- `chakra`: MLCommons Chakra execution traces (ASTRA-sim's workload format), one file a rank.
- `iris`: AMD Iris device-side traces (put/get/atomics/waits per CU), op for op.
- `csv`: a plain table of ops, for hand-made profiles and other tools.
See docs/profile-format.md for the exact mappings.
"""

from __future__ import annotations

from pathlib import Path

from eidola.errors import EidolaError
from eidola.profile.model import Profile

FORMATS = ("kineto", "chakra", "iris", "csv")


def import_profile(fmt: str, paths: list[str | Path], *,
                   default_size: int | dict[str, int] | None = None, gpus: int | None = None,
                   name: str | None = None, align: str = "auto",
                   allow_rank_mismatch: bool = False) -> Profile:
    """Import `paths` in format `fmt` (kineto, chakra, iris or csv).

    `default_size`, `align` and `allow_rank_mismatch` apply to Kineto traces only (see
    eidola.profile.importers.kineto).
    """
    f = fmt.strip().lower()
    if f not in FORMATS:
        raise EidolaError(f"unknown import format {fmt!r}; choose one of {', '.join(FORMATS)}",
                          field="format")
    files = [Path(p) for p in paths]
    if not files:
        raise EidolaError("no input files given", field="input")
    if f == "kineto":
        from eidola.profile.importers.kineto import import_kineto
        return import_kineto(files, default_size=default_size, gpus=gpus, name=name,
                             align_mode=align, allow_rank_mismatch=allow_rank_mismatch)
    if align != "auto" or allow_rank_mismatch:
        raise EidolaError(f"applies only to kineto imports, not {f}",
                          field="align" if align != "auto" else "allow_rank_mismatch")
    if f == "chakra":
        from eidola.profile.importers.chakra import import_chakra
        return import_chakra(files, default_size=default_size, gpus=gpus, name=name)
    if default_size is not None:
        raise EidolaError(f"applies only to kineto imports, not {f}", field="default_size")
    if f == "iris":
        from eidola.profile.importers.iris import import_iris
        return import_iris(files, gpus=gpus, name=name)
    from eidola.profile.importers.csv import import_csv
    return import_csv(files, gpus=gpus, name=name)
