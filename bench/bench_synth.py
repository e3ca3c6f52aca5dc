"""Time and peak memory of `eidola profile synth` for large ring all-reduces (streamed to disk).

    python bench/bench_synth.py [GPUS ...]    # default 512 4096; writes bench/results/synth.json
    python bench/bench_synth.py --deflate     # zlib against ISA-L on profile chunks;
                                              # writes bench/results/deflate.json

Each size runs `eidola profile synth allreduce --gpus N --size 1GiB --algo ring` in a fresh
process (wall time of the whole command and its peak RSS) into a temporary directory.
`--deflate` times compressing the shuffled records of 16 GPUs of a 4096-GPU ring all-reduce
(the chunks `eidola profile synth` writes, 1.3 MiB a GPU) with zlib and with isal at the levels
a profile uses, and inflating each result with both libraries (best of five passes over all 16);
it reports the compression ratios.
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


def deflate() -> int:
    import zlib

    import numpy as np
    from isal import isal_zlib

    from eidola.profile.io import GZIP_LEVEL
    from eidola.profile.synth import synthesize

    gpus = 16
    profile = synthesize("allreduce", 4096, 1 << 30, algo="ring", only_gpus=np.arange(gpus))
    planes = []
    for g in range(gpus):  # the shuffle filter's layout: byte j of every record together
        ops = profile.ops[g]
        planes.append(np.ascontiguousarray(ops.view(np.uint8).reshape(len(ops), ops.dtype.itemsize).T).tobytes())
    raw_bytes = sum(len(p) for p in planes)

    def rate(fn, items: list[bytes], reps: int = 5) -> float:  # GB/s of raw bytes, best of `reps`
        best = float("inf")
        for _ in range(reps):
            t = time.perf_counter()
            for item in items:
                fn(item)
            best = min(best, time.perf_counter() - t)
        return raw_bytes / best / 1e9

    rows = []
    for name, lib, level in (("zlib", zlib, GZIP_LEVEL), ("isal", isal_zlib, 1)):
        packed = [lib.compress(p, level) for p in planes]
        assert all(zlib.decompress(z) == p for z, p in zip(packed, planes))  # plain zlib streams
        rows.append({"library": name, "level": level, "raw_mib": raw_bytes / 2**20,
                     "ratio": raw_bytes / sum(len(z) for z in packed),
                     "compress_gb_per_s": rate(lambda p: lib.compress(p, level), planes),
                     "inflate_by_zlib_gb_per_s": rate(zlib.decompress, packed),
                     "inflate_by_isal_gb_per_s": rate(isal_zlib.decompress, packed)})
        r = rows[-1]
        print(f"{name} level {level}: ratio {r['ratio']:.1f}x, compress {r['compress_gb_per_s']:.2f} GB/s, "
              f"inflate by zlib {r['inflate_by_zlib_gb_per_s']:.2f} GB/s, "
              f"by isal {r['inflate_by_isal_gb_per_s']:.2f} GB/s")
    out = OUT.with_name("deflate.json")
    doc = {"units": {"*_gb_per_s": "GB/s of raw bytes", "raw_mib": "MiB"},
           "input": "shuffled records of GPUs 0-15 of a 4096-GPU ring all-reduce of 1 GiB", "rows": rows}
    atomic_write_bytes(out, (json.dumps(doc, indent=2) + "\n").encode())
    print(f"wrote {out}")
    return 0


def main(argv: list[str]) -> int:
    if argv == ["--deflate"]:
        return deflate()
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
