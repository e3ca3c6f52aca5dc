"""Kineto import: time and peak memory, against the file size (docs/profile-format.md).

    python bench/bench_import.py          # writes bench/results/import.json, prints a table

Each measurement runs in a fresh Python process and reports its wall time and peak resident
set (ru_maxrss, MiB), so numbers include the interpreter (~the "python -c pass" baseline,
measured too). Cases:
- the shared traces one by one, and the shared 128-rank pair together (2 recorded ranks of a
  128-rank job);
- a large trace made here by repeating the shared 2-rank trace's events K times (shifted in
  time, so every copy is a later stretch of the same job): import, and for comparison a plain
  ``json.load`` of the same file, which is what a non-streaming reader must hold.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eidola.results import atomic_write_bytes  # noqa: E402

SHARED = REPO.parent / "shared" / "traces" / "kineto"
OUT = REPO / "bench" / "results" / "import.json"
REPEAT = 20

_MEASURE = r"""
import resource, sys, time, json, gzip
t0 = time.perf_counter()
what = sys.argv[1]
if what == "import":
    from eidola.profile.importers.kineto import import_kineto
    prof = import_kineto(sys.argv[2:])
    extra = {"ops": prof.num_ops, "gpus": prof.num_gpus, "iterations": prof.num_iterations}
elif what == "json.load":
    with gzip.open(sys.argv[2], "rb") as f:
        doc = json.load(f)
    extra = {"events": len(doc["traceEvents"])}
else:
    extra = {}
wall = time.perf_counter() - t0
print(json.dumps({"wall_s": wall, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **extra}))
"""


def measure(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _MEASURE, *args], capture_output=True, text=True,
                         check=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def big_trace(dst: Path) -> Path:
    """The 2-rank trace's events repeated REPEAT times, each copy shifted past the previous."""
    doc = json.loads(gzip.open(SHARED / "allreduce_broadcast_2rank_rank0.json.gz").read())
    events = doc["traceEvents"]
    ts = [e["ts"] for e in events if isinstance(e.get("ts"), (int, float))]
    span = max(ts) - min(ts) + 1000.0
    with gzip.open(dst, "wt") as f:
        f.write('{"distributedInfo": ' + json.dumps(doc["distributedInfo"]) + ', "traceEvents": [')
        first = True
        for k in range(REPEAT):
            for e in events:
                e2 = dict(e)
                if isinstance(e2.get("ts"), (int, float)):
                    e2["ts"] = e2["ts"] + k * span
                args = e2.get("args")
                if isinstance(args, dict):  # keep ids unique per copy
                    a = dict(args)
                    for key in ("correlation", "External id"):
                        if isinstance(a.get(key), int):
                            a[key] = a[key] + k * 10_000_000
                    if isinstance(e2.get("name"), str) and e2["name"].startswith("ProfilerStep#"):
                        e2["name"] = f"ProfilerStep#{int(e2['name'][13:]) + 100 * k}"
                    e2["args"] = a
                f.write(("" if first else ",") + json.dumps(e2))
                first = False
        f.write("]}")
    return dst


def main() -> int:
    if not SHARED.exists():
        print(f"error: shared traces not found at {SHARED}", file=sys.stderr)
        return 2
    rows = [{"case": "python baseline (interpreter only)", **measure("baseline")}]
    for name in sorted(p.name for p in SHARED.glob("*.json.gz")):
        p = SHARED / name
        rows.append({"case": f"import {name}", "file_bytes": p.stat().st_size,
                     "json_bytes": len(gzip.open(p).read()), **measure("import", str(p))})
    pair = [str(SHARED / "mixed_128rank_rank0.json.gz"), str(SHARED / "mixed_128rank_rank1.json.gz")]
    rows.append({"case": "import the 128-rank pair (2 recorded ranks)", **measure("import", *pair)})
    with tempfile.TemporaryDirectory() as tmp:
        big = big_trace(Path(tmp) / "big.json.gz")
        size = big.stat().st_size
        raw = sum(len(b) for b in iter(lambda f=gzip.open(big): f.read(1 << 24), b""))
        rows.append({"case": f"import the 2-rank trace x{REPEAT}", "file_bytes": size,
                     "json_bytes": raw, **measure("import", str(big))})
        rows.append({"case": f"json.load of the same x{REPEAT} file", "file_bytes": size,
                     "json_bytes": raw, **measure("json.load", str(big))})
    for r in rows:
        mb = f"{r['json_bytes'] / 2**20:8.1f} MiB JSON" if "json_bytes" in r else " " * 17
        print(f"{r['case']:52s} {mb}  {r['wall_s']:7.2f} s  peak {r['peak_rss_mib']:7.1f} MiB")
    doc = {"units": {"wall_s": "s", "peak_rss_mib": "MiB", "file_bytes": "bytes"},
           "repeat": REPEAT, "python": sys.version.split()[0], "rows": rows}
    atomic_write_bytes(OUT, (json.dumps(doc, indent=2) + "\n").encode())
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
