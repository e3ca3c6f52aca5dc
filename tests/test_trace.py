"""--trace writes a Perfetto/Chrome timeline whose slices match the run's ops."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from eidola.profile import profile_info

REPO = Path(__file__).resolve().parents[1]


def test_trace_has_a_slice_per_op_and_link_counters(tmp_path: Path) -> None:
    profile = REPO / "profiles" / "gemm_rs_8gpu.h5"
    trace = tmp_path / "t.json"
    p = subprocess.run([sys.executable, str(REPO / "configs" / "eidola_8gpu.py"), "--profile", str(profile),
                        "--sync", "syncmon", "--outdir", str(tmp_path / "o"), "--trace", str(trace), "--quiet"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    events = json.loads(trace.read_text())["traceEvents"]
    info = profile_info(profile)
    by_kind: dict[str, int] = {}
    for e in events:
        if e["ph"] in ("X", "i"):
            by_kind[e["name"]] = by_kind.get(e["name"], 0) + 1
    # every op of the profile appears once (compute ops of zero length included)
    for kind in ("write", "signal", "wait", "compute"):
        assert by_kind.get(kind, 0) == info["ops_by_kind"][kind], kind
    gpus = {e["pid"] for e in events if e["ph"] == "X"}
    assert gpus == set(range(8))
    counters = [e for e in events if e["ph"] == "C"]
    assert counters and all(0 <= e["args"]["utilization"] <= 1.0001 for e in counters)
    assert max(e["args"]["utilization"] for e in counters) > 0.5
