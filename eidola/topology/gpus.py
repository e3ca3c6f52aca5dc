"""Per-GPU facts that shape-derived kernels and the memory model need, each with its source.

Why here: the same numbers feed profile synthesis (compute units, matrix throughput, GEMM
efficiency) and the topology presets (HBM bandwidth, memory channels, SyncMon size), so they
live in one table instead of being copied. Every figure is a vendor's, a library's or a
published measurement; none is fitted to an Eidola result.

- ``dense_tflops``: peak dense (non-sparse) matrix throughput per dtype; NVIDIA quotes its data
  sheet figures with 2:4 sparsity, so those are halved.
- ``gemm_efficiency``: measured max-achievable throughput of a large GEMM over that peak
  (what a well-tuned persistent kernel reaches; clocks drop under dense GEMM load).
- ``mem_channels``: independent HBM channels (JEDEC HBM3: 16 per stack).
- ``mem_interleave_bytes``: 256 B, the channel/partition width both vendors document for their
  GPUs' address interleave (AMD OpenCL Optimization Guide, GCN "memory channels are
  interleaved at 256-byte granularity"; NVIDIA "Optimizing Matrix Transpose in CUDA", partition
  camping: "partitions are 256 bytes wide"). No newer per-part figure is published.
- ``syncmon_entries``: one watch entry per compute unit, i.e. one per workgroup of a persistent
  kernel. The SyncMon design (Dutu et al., ISCA 2020; AMD patent US 12,131,199) monitors one
  address per waiting workgroup and publishes no table size; one monitored address per
  hardware context is the sizing of x86 MONITOR/MWAIT (Intel SDM vol. 2, MONITOR: one armed
  address range per logical processor).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from eidola.errors import EidolaError

DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp8": 1}
HBM3_CHANNELS_PER_STACK = 16  # JEDEC JESD238 (HBM3): 16 independent channels per stack
INTERLEAVE_BYTES = 256
INTERLEAVE_SOURCE = ("256 B channel interleave: AMD OpenCL Optimization Guide (GCN memory channels); "
                     "NVIDIA 'Optimizing Matrix Transpose in CUDA' (256-byte partitions)")
SYNCMON_SOURCE = ("SyncMon entries = compute units (one per persistent workgroup): Dutu et al., ISCA 2020 / "
                  "AMD US 12,131,199 monitor one address per waiting workgroup; x86 MONITOR/MWAIT arms one "
                  "address per logical processor (Intel SDM vol. 2)")


@dataclass(frozen=True)
class GpuSpec:
    name: str
    compute_units: int             # AMD CUs / NVIDIA SMs of the shipping part
    dense_tflops: dict[str, float]  # peak dense matrix TFLOPS per dtype
    gemm_efficiency: dict[str, float]  # measured large-GEMM throughput / dense peak
    hbm_bw_gbps: float             # GB/s (10^9 bytes/s) per GPU
    hbm_stacks: int
    sources: tuple[str, ...] = field(default=())

    @property
    def mem_channels(self) -> int:
        return self.hbm_stacks * HBM3_CHANNELS_PER_STACK

    @property
    def mem_interleave_bytes(self) -> int:
        return INTERLEAVE_BYTES

    @property
    def syncmon_entries(self) -> int:
        return self.compute_units

    def tile_ns(self, dtype: str, tile_m: int, tile_n: int, k: int) -> float:
        """ns one compute unit needs for one output tile of a (tile_m x K) @ (K x tile_n) GEMM:
        2 * tile_m * tile_n * K flops at the unit's share of the achieved matrix throughput."""
        key = check_dtype(dtype)
        per_unit_flops_per_ns = (self.dense_tflops[key] * 1e3 * self.gemm_efficiency[key]
                                 / self.compute_units)
        return 2.0 * tile_m * tile_n * k / per_unit_flops_per_ns


def check_dtype(dtype: str) -> str:
    key = str(dtype).strip().lower()
    if key not in DTYPE_BYTES:
        raise EidolaError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPE_BYTES)}",
                          field="dtype")
    return key


