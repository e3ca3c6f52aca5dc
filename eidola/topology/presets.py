"""Named topologies with documented defaults, and the one entry point `build_topology`.

Every default below can be overridden (CLI: --link-bw, --link-latency, --switch-latency,
--hbm-bw, ...). Bandwidths are *payload* GB/s per direction (what data can use after packet
headers, CRC and flow control, not the line rate); latencies ns, one way.

Sources for the presets (latencies are not published per hop, so the latency values are
modelling assumptions chosen to give ~1-2 us small-message P2P times):
- MI300X: AMD Instinct MI300X data sheet — 8 GPUs per platform fully connected by 7 AMD Infinity
  Fabric (xGMI) links per GPU, 64 GB/s line rate each way per link; HBM3 5.3 TB/s per GPU.
  Payload: 48 GB/s per link each way (75%), the figure RCCL's topology code uses for gfx94x
  xGMI links (``GFX94X_XGMI_WIDTH 48.0`` in rccl src/graph/topo.h) and the usable rate AMD's
  "Understanding RCCL Bandwidth and xGMI Performance on AMD Instinct MI300X" (ROCm blog,
  2025-03-02) gives after CRC and protocol overhead.
- H100: NVIDIA H100 Tensor Core GPU data sheet (SXM5) — NVLink 4, 18 links x 25 GB/s each way
  (900 GB/s bidirectional) through NVSwitch on HGX H100 8-GPU boards; HBM3 3.35 TB/s per GPU.
  Payload: 18 x 20.6 = 370.8 GB/s each way (82%), the per-link figure NCCL's topology code uses
  for SM90 NVLink (``SM90_NVLINK_BW 20.6`` in nccl src/graph/topo.h), matching the ~370 GB/s
  "effective NVLink bandwidth" an NCCL maintainer quotes for H100 (NVIDIA/nccl-tests#212).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eidola.errors import EidolaError
from eidola.topology import builders
from eidola.topology.gpus import GPUS, INTERLEAVE_SOURCE, SYNCMON_SOURCE
from eidola.topology.model import Topology

#: system presets: one node of GPUs on their scale-up fabric (see PRESET_FABRIC)
SYSTEM_PRESETS = ("mi300x", "mi325x", "mi355x", "h100", "h200", "b200", "gb200-nvl72")
TOPOLOGY_NAMES = ("fully_connected", "ring", "switch", "torus2d", "multinode", "fat_tree",
                  "rail_optimized", *SYSTEM_PRESETS)


@dataclass(frozen=True)
class Defaults:
    gpus: int
    link_bw_gbps: float
    link_latency_ns: float
    switch_latency_ns: float
    hbm_bw_gbps: float
    mem_latency_ns: float = 300.0
    syncmon_latency_ns: float = 150.0
    nic_bw_gbps: float = 50.0  # 400 Gb/s NIC
    nic_latency_ns: float = 1000.0
    gpus_per_node: int = 8
    sources: tuple[str, ...] = ()
    mem_channels: int = 1  # generic: one aggregate memory server per GPU
    mem_interleave_bytes: int = 256
    syncmon_entries: int = GPUS["mi300x"].syncmon_entries  # generic: the MI300X figure
    #: the switch reduces and multicasts in the fabric (NVLink SHARP, NVSwitch 3rd gen and on)
    multicast: bool = False


GENERIC = Defaults(gpus=8, link_bw_gbps=100.0, link_latency_ns=250.0, switch_latency_ns=200.0,
                   hbm_bw_gbps=2000.0, sources=("generic defaults (no preset)",))
MI300X = Defaults(gpus=8, link_bw_gbps=48.0, link_latency_ns=250.0, switch_latency_ns=0.0,
                  hbm_bw_gbps=5300.0,
                  sources=("AMD Instinct MI300X data sheet: 7 xGMI links/GPU, 64 GB/s line rate each way; HBM3 5.3 TB/s",
                           "xGMI payload 48 GB/s per link each way: RCCL topo.h GFX94X_XGMI_WIDTH; AMD ROCm blog 2025-03-02",
                           "link latency: modelling assumption",
                           f"memory: {GPUS['mi300x'].mem_channels} HBM3 channels (8 stacks x 16, JEDEC HBM3; AMD: "
                           "'128 channel interleaved HBM3')", INTERLEAVE_SOURCE, SYNCMON_SOURCE),
                  mem_channels=GPUS["mi300x"].mem_channels, syncmon_entries=GPUS["mi300x"].syncmon_entries)
H100 = Defaults(gpus=8, link_bw_gbps=18 * 20.6, link_latency_ns=150.0, switch_latency_ns=200.0,
                hbm_bw_gbps=3350.0,
                sources=("NVIDIA H100 SXM5 data sheet: NVLink 4, 18 links x 25 GB/s line rate each way via NVSwitch; HBM3 3.35 TB/s",
                         "NVLink payload 18 x 20.6 GB/s each way: NCCL topo.h SM90_NVLINK_BW; NVIDIA/nccl-tests#212",
                         "link and switch latency: modelling assumptions",
                         f"memory: {GPUS['h100'].mem_channels} HBM3 channels (5 stacks x 16, JEDEC HBM3)",
                         INTERLEAVE_SOURCE, SYNCMON_SOURCE,
                         "NVLink SHARP (in-switch reduction and multicast): third-generation "
                         "NVSwitch of HGX H100 and later (NVIDIA NVLink/NVSwitch product page)"),
                mem_channels=GPUS["h100"].mem_channels, syncmon_entries=GPUS["h100"].syncmon_entries,
                multicast=True)




def _memory_sources(gpu: str, kind: str) -> str:
    spec = GPUS[gpu]
    return (f"memory: {spec.mem_channels} {kind} channels ({spec.hbm_stacks} stacks x 16, JEDEC "
            f"HBM3/HBM3E); {spec.hbm_bw_gbps / 1000:g} TB/s: {spec.sources[0]}")


_NVLINK4 = ("NVLink 4: 18 links x 25 GB/s line rate each way via NVSwitch (NVIDIA H100/H200 SXM "
            "data sheets: 900 GB/s bidirectional)",
            "NVLink payload 18 x 20.6 GB/s each way: NCCL topo.h SM90_NVLINK_BW")
_NVLINK5 = ("NVLink 5: 18 links x 50 GB/s line rate each way via NVSwitch (NVIDIA B200 / GB200 "
            "NVL72 data sheets: 1.8 TB/s bidirectional per GPU)",
            "NVLink payload 18 x 40.1 GB/s each way: NCCL topo.h SM100_NVLINK_BW")
_XGMI_MI300 = ("xGMI: 7 links per GPU to the 7 peers, 64 GB/s line rate each way (AMD Instinct "
               "MI300X/MI325X data sheets)",
               "xGMI payload 48 GB/s per link each way: RCCL topo.h GFX94X_XGMI_WIDTH")
_SHARP = ("NVLink SHARP (in-switch reduction and multicast): third-generation NVSwitch of HGX "
          "H100 and later (NVIDIA NVLink/NVSwitch product page)")
_LAT = "link and switch latency: modelling assumptions (the MI300X / H100 figures)"


def _like(base: Defaults, gpu: str, **changes: Any) -> Defaults:
    spec = GPUS[gpu]
    return Defaults(**{**base.__dict__, "hbm_bw_gbps": spec.hbm_bw_gbps,
                       "mem_channels": spec.mem_channels, "syncmon_entries": spec.syncmon_entries,
                       **changes})


H200 = _like(H100, "h200", sources=(*_NVLINK4, _SHARP, _LAT, _memory_sources("h200", "HBM3E"),
                                   INTERLEAVE_SOURCE, SYNCMON_SOURCE))
B200 = _like(H100, "b200", link_bw_gbps=18 * 40.1,
             sources=(*_NVLINK5, _SHARP, _LAT, _memory_sources("b200", "HBM3E"), INTERLEAVE_SOURCE,
                      SYNCMON_SOURCE))
GB200_NVL72 = _like(B200, "b200", gpus=72,
                    sources=(*_NVLINK5, _SHARP, "72 GPUs in one NVLink domain through the NVLink switch "
                             "trays (NVIDIA GB200 NVL72 data sheet: 130 TB/s total NVLink)",
                             _LAT, _memory_sources("b200", "HBM3E"), INTERLEAVE_SOURCE,
                             SYNCMON_SOURCE))
MI325X = _like(MI300X, "mi325x", sources=(*_XGMI_MI300, _LAT, _memory_sources("mi325x", "HBM3E"),
                                          INTERLEAVE_SOURCE, SYNCMON_SOURCE))
#: MI355X xGMI: AMD's line rate with the MI300X's payload share (48 of 64 GB/s, 75%: what is
#: left after xGMI's CRC and protocol overhead per AMD's ROCm blog, the same link protocol at a
#: faster lane rate). RCCL's tuner constant for gfx950 (GFX95X_XGMI_WIDTH 48.0) is the gfx942
#: value reused; it is a tuning figure, and hardware carries more (7 x 48 = 336 GB/s is below
#: the 406.8 GB/s ring all-reduce busbw measured on 8 x MI355X, docs/validation.md).
MI355X_XGMI_LINE_GBPS = 76.8
MI355X_XGMI_PAYLOAD_GBPS = MI355X_XGMI_LINE_GBPS * 48.0 / 64.0
MI355X = _like(MI300X, "mi355x", link_bw_gbps=MI355X_XGMI_PAYLOAD_GBPS,
               sources=("xGMI: 7 links per GPU to the 7 peers, 76.8 GB/s line rate each way (AMD "
                        "Instinct MI355X data sheet: 153.6 GB/s per link bidirectional)",
                        "xGMI payload 57.6 GB/s per link each way: the line rate x 75%, the MI300X "
                        "xGMI payload share (48 of 64 GB/s after CRC and protocol overhead; AMD ROCm "
                        "blog 2025-03-02, RCCL topo.h GFX94X_XGMI_WIDTH). RCCL's gfx950 tuner value "
                        "(GFX95X_XGMI_WIDTH 48) reuses gfx942's and is not the hardware's", _LAT,
                        _memory_sources("mi355x", "HBM3E"), INTERLEAVE_SOURCE, SYNCMON_SOURCE))

#: each system preset's defaults and scale-up fabric
PRESETS: dict[str, tuple[Defaults, str]] = {
    "mi300x": (MI300X, "fully_connected"), "mi325x": (MI325X, "fully_connected"),
    "mi355x": (MI355X, "fully_connected"), "h100": (H100, "switch"), "h200": (H200, "switch"),
    "b200": (B200, "switch"), "gb200-nvl72": (GB200_NVL72, "switch"),
}


def preset_defaults(name: str) -> Defaults:
    return PRESETS[name][0] if name in PRESETS else GENERIC


def build_topology(name: str, gpus: int | None = None, *, link_bw_gbps: float | None = None,
                   link_latency_ns: float | None = None, switch_latency_ns: float | None = None,
                   hbm_bw_gbps: float | None = None, mem_latency_ns: float | None = None,
                   syncmon_latency_ns: float | None = None, nic_bw_gbps: float | None = None,
                   nic_latency_ns: float | None = None, gpus_per_node: int | None = None,
                   intra: str = "switch", rows: int | None = None, mem_channels: int | None = None,
                   mem_interleave_bytes: int | None = None,
                   syncmon_entries: int | None = None, switch_radix: int | None = None,
                   oversubscription: float | None = None) -> Topology:
    """Build a named topology; None means "the preset's default". Raises EidolaError."""
    if name not in TOPOLOGY_NAMES:
        raise EidolaError(f"unknown topology '{name}' (choose from {', '.join(TOPOLOGY_NAMES)})",
                          field="topology")
    d = preset_defaults(name)
    pick = lambda v, dflt: dflt if v is None else v  # noqa: E731
    n = pick(gpus, d.gpus)
    if name in PRESETS and n > d.gpus:
        raise EidolaError(f"the {name} preset has {d.gpus} GPUs, asked for {n}", field="gpus")
    params: dict[str, Any] = {
        "preset": name, "gpus": n,
        "link_bw_gbps": pick(link_bw_gbps, d.link_bw_gbps),
        "link_latency_ns": pick(link_latency_ns, d.link_latency_ns),
    }
    common = dict(
        switch_latency_ns=float(pick(switch_latency_ns, d.switch_latency_ns)),
        hbm_bw_gbps=float(pick(hbm_bw_gbps, d.hbm_bw_gbps)),
        mem_latency_ns=float(pick(mem_latency_ns, d.mem_latency_ns)),
        syncmon_latency_ns=float(pick(syncmon_latency_ns, d.syncmon_latency_ns)),
        mem_channels=pick(mem_channels, d.mem_channels),
        mem_interleave_bytes=pick(mem_interleave_bytes, d.mem_interleave_bytes),
        syncmon_entries=pick(syncmon_entries, d.syncmon_entries),
        params=params, sources=d.sources,
    )
    for key in ("link_bw_gbps", "link_latency_ns"):
        if not isinstance(params[key], (int, float)) or params[key] != params[key]:
            raise EidolaError("must be a number", field=key)
    if not params["link_bw_gbps"] > 0:
        raise EidolaError(f"must be positive, got {params['link_bw_gbps']} GB/s", field="link-bw")
    if not params["link_latency_ns"] >= 0:
        raise EidolaError(f"must not be negative, got {params['link_latency_ns']} ns", field="link-latency")
    link = dict(link_bw_gbps=float(params["link_bw_gbps"]), link_latency_ns=float(params["link_latency_ns"]))
    fabric = PRESETS[name][1] if name in PRESETS else name
    if fabric == "fully_connected":
        topo = builders.fully_connected(n, **link, **common)
    elif name == "ring":
        topo = builders.ring(n, **link, **common)
    elif fabric == "switch":
        topo = builders.switch(n, **link, **common)
    elif name == "torus2d":
        topo = builders.torus2d(n, rows=rows, **link, **common)
    elif name in ("fat_tree", "rail_optimized"):
        nic_bw = float(pick(nic_bw_gbps, d.nic_bw_gbps))
        params.update(nic_bw_gbps=nic_bw, nic_latency_ns=float(pick(nic_latency_ns, d.nic_latency_ns)))
        build = builders.fat_tree if name == "fat_tree" else builders.rail_optimized
        topo = build(n, gpus_per_node=pick(gpus_per_node, d.gpus_per_node), nic_bw_gbps=nic_bw,
                     nic_latency_ns=params["nic_latency_ns"],
                     switch_radix=pick(switch_radix, builders.SWITCH_RADIX),
                     oversubscription=pick(oversubscription, 1.0), **link, **common)
    else:
        nic_bw = float(pick(nic_bw_gbps, d.nic_bw_gbps))
        if not nic_bw > 0:
            raise EidolaError(f"must be positive, got {nic_bw} GB/s", field="nic-bw")
        params.update(nic_bw_gbps=nic_bw, nic_latency_ns=float(pick(nic_latency_ns, d.nic_latency_ns)))
        topo = builders.multinode(n, gpus_per_node=pick(gpus_per_node, d.gpus_per_node),
                                  nic_bw_gbps=nic_bw, nic_latency_ns=params["nic_latency_ns"],
                                  intra=intra, **link, **common)
    object.__setattr__(topo, "name", name)
    return topo
