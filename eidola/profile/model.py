"""The in-memory profile: what every generator and importer returns and the writer stores.

Why a plain dataclass: the engine, notebooks and tests hold profiles as numpy arrays (one op
array per GPU) and read a few attributes; anything richer would have to be unpacked again
before it reaches the C++ core.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eidola.profile.schema import OP_DTYPE

#: Variability parameters the replay engine understands, with their "no variability" values.
DEFAULT_VARIABILITY: dict[str, float] = {
    "compute_cv": 0.0,
    "straggler_prob": 0.0,
    "straggler_slowdown": 1.0,
}

#: Root attributes whose values are JSON documents on disk and Python objects in memory.
JSON_ATTRS = ("parameters", "source_files")


@dataclass
class Profile:
    """A traffic profile: `num_gpus` GPUs, each with one OP_DTYPE array sorted stream-major.

    `attrs` holds metadata and provenance (``name``, ``kind``, ``importer``, ``collectives``,
    ``num_iterations``, ``parameters`` as a dict, ``source_files`` as a list of
    ``{"name", "sha256"}``); `variability` the generator parameters the engine applies
    (``compute_cv``, ``straggler_prob``, ``straggler_slowdown``).
    """

    num_gpus: int
    ops: list[np.ndarray]
    attrs: dict[str, Any] = field(default_factory=dict)
    variability: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.ops) != self.num_gpus:
            raise ValueError(f"Profile has num_gpus={self.num_gpus} but {len(self.ops)} op arrays")
        for g, ops in enumerate(self.ops):
            if ops.dtype != OP_DTYPE:
                raise ValueError(f"ops of GPU {g} have dtype {ops.dtype}, expected OP_DTYPE")

    @property
    def num_ops(self) -> int:
        return int(sum(len(o) for o in self.ops))

    @property
    def num_iterations(self) -> int:
        return int(self.attrs.get("num_iterations", 1) or 1)


def stream_major(ops: np.ndarray) -> np.ndarray:
    """`ops` reordered by stream, keeping the existing order inside each stream (stable)."""
    if len(ops) < 2:
        return ops
    s = ops["stream"]
    if np.all(s[1:] >= s[:-1]):
        return ops
    return ops[np.argsort(s, kind="stable")]
