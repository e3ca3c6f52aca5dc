"""How much recorded kernel and compute times vary, in the terms `synth` understands.

Why: a recorded profile replays the variability the hardware showed, iteration by iteration;
a synthetic one draws it (``compute_cv``: coefficient of variation of a mean-1 multiplicative
jitter on compute durations). Fitting the recorded spread into the same parameter lets a study
run synthetic kernels "as noisy as that job was" (``eidola profile synth ... --jitter-from
PROFILE``).

Method. Samples are grouped into classes of things that should take the same time: a
collective kernel class is (kind, size, group size); a compute gap class is the pair (class of
the kernel before it, class of the kernel after it) on one stream. Each sample is divided by its
class mean (classes with one sample carry no spread and are left out), and the coefficient of
variation is the standard deviation (ddof 1) of the pooled normalised samples.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from eidola.errors import EidolaError

#: fewer pooled samples than this and a fit is reported as None (ddof-1 std of 1 sample is NaN)
MIN_SAMPLES = 2


def pooled_cv(classes: Iterable[list[float]]) -> tuple[float | None, int, int]:
    """(pooled CV, samples used, classes used) of groups of same-class samples."""
    norm: list[np.ndarray] = []
    used = 0
    for xs in classes:
        a = np.asarray(xs, dtype=np.float64)
        a = a[np.isfinite(a)]
        if len(a) < 2 or a.mean() <= 0:
            continue
        norm.append(a / a.mean())
        used += 1
    if not norm:
        return None, 0, 0
    allv = np.concatenate(norm)
    if len(allv) < MIN_SAMPLES:
        return None, len(allv), used
    return float(np.std(allv, ddof=1)), int(len(allv)), used


def fit_records(records: Iterable[tuple[Any, int, str, int, int, float, float]]) -> dict[str, Any]:
    """Fit from kernel records (rank, stream, kind, size, group size, start ns, duration ns).

    Returns ``{"compute_cv", "compute_samples", "by_kind": {kind: {"cv", "samples",
    "classes"}}, "method"}``; a CV is None when no class has two samples.
    """
    by_class: dict[tuple, list[float]] = defaultdict(list)
    streams: dict[tuple, list[tuple[float, float, tuple]]] = defaultdict(list)
    for rank, stream, kind, size, n, start, dur in records:
        cls = (kind, int(size), int(n))
        by_class[cls].append(float(dur))
        streams[(rank, stream)].append((float(start), float(dur), cls))
    gaps: dict[tuple, list[float]] = defaultdict(list)
    for seq in streams.values():
        seq.sort(key=lambda x: x[0])
        for (s0, d0, c0), (s1, _, c1) in zip(seq, seq[1:]):
            gap = s1 - (s0 + d0)
            if gap > 0:
                gaps[(c0, c1)].append(gap)
    by_kind: dict[str, dict[str, Any]] = {}
    kinds = sorted({c[0] for c in by_class})
    for kind in kinds:
        cv, samples, classes = pooled_cv(v for c, v in by_class.items() if c[0] == kind)
        by_kind[kind] = {"cv": cv, "samples": samples, "classes": classes}
    compute_cv, compute_samples, _ = pooled_cv(gaps.values())
    return {"compute_cv": compute_cv, "compute_samples": compute_samples, "by_kind": by_kind,
            "method": "pooled CV of samples normalised by their class mean (eidola.profile."
                      "variability_fit)"}


def spans_summary(spans_ns: list[float]) -> dict[str, float | None]:
    """Mean, min, max and CV of per-iteration spans (ns)."""
    a = np.asarray([s for s in spans_ns if s > 0], dtype=np.float64)
    if len(a) == 0:
        return {"mean_ns": None, "min_ns": None, "max_ns": None, "cv": None}
    return {"mean_ns": float(a.mean()), "min_ns": float(a.min()), "max_ns": float(a.max()),
            "cv": float(np.std(a, ddof=1) / a.mean()) if len(a) > 1 else None}


def recorded_compute_cv(profile_path: str | Path) -> float:
    """The compute-gap CV fitted when `profile_path` was imported (for synth --jitter-from)."""
    from eidola.profile.io import ProfileReader

    with ProfileReader(profile_path) as r:
        fit = (r.attrs.get("parameters") or {}).get("variability_fit")
    if not isinstance(fit, dict):
        raise EidolaError("has no variability fit (only profiles imported from traces carry one)",
                          path=Path(profile_path), field="parameters.variability_fit")
    cv = fit.get("compute_cv")
    if cv is None:
        raise EidolaError("its trace has no two compute gaps of the same class to fit a CV from",
                          path=Path(profile_path), field="parameters.variability_fit.compute_cv")
    return float(cv)
