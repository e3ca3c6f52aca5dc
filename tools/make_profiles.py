#!/usr/bin/env python3
"""Regenerate the example profiles shipped in profiles/.

    python tools/make_profiles.py            # writes profiles/*.h5
    SOURCE_DATE_EPOCH=0 python tools/make_profiles.py   # byte-for-byte reproducible files

- allreduce_8gpu.h5: 8-GPU ring all-reduce of 256 MiB with the RCCL library model
- gemm_rs_8gpu.h5:   8-GPU fused GEMM + reduce-scatter, 64 MiB output, 4 workgroup streams,
                     jitter parameters (compute_cv 0.1, stragglers 5% at 1.5x)
- p2p_2gpu.h5:       GPU 0 writes 64 MiB to GPU 1, then signals
- gemm_rs_8192_mi300x.h5: fused GEMM + reduce-scatter from its shape (8192^3 BF16 on 8 MI300X):
                     304 workgroup streams per GPU, owners wait right after their own tile
- kineto_2rank.h5:   imported from ../shared/traces/kineto/allreduce_broadcast_2rank_rank0.json.gz
                     (skipped with a message when the shared traces are not beside the repo)
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eidola.profile import profile_info, validate_profile, write_profile  # noqa: E402
from eidola.profile.importers import import_profile  # noqa: E402
from eidola.profile.synth import synthesize  # noqa: E402

MiB = 1 << 20
OUT = REPO / "profiles"
SHARED = REPO.parent / "shared" / "traces"
KINETO_2RANK = SHARED / "kineto" / "allreduce_broadcast_2rank_rank0.json.gz"
LIMIT = 1 << 20  # every shipped profile stays well under 1 MiB


def main() -> int:
    OUT.mkdir(exist_ok=True)
    made = {
        # RCCL's schedule (channels, launch and step costs): what rccl-tests measures
        "allreduce_8gpu.h5": synthesize("allreduce", gpus=8, size_bytes=256 * MiB, algo="ring",
                                        library="rccl", name="allreduce-ring-rccl-8gpu-256MiB"),
        "gemm_rs_8gpu.h5": synthesize("gemm-rs", gpus=8, size_bytes=64 * MiB, streams=4,
                                      tile_bytes=512 * 1024, compute_ns_per_tile=20_000.0,
                                      jitter=0.1, straggler_prob=0.05, straggler_slowdown=1.5,
                                      name="gemm-rs-8gpu-64MiB"),
        "p2p_2gpu.h5": synthesize("p2p", gpus=2, size_bytes=64 * MiB, name="p2p-2gpu-64MiB"),
        # from its shape: 304 workgroups per MI300X, owners wait right after their tile
        "gemm_rs_8192_mi300x.h5": synthesize("gemm-rs", gpus=8, size_bytes=None, gpu="mi300x",
                                             gemm_m=8192, gemm_n=8192, gemm_k=8192,
                                             name="gemm-rs-8gpu-8192x8192x8192-mi300x"),
    }
    if KINETO_2RANK.exists():
        made["kineto_2rank.h5"] = import_profile("kineto", [KINETO_2RANK], name="kineto-2rank")
    else:
        print(f"skipping kineto_2rank.h5: {KINETO_2RANK} not found (the shared traces live "
              "beside the repository)")
    status = 0
    for name, prof in made.items():
        path = write_profile(prof, OUT / name)
        size = path.stat().st_size
        info = profile_info(path)
        problems = validate_profile(path)
        print(f"{path.relative_to(REPO)}: {size:,} B, {info['num_gpus']} GPUs, "
              f"{info['num_ops']:,} ops, {info['bytes_written']:,} B written, "
              f"{info['collectives']} collective(s)")
        if size >= LIMIT or problems:
            print(f"  problem: {'too large' if size >= LIMIT else problems[0]}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
