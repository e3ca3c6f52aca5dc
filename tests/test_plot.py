"""Plots made from real runs and a real sweep table, checked for their content."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eidola.plot import link_heatmap, polling_traffic, save, seed_distribution, sweep_lines
from eidola.sweep import run_sweep

REPO = Path(__file__).resolve().parents[1]
CONFIG = str(REPO / "configs" / "eidola_8gpu.py")
GEMM = str(REPO / "profiles" / "gemm_rs_8gpu.h5")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("runs")
    out = {}
    for sync in ("polling", "syncmon"):
        out[sync] = d / sync
        subprocess.run([sys.executable, CONFIG, "--profile", GEMM, "--sync", sync, "--outdir", str(out[sync]),
                        "--quiet"], check=True)
    return out


def test_polling_figure_shows_reads_only_for_polling(runs, tmp_path: Path) -> None:
    fig = polling_traffic(runs["polling"], runs["syncmon"])
    left, right = fig.axes[0], fig.axes[1]
    assert sum(np.sum(l.get_ydata()) for l in left.get_lines()) > 0
    assert sum(np.sum(l.get_ydata()) for l in right.get_lines()) == 0
    assert "µs" in left.get_xlabel() and "per µs" in left.get_ylabel()
    assert "gemm_rs_8gpu.h5" in fig._suptitle.get_text()
    png = save(fig, tmp_path / "p.png")
    assert png.stat().st_size > 10_000


def test_link_heatmap_matches_link_bytes(runs) -> None:
    fig = link_heatmap(runs["syncmon"])
    image = fig.axes[0].get_images()[0].get_array()
    assert image.shape[0] == 56 and float(np.max(image)) > 0.5


def test_sweep_lines_and_seed_distribution_from_a_real_sweep(tmp_path: Path) -> None:
    t = run_sweep(CONFIG, [GEMM], {"link-bw": ["32", "64"], "sync": ["polling", "syncmon"]}, tmp_path / "a",
                  progress=False)
    fig = sweep_lines(t, "link_bw", "sync")
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2
    for l in lines:  # more bandwidth, shorter makespan
        assert l.get_ydata()[0] > l.get_ydata()[1]
    seeds = run_sweep(CONFIG, [GEMM], {"seed": [str(s) for s in range(6)]}, tmp_path / "b", progress=False)
    fig = seed_distribution(seeds)
    counts = [p.get_height() for p in fig.axes[0].patches]
    assert sum(counts) == 6
    assert seeds["makespan_ns"].nunique() > 1  # jitter and stragglers differ by seed


def test_sweep_lines_refuse_to_join_different_profiles_and_facet_them_with_by(tmp_path) -> None:
    import pandas as pd
    import pytest as _pytest

    from eidola.errors import EidolaError
    from eidola.plot import sweep_lines

    rows = [{"profile": prof, "link_bw": bw, "sync": sync, "status": "ok", "topology": "ring",
             "makespan_ns": 1000.0 * bw + (5 if prof == "b.h5" else 0)}
            for prof in ("a.h5", "b.h5") for bw in (32, 64) for sync in ("polling", "syncmon")]
    t = pd.DataFrame(rows)
    with _pytest.raises(EidolaError, match="differ in profile.*--by profile"):
        sweep_lines(t, "link_bw", "sync")
    fig = sweep_lines(t, "link_bw", "sync", by=["profile"])
    assert len(fig.axes) == 2 and {a.get_title() for a in fig.axes} == {"profile=a.h5", "profile=b.h5"}
