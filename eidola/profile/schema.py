"""The in-memory shape of a profile: one numpy structured array of ops per GPU.

This module is the single definition of an op record. The HDF5 writer stores these arrays as
they are, the importers and generators produce them, the built-in engine hands them to the C++
core without copying per op, and the C++ HDF5 reader (``src_cc/core/profile_h5.cc``) reads the
same fields by name. Change a field here and you change the file format: bump ``FORMAT_VERSION``.
"""

from __future__ import annotations

import enum

import numpy as np

FORMAT_NAME = "eidola-profile"
FORMAT_VERSION = 1
TIME_UNIT = "ns"


class OpKind(enum.IntEnum):
    """What an op does. Values are stored in files: never renumber."""

    COMPUTE = 0  # busy the stream for dur_ns
    WRITE = 1  # P2P write of `bytes` to GPU `peer` at byte offset `addr` of its buffer
    SIGNAL = 2  # atomically add `value` to flag `flag` in GPU `peer`'s memory (release)
    WAIT = 3  # block the stream until flag `flag` >= `value` (own flag, or GPU `peer`'s if peer >= 0)
    READ = 4  # P2P read of `bytes` from GPU `peer` at offset `addr` (pull-style kernels)
    # like SIGNAL, but ordered without a fence: issued right behind the stream's earlier
    # writes without waiting for their acknowledgements, and delivered after them (same path).
    # NVSHMEM putmem_signal_nbi; NCCL/RCCL LL and LL128, whose flags travel inside the data.
    SIGNAL_NBI = 5


#: Kinds that add to a flag in the peer's memory.
SIGNAL_KINDS = (OpKind.SIGNAL, OpKind.SIGNAL_NBI)

KIND_NAMES: dict[int, str] = {k.value: k.name.lower() for k in OpKind}
KIND_BY_NAME: dict[str, OpKind] = {k.name.lower(): k for k in OpKind}

#: One op. Field order is the on-disk order; readers (C++ included) match fields by name.
#: - t_ns: recorded start time from the profile's start (ns), used by timed replay.
#: - dur_ns: compute duration (compute ops); recorded duration for the others (informative).
#: - stream: issuing agent inside the GPU (workgroup, CU, DMA queue); ops of one stream
#:   run in file order, streams run concurrently.
#: - peer: destination GPU of write/signal/read; a wait's flag home when remote; -1 otherwise.
#: - flag: flag index in the owner's flag array (signal: owner = peer; wait: owner = peer if
#:   peer >= 0, else self).
#: - value: signal increment or wait threshold.
#: - bytes: payload bytes of write/read.
#: - addr: byte offset inside the peer's data buffer (write/read).
#: - iteration: which recorded iteration this op belongs to (0 when only one).
OP_DTYPE = np.dtype(
    [
        ("t_ns", "<f8"),
        ("dur_ns", "<f8"),
        ("bytes", "<u8"),
        ("addr", "<u8"),
        ("value", "<i8"),
        ("peer", "<i4"),
        ("flag", "<i4"),
        ("stream", "<u4"),
        ("kind", "u1"),
        ("iteration", "<u2"),
    ]
)


def empty_ops(n: int = 0) -> np.ndarray:
    """An op array of length n with the 'does not apply' markers (-1) already set."""
    ops = np.zeros(n, dtype=OP_DTYPE)
    ops["peer"] = -1
    ops["flag"] = -1
    return ops
