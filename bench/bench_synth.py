"""Time and peak memory of `eidola profile synth` for large ring all-reduces (streamed to disk).

    python bench/bench_synth.py [GPUS ...]    # default 512 4096; writes bench/results/synth.json

Each size runs `eidola profile synth allreduce --gpus N --size 1GiB --algo ring` in a fresh
process (wall time of the whole command and its peak RSS) into a temporary directory.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eidola.results import atomic_write_bytes  # noqa: E402

OUT = REPO / "bench" / "results" / "synth.json"


def main(argv: list[str]) -> int:
    sizes = [int(a) for a in argv] or [512, 4096]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            out = Path(tmp) / f"ar{n}.h5"
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "eidola", "profile", "synth", "allreduce", "--gpus",
                            str(n), "--size", "1GiB", "--algo", "ring", "-o", str(out)],
                           check=True, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # MiB, max so far
            rows.append({"gpus": n, "wall_s": wall, "peak_rss_mib_so_far": rss,
                         "file_mib": out.stat().st_size / 2**20})
            print(f"{n:6d} GPUs: {wall:7.1f} s, peak RSS {rss:7.0f} MiB, file {out.stat().st_size / 2**20:7.1f} MiB")
    doc = {"units": {"wall_s": "s", "peak_rss_mib_so_far": "MiB (largest child so far)",
                     "file_mib": "MiB"}, "rows": rows}
    atomic_write_bytes(OUT, (json.dumps(doc, indent=2) + "\n").encode())
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
