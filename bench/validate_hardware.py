"""Published nccl-tests / rccl-tests curves (all-reduce, all-gather, reduce-scatter, all-to-all) against
Eidola's library models.

    python bench/validate_hardware.py    # writes bench/results/validation_hardware.json and
                                         # prints the tables of docs/validation.md, section 3

Reference points: bench/reference/busbw.csv (bus bandwidth per message size, as the tests
print it), with where each curve comes from in bench/reference/sources.json.

For every point the built-in engine runs the collective on the matching preset (h100/h200/b200:
NVSwitch, mi300x/mi325x: xGMI full mesh, payload link rates) with the library's model
(eidola.profile.library: launch and per-step latencies, channels, ring layout, protocol wire
overhead, NVLS efficiency). The algorithm and protocol are what the library's own tuner picks
(eidola.profile.tuner, as `synth --algo auto`): "auto" points let it choose everything, forced
ones (NCCL_ALGO / NCCL_PROTO in the source) restrict it the same way. A "bare" ring (no library
model, one ring order, one channel; for an all-to-all the bare schedule of one stream visiting
the peers in turn) is run too, to show what the model adds. Error = Eidola /
measured - 1; the summary is the geometric mean of |error| over sizes >= 16 MiB, per curve and
over all curves.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eidola.engine import run  # noqa: E402
from eidola.profile.synth import synthesize, tuned_algorithm  # noqa: E402
from eidola.results import atomic_write_bytes  # noqa: E402
from eidola.topology import build_topology  # noqa: E402
from tables import GEOMEAN_FROM, PARAMS, bus_factor, geomean, per_system_tables  # noqa: E402

REFERENCE = REPO / "bench" / "reference" / "busbw.csv"
SOURCES = REPO / "bench" / "reference" / "sources.json"
OUT = REPO / "bench" / "results" / "validation_hardware.json"
MiB = 1 << 20
#: presets whose NVSwitch has NVLink SHARP (multimem), so NCCL may pick NVLS


def library_choice(coll: str, system: str, n: int, size: int, library: str, algo: str,
                   proto: str) -> tuple[str, str]:
    """The (algo, proto) the library's tuner runs for a point, within what the source forced.
    An all-to-all is not tuned: the library's send/recv rules pick channels and protocol per
    send (eidola.profile.p2p)."""
    if coll == "alltoall":
        return "direct", None
    algos = None if algo == "auto" else (algo,)
    a, p, _ = tuned_algorithm(coll, n, size, library, None if proto == "auto" else proto,
                              system, algos)
    return a, p


def bus_bandwidth(coll: str, system: str, n: int, size: int, algo: str, library: str | None,
                  proto: str | None) -> tuple[float, float, int]:
    """(busbw GB/s, makespan ns, events) of one simulated collective."""
    prof = synthesize(coll, n, size, algo=algo, library=library, proto=proto,
                      system=system if library else None)
    res = run(prof, build_topology(system, n), PARAMS)
    t = float(res.summary["makespan_ns"])
    return bus_factor(coll, n) * size / t, t, int(res.summary.get("events", 0))


def main() -> int:
    rows = list(csv.DictReader(REFERENCE.open()))
    sources = json.loads(SOURCES.read_text())
    cache: dict[tuple, tuple[float, float, int]] = {}
    t0 = time.perf_counter()

    def sim(key: tuple) -> tuple[float, float, int]:
        if key not in cache:
            cache[key] = bus_bandwidth(*key)
        return cache[key]

    points = []
    for r in rows:
        coll, system, n, size = r["collective"], r["system"], int(r["gpus"]), int(r["size_bytes"])
        measured = float(r["busbw_gbps"])
        algo, proto = library_choice(coll, system, n, size, r["library"], r["algo"], r["proto"])
        eidola = sim((coll, system, n, size, algo, r["library"], proto))[0]
        bare_algo = "direct" if coll == "alltoall" else "ring"  # one stream, peers in turn
        bare = sim((coll, system, n, size, bare_algo, None, None))[0] if size >= GEOMEAN_FROM else None
        points.append({
            "dataset": r["dataset"], "collective": coll, "system": system, "gpus": n,
            "library": r["library"], "algo": r["algo"], "proto": r["proto"], "size_bytes": size,
            "measured_gbps": measured, "eidola_gbps": eidola,
            "eidola_choice": f"{algo}-{proto or 'p2p'}", "error": eidola / measured - 1.0,
            "bare_ring_gbps": bare, "bare_ring_error": None if bare is None else bare / measured - 1.0,
        })

    big = [p for p in points if p["size_bytes"] >= GEOMEAN_FROM]
    per_dataset = {}
    for ds in dict.fromkeys(p["dataset"] for p in points):
        sel = [p for p in big if p["dataset"] == ds]
        per_dataset[ds] = {"points_ge_16MiB": len(sel),
                           "geomean_abs_error": geomean([p["error"] for p in sel]),
                           "bare_ring_geomean_abs_error": geomean([p["bare_ring_error"] for p in sel]),
                           **sources.get(ds, {})}
    summary = {
        "geomean_abs_error_ge_16MiB": geomean([p["error"] for p in big]),
        "bare_ring_geomean_abs_error_ge_16MiB": geomean([p["bare_ring_error"] for p in big]),
        "points": len(points), "points_ge_16MiB": len(big),
        "runs": len(cache), "wall_s": round(time.perf_counter() - t0, 1),
        "run_params": {"sync": PARAMS.sync, "packet_bytes": PARAMS.packet_bytes,
                       "max_outstanding": PARAMS.max_outstanding,
                       "max_outstanding_bytes": PARAMS.max_outstanding_bytes},
        "units": {"bandwidth": "GB/s (nccl-tests busbw)", "size": "bytes", "error": "fraction"},
    }
    atomic_write_bytes(OUT, json.dumps({"summary": summary, "datasets": per_dataset,
                                        "points": points}, indent=1, sort_keys=True).encode())
    print(markdown(points, per_dataset, summary))
    print("\n" + per_system_tables(points))
    return 0


def _size(b: int) -> str:
    return f"{b // (1 << 30)} GiB" if b >= 1 << 30 else f"{b // MiB} MiB"


def markdown(points: list[dict], per_dataset: dict, summary: dict) -> str:
    lines = ["| curve | size | measured GB/s | Eidola GB/s (choice) | error | bare ring error |",
             "| --- | --- | --- | --- | --- | --- |"]
    for p in points:
        bare = "" if p["bare_ring_error"] is None else f"{100 * p['bare_ring_error']:+.0f}%"
        lines.append(f"| {p['dataset']} | {_size(p['size_bytes'])} | {p['measured_gbps']:.1f} | "
                     f"{p['eidola_gbps']:.1f} ({p['eidola_choice']}) | {100 * p['error']:+.1f}% | {bare} |")
    lines += ["", "| curve | points >= 16 MiB | geomean abs error | bare ring |", "| --- | --- | --- | --- |"]
    for ds, d in per_dataset.items():
        g, b = d["geomean_abs_error"], d["bare_ring_geomean_abs_error"]
        lines.append(f"| {ds} | {d['points_ge_16MiB']} | {100 * g:.1f}% | {100 * b:.0f}% |"
                     if g is not None else f"| {ds} | 0 | - | - |")
    g = summary["geomean_abs_error_ge_16MiB"]
    b = summary["bare_ring_geomean_abs_error_ge_16MiB"]
    lines.append(f"| **all** | {summary['points_ge_16MiB']} | **{100 * g:.1f}%** | {100 * b:.0f}% |")
    lines.append(f"\n{summary['runs']} simulations in {summary['wall_s']} s.")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
