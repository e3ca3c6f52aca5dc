"""The one topology description both hosts consume.

GPUs are nodes ``0..num_gpus-1``; switches and NICs come after them. Each link is full duplex:
``bw_gbps`` is the usable payload bandwidth of *each* direction (GB/s = bytes/ns) and
``latency_ns`` the one-way latency. The built-in engine turns every link into two channels;
the gem5 glue builds one link object per direction from the same arrays.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from eidola.errors import EidolaError
from eidola.params import MAX_BW_GBPS, MAX_TIME_NS, check_bw_gbps, check_time_ns

LINK_DTYPE = np.dtype([("a", "<u4"), ("b", "<u4"), ("bw_gbps", "<f8"), ("latency_ns", "<f8")])


@dataclass(frozen=True)
class Topology:
    """A frozen interconnect description; `to_dict()` is stored with every result."""

    name: str
    num_gpus: int
    num_switches: int
    links: np.ndarray  # LINK_DTYPE, one row per full-duplex link
    switch_latency_ns: float  # forwarding latency of every switch
    hbm_bw_gbps: float  # per-GPU memory bandwidth shared by incoming writes and polling reads
    mem_latency_ns: float  # memory access latency (one polling read's round trip)
    syncmon_latency_ns: float  # one way between a waiter and the SyncMon at its memory
    node_names: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)  # what built it (preset, overrides)
    sources: tuple[str, ...] = ()  # where the preset's numbers come from
    mem_channels: int = 1  # address-interleaved memory channels per GPU (share hbm_bw_gbps)
    mem_interleave_bytes: int = 256  # bytes that go to one channel before the next
    syncmon_entries: int = 0  # SyncMon watch-table entries per GPU; 0 = unlimited
    ecmp: bool = False  # spread flows over equal-cost paths (multi-tier fabrics)
    # GPUs relay others' packets (direct GPU-to-GPU fabrics: rings, tori, meshes); in switched
    # scale-out fabrics they are endpoints only: a GPU's NIC carries its own traffic, and NCCL's
    # relaying through a peer (PXN) is a copy in the profile, not a route
    gpus_forward: bool = True

    def __post_init__(self) -> None:
        if self.num_gpus < 1:
            raise EidolaError("must have at least one GPU", field="gpus")
        n = self.num_nodes
        if len(self.links) and (self.links["a"].max() >= n or self.links["b"].max() >= n):
            raise EidolaError("a link names a node that does not exist", field="links")
        if len(self.links) and np.any(self.links["a"] == self.links["b"]):
            raise EidolaError("a link connects a node to itself", field="links")
        bad = ~((self.links["bw_gbps"] > 0) & (self.links["bw_gbps"] <= MAX_BW_GBPS))
        if np.any(bad):
            raise EidolaError(f"bandwidth must be > 0 and <= {MAX_BW_GBPS:g} GB/s, got "
                              f"{self.links['bw_gbps'][bad][0]} GB/s", field="link-bw")
        bad = ~((self.links["latency_ns"] >= 0) & (self.links["latency_ns"] <= MAX_TIME_NS))
        if np.any(bad):
            raise EidolaError(f"latency must be finite, >= 0 and <= {MAX_TIME_NS:g} ns, got "
                              f"{self.links['latency_ns'][bad][0]} ns", field="link-latency")
        check_bw_gbps(self.hbm_bw_gbps, "hbm-bw")
        for name in ("switch_latency_ns", "mem_latency_ns", "syncmon_latency_ns"):
            check_time_ns(getattr(self, name), name.replace("_ns", "").replace("_", "-"))
        check_memory_layout(self.hbm_bw_gbps, self.mem_channels, self.mem_interleave_bytes)
        if not (isinstance(self.syncmon_entries, int) and 0 <= self.syncmon_entries < 2**32):
            raise EidolaError(f"must be 0 (unlimited) or a positive count, got {self.syncmon_entries!r}",
                              field="syncmon-entries")

    @property
    def num_nodes(self) -> int:
        return self.num_gpus + self.num_switches

    def node_name(self, node: int) -> str:
        if self.node_names:
            return self.node_names[node]
        return f"gpu{node}" if node < self.num_gpus else f"sw{node - self.num_gpus}"

    def nic_nodes(self) -> np.ndarray:
        """Node ids of the GPUs' network interfaces (the scale-out builders name them nicN):
        the engine arbitrates a GPU's flows into its NIC in turn, as a NIC's send scheduler
        serves its queue pairs."""
        return np.array([i for i, name in enumerate(self.node_names) if name.startswith("nic")],
                        dtype=np.int64)

    def channels(self) -> np.ndarray:
        """Directed channels, link i giving channels 2i (a->b) and 2i+1 (b->a)."""
        ch = np.empty(2 * len(self.links), dtype=[("src", "<u4"), ("dst", "<u4"),
                                                  ("bw_gbps", "<f8"), ("latency_ns", "<f8")])
        ch["src"][0::2], ch["dst"][0::2] = self.links["a"], self.links["b"]
        ch["src"][1::2], ch["dst"][1::2] = self.links["b"], self.links["a"]
        ch["bw_gbps"][0::2] = ch["bw_gbps"][1::2] = self.links["bw_gbps"]
        ch["latency_ns"][0::2] = ch["latency_ns"][1::2] = self.links["latency_ns"]
        return ch

    def node_latency_ns(self) -> np.ndarray:
        """Forwarding latency per node: switches pay `switch_latency_ns`, GPUs relay for free."""
        lat = np.zeros(self.num_nodes)
        lat[self.num_gpus:] = self.switch_latency_ns
        return lat

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (links summarised when there are many)."""
        d: dict[str, Any] = {
            "name": self.name,
            "num_gpus": self.num_gpus,
            "num_switches": self.num_switches,
            "num_links": int(len(self.links)),
            "switch_latency_ns": self.switch_latency_ns,
            "hbm_bw_gbps": self.hbm_bw_gbps,
            "mem_latency_ns": self.mem_latency_ns,
            "syncmon_latency_ns": self.syncmon_latency_ns,
            "mem_channels": self.mem_channels,
            "mem_interleave_bytes": self.mem_interleave_bytes,
            "mem_channel_bw_gbps": self.hbm_bw_gbps / self.mem_channels,
            "syncmon_entries": self.syncmon_entries,
            "ecmp": self.ecmp,
            "gpus_forward": self.gpus_forward,
            "params": self.params,
            "sources": list(self.sources),
        }
        if len(self.links) <= 4096:
            d["links"] = [[int(l["a"]), int(l["b"]), float(l["bw_gbps"]), float(l["latency_ns"])]
                          for l in self.links]
        else:
            d["link_bw_gbps_range"] = [float(self.links["bw_gbps"].min()), float(self.links["bw_gbps"].max())]
        return d


