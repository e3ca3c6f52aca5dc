"""Where a run's loading time goes: opening a profile, reading its ops, checking them.

    python bench/bench_load.py [GPUS ...]     # default 2048; writes bench/results/load.json

For each size, `eidola profile synth allreduce --gpus N --size 1GiB --algo ring` writes a
profile into a temporary directory; then, in this process, the same steps `eidola run` takes
before simulating are timed one by one, GPU by GPU as a run feeds the engine: opening the file
and reading its header, `ProfileReader.read_ops` (with its read-ahead decoding), the replay
checks of each GPU (`ReplayGate.checked`) and the flag-reachability check over all GPUs
(`ReplayGate.finish`). Converting the ops into the core's programs (C++, on a worker thread
beside these steps) is not included: `eidola run`'s summary reports the whole load as
`load_seconds`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eidola.profile import open_profile  # noqa: E402
from eidola.profile.validate import ReplayGate  # noqa: E402
from eidola.results import atomic_write_bytes  # noqa: E402

OUT = REPO / "bench" / "results" / "load.json"


def measure(path: Path) -> dict:
    t0 = time.perf_counter()
    with open_profile(path) as reader:
        header_s = time.perf_counter() - t0
        gate = ReplayGate(reader.num_gpus, int(reader.attrs.get("num_iterations", 1) or 1),
                          dict(reader.variability), path)
        read_s = check_s = 0.0
        ops_total = 0
        for g in range(reader.num_gpus):
            a = time.perf_counter()
            ops = np.ascontiguousarray(reader.read_ops(g))
            b = time.perf_counter()
            gate.checked(g, ops)
            check_s += time.perf_counter() - b
            read_s += b - a
            ops_total += len(ops)
        a = time.perf_counter()
        gate.finish()
        finish_s = time.perf_counter() - a
    return {"ops": ops_total, "header_s": header_s, "read_s": read_s, "check_s": check_s,
            "finish_s": finish_s, "total_s": header_s + read_s + check_s + finish_s}


def main(argv: list[str]) -> int:
    sizes = [int(a) for a in argv] or [2048]
    rows = []
    with tempfile.TemporaryDirectory(prefix="eidola-load-") as tmp:
        for n in sizes:
            prof = Path(tmp) / f"ring{n}.h5"
            subprocess.run([sys.executable, "-m", "eidola", "profile", "synth", "allreduce", "--gpus", str(n),
                            "--size", "1GiB", "--algo", "ring", "-o", str(prof)], check=True,
                           capture_output=True, cwd=REPO)
            row = {"gpus": n, **measure(prof)}
            rows.append(row)
            print(f"{n:5d} GPUs, {row['ops']:,} ops: header {row['header_s']:.2f} s, read {row['read_s']:.2f} s, "
                  f"check {row['check_s']:.2f} s, flag check {row['finish_s']:.2f} s; "
                  f"total {row['total_s']:.2f} s", flush=True)
    doc = {"work": "ring all-reduce of 1 GiB per GPU, profile written by eidola profile synth",
           "units": {"*_s": "s (wall, this process)"}, "rows": rows}
    atomic_write_bytes(OUT, (json.dumps(doc, indent=2) + "\n").encode())
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
