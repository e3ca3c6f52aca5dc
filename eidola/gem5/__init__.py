"""The gem5 backend's Python glue. Importable everywhere; `m5` is imported only inside gem5
(the functions below are called by the runner when it finds itself in gem5.opt)."""

from __future__ import annotations

from typing import Any

from eidola.errors import EidolaError


def profile_header(path: str) -> dict[str, Any]:
    """A profile's header read by the C++ HDF5 reader compiled into gem5 (never h5py, which
    breaks inside a gem5 that links HDF5)."""
    from _m5 import eidola_profile  # type: ignore[import-not-found]  (gem5 only)

    try:
        return dict(eidola_profile.header(str(path)))
    except ValueError as exc:
        raise EidolaError(str(exc)) from None


def profile_summary(path: str) -> dict[str, Any]:
    from _m5 import eidola_profile  # type: ignore[import-not-found]

    try:
        return dict(eidola_profile.summary(str(path)))
    except ValueError as exc:
        raise EidolaError(str(exc)) from None


def profile_time_origin(path: str, iteration: int) -> float:
    """The earliest recorded start (ns) of `iteration`'s ops over all GPUs: timed replay's 0,
    as the built-in engine counts it."""
    from _m5 import eidola_profile  # type: ignore[import-not-found]

    try:
        return float(eidola_profile.time_origin(str(path), int(iteration)))
    except ValueError as exc:
        raise EidolaError(str(exc)) from None