def make_links(pairs: list[tuple[int, int]] | np.ndarray, bw_gbps: float, latency_ns: float) -> np.ndarray:
    """Links with one bandwidth and latency from a list of (a, b) node pairs."""
    arr = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    links = np.empty(len(arr), dtype=LINK_DTYPE)
    links["a"], links["b"] = arr[:, 0], arr[:, 1]
    links["bw_gbps"] = bw_gbps
    links["latency_ns"] = latency_ns
    return links


def concat_links(*parts: np.ndarray) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(0, dtype=LINK_DTYPE)


__all__ = ["LINK_DTYPE", "Topology", "make_links", "concat_links", "asdict"]


def check_memory_layout(hbm_bw_gbps: float, channels: Any, interleave_bytes: Any) -> None:
    """One-line errors for a memory channel layout the model cannot represent."""
    if not (isinstance(channels, int) and 1 <= channels <= 65536):
        raise EidolaError(f"must be an integer from 1 to 65536, got {channels!r}", field="mem-channels")
    if not (isinstance(interleave_bytes, int) and 0 < interleave_bytes <= 2**30
            and interleave_bytes & (interleave_bytes - 1) == 0):
        raise EidolaError(f"must be a power of two up to 1 GiB, got {interleave_bytes!r}",
                          field="mem-interleave")
    # Channels split the GPU's bandwidth equally; below 1 GB/s (1 byte/ns) a channel is not a
    # memory channel but a typo, and picosecond serialization times lose their precision.
    if hbm_bw_gbps / channels < 1.0:
        raise EidolaError(f"{channels} channels do not divide {hbm_bw_gbps:g} GB/s into channels of at "
                          "least 1 GB/s each", field="mem-channels")
