"""The same runs on two checkouts of Eidola, alternated run by run.

    python bench/compare_builds.py OLD_CHECKOUT NEW_CHECKOUT [--pairs 2] [--gpus 2048 4096] [--pod 4096]

Why alternate: this machine's speed drifts by 15% within minutes and by 2x over a day, so two
builds timed an hour apart say little; run by run, both see the same machine. Each checkout
needs its extension built in place (`python setup.py build_ext --inplace` in it). Cases:
- `--gpus N`: `eidola run` of a ring all-reduce of 1 GiB per GPU on N GPUs from a profile
  file (written once by NEW's `eidola profile synth`), as bench/compare_astrasim_speed.py runs
  it: whole command wall time, and the summary's load / simulate split where the build has it.
- `--pod N`: bench/bench_scale.py's NVLS-tree pod on N GPUs (in memory, no file).
Results (makespan, events) must agree between the builds; the script says so when they do not.
Writes bench/results/compare_builds.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eidola.results import atomic_write_bytes  # noqa: E402

OUT = REPO / "bench" / "results" / "compare_builds.json"


def run_in(checkout: Path, args: list[str], cwd: Path) -> tuple[float, str]:
    """Wall seconds and stdout of `python args...` with `checkout` first on the import path."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{checkout}: {' '.join(args)} failed: {p.stderr.strip()[-300:]}")
    return wall, p.stdout


def ring_point(checkout: Path, profile: Path, work: Path) -> dict:
    out = work / "out"
    wall, _ = run_in(checkout, ["-m", "eidola", "run", str(checkout / "configs" / "eidola_8gpu.py"),
                                "--profile", str(profile), "--topology", "ring", "--link-bw", "100",
                                "--link-latency", "500", "--packet-size", "1MiB", "--sync", "syncmon",
                                "--no-series", "--quiet", "--outdir", str(out)], work)
    s = json.loads((out / "summary.json").read_text())
    return {"whole_s": wall, "load_s": s.get("load_seconds"), "simulate_s": s.get("simulate_seconds"),
            "makespan_ns": s["makespan_ns"], "events": s["events"]}


def pod_point(checkout: Path, n: int, work: Path) -> dict:
    wall, out = run_in(checkout, [str(checkout / "bench" / "bench_scale.py"), "--child", str(n)], work)
    r = json.loads(out.strip().splitlines()[-1])
    return {"whole_s": wall, "engine_s": r["engine_s"], "makespan_ns": r["makespan_ns"], "events": r["events"]}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--pairs", type=int, default=2)
    ap.add_argument("--gpus", type=int, nargs="*", default=[2048])
    ap.add_argument("--pod", type=int, nargs="*", default=[])
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    old, new = a.old.resolve(), a.new.resolve()
    rows = []
    with tempfile.TemporaryDirectory(prefix="eidola-builds-") as tmp:
        work = Path(tmp)
        cases: list[tuple[str, object]] = []
        for n in a.gpus:
            prof = work / f"ring{n}.h5"
            run_in(new, ["-m", "eidola", "profile", "synth", "allreduce", "--gpus", str(n), "--size", "1GiB",
                         "--algo", "ring", "-o", str(prof)], work)
            cases.append((f"ring {n} GPUs from a file", lambda c, p=prof: ring_point(c, p, work)))
        for n in a.pod:
            cases.append((f"pod {n} GPUs (NVLS tree, rail-optimized)", lambda c, n=n: pod_point(c, n, work)))
        for name, point in cases:
            runs = {"old": [], "new": []}
            for _ in range(a.pairs):
                for label, checkout in (("old", old), ("new", new)):
                    runs[label].append(point(checkout))
                    r = runs[label][-1]
                    print(f"{name}: {label} {r['whole_s']:.2f} s whole"
                          + (f" (load {r['load_s']:.2f} s, simulate {r['simulate_s']:.2f} s)"
                             if r.get("simulate_s") is not None else ""), flush=True)
            same = len({(r["makespan_ns"], r["events"]) for r in runs["old"] + runs["new"]}) == 1
            if not same:
                print(f"{name}: RESULTS DIFFER between the builds", flush=True)
            rows.append({"case": name, "same_results": same, **runs})
    def commit(checkout: Path) -> str | None:
        p = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", str(checkout), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return (p.stdout.strip() + (" + uncommitted changes" if dirty else "")) if p.returncode == 0 else None

    doc = {"old": str(old), "old_commit": commit(old), "new": str(new), "new_commit": commit(new), "units": {"*_s": "s (wall)", "makespan_ns": "ns (simulated)"},
           "rows": rows}
    atomic_write_bytes(a.out, (json.dumps(doc, indent=2) + "\n").encode())
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
