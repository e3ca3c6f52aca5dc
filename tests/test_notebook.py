"""The polling-traffic notebook runs top to bottom and produces its figures."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]


def test_polling_traffic_notebook_runs_and_makes_its_figures(tmp_path: Path) -> None:
    shutil.copy(REPO / "notebooks" / "polling_traffic.ipynb", tmp_path)
    nb = nbformat.read(tmp_path / "polling_traffic.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    for name in ("polling_traffic.png", "makespan_vs_poll_interval.png", "waiters.png", "gemm_poll_interval.png",
                 "syncmon_capacity.png", "mem_channel_timeline.png"):
        assert (tmp_path / "figures" / name).stat().st_size > 10_000
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert len(images) == 6
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "polling reads" in text and "syncmon" in text