_AMD_MAF = "GEMM efficiency: AMD ROCm blog 'Measuring Max-Achievable FLOPs - Part 2' (2025-02-28), hipBLASLt MAF"
_SEMI = ("GEMM efficiency: SemiAnalysis 'MI300X vs H100 vs H200 Benchmark Part 1: Training' (2024-12-22), "
         "~720 TFLOPS BF16, ~1280 FP8 measured")

GPUS: dict[str, GpuSpec] = {
    "mi300x": GpuSpec(
        "mi300x", 304, {"bf16": 1307.4, "fp16": 1307.4, "fp8": 2614.9},
        {"bf16": 708 / 1307.4, "fp16": 654 / 1307.4, "fp8": 1273 / 2614.9}, 5300.0, 8,
        ("AMD ROCm docs 'MI300 series microarchitecture': 304 CUs, matrix FP16/BF16 1307.4, FP8 2614.9 TFLOPS dense, "
         "8 HBM3 stacks 5.3 TB/s (AMD launch slides: 128 channels)", _AMD_MAF)),
    "mi325x": GpuSpec(
        "mi325x", 304, {"bf16": 1307.4, "fp16": 1307.4, "fp8": 2614.9},
        {"bf16": 843 / 1307.4, "fp16": 794 / 1307.4, "fp8": 1519 / 2614.9}, 6000.0, 8,
        ("AMD ROCm 'GPU specifications': MI325X 304 CUs (gfx942); 1307.4 / 2614.9 TFLOPS dense; HBM3E 6 TB/s, 8 stacks",
         _AMD_MAF)),
    "mi355x": GpuSpec(
        "mi355x", 256, {"bf16": 2516.6, "fp16": 2516.6, "fp8": 5033.0},
        {"bf16": 1561 / 2516.6, "fp16": 1561 / 2516.6, "fp8": 3222 / 5033.0}, 8000.0, 8,
        ("AMD ROCm 'GPU specifications': MI355X 256 CUs (gfx950); 8192 FP8 flops/clk/CU at 2.4 GHz (ISSCC 2026), "
         "FP16/BF16 half that; HBM3E 8 TB/s, 8 stacks",
         "GEMM efficiency: HipKittens (arXiv 2511.08083) tables: hipBLASLt 1561 TFLOPS BF16, 3222 FP8 at 8192^3")),
    "h100": GpuSpec(
        "h100", 132, {"bf16": 989.4, "fp16": 989.4, "fp8": 1978.9},
        {"bf16": 720 / 989.4, "fp16": 720 / 989.4, "fp8": 1280 / 1978.9}, 3350.0, 5,
        ("NVIDIA H100 SXM5 data sheet: 132 SMs, BF16/FP16 1979 and FP8 3958 TFLOPS with sparsity (halved), "
         "HBM3 3.35 TB/s on 5 stacks", _SEMI)),
    "b200": GpuSpec(
        "b200", 148, {"bf16": 2250.0, "fp16": 2250.0, "fp8": 4500.0},
        {"bf16": 1610 / 2250.0, "fp16": 1610 / 2250.0, "fp8": 1610 / 2250.0}, 8000.0, 8,
        ("B200: 148 SMs (Chips and Cheese, 'Nvidia's B200'); 2.25 PF BF16, 4.5 PF FP8 dense (NVIDIA, sparse figures halved); "
         "HBM3E 8 TB/s on 8 stacks",
         "GEMM efficiency: NVIDIA Tilus 'Matmul (Blackwell)' tutorial, cuBLAS ~1610 TFLOPS FP16 at 8192^3 "
         "(no FP8 figure published: the FP16 fraction is used)")),
}


# H200: the H100's GH100 compute (132 SMs, same matrix throughput) with HBM3E.
GPUS["h200"] = replace(
    GPUS["h100"], name="h200", hbm_bw_gbps=4800.0, hbm_stacks=6,
    sources=("NVIDIA H200 SXM data sheet: GH100 (132 SMs), FP8 3958 TFLOPS with sparsity (halved), HBM3E 141 GB "
             "4.8 TB/s (6 stacks of 24 GB)", _SEMI))


def gpu_spec(name: str) -> GpuSpec:
    key = str(name).strip().lower()
    if key not in GPUS:
        raise EidolaError(f"unknown GPU {name!r}; choose one of {', '.join(GPUS)}", field="gpu")
    return GPUS[key]
