"""How a Topology becomes a Garnet network: clock, flit width, cycles, buffer depth.

gem5-free (the runner checks a plan before it starts gem5, and tests run it anywhere);
`eidola.gem5.garnet` builds the SimObjects from it inside gem5.

Garnet moves one flit per cycle over every link, so a link's bandwidth is flit width x clock.
The flit width is the parameter (default 16 bytes: NVLink moves data in 128-bit flits, Foley &
Danskin, "Ultra-Performance Pascal GPU and NVLink Interconnect", IEEE Micro 37(2), 2017) and the
network clock follows from the topology's link bandwidth: period = flit bytes / bandwidth, to
whole picoseconds (gem5's tick), so the effective bandwidth is reported next to the asked one.
Latency: Garnet's links and routers take one cycle each (the defaults of gem5's Garnet
configs, configs/network/Network.py: --link-latency 1, --router-latency 1), and the topology's
link and switch latencies are paid by the receiving bridge as a fixed delay per source (the
sum along the route). Why not as link cycles: a Garnet VC carries one packet at a time and is
free again only when the packet's tail has left the next router and the credit has come back
over the link, and its switch allocator interleaves the VCs flit by flit, so every VC finishes
its packet at about the same time and then waits a round trip. Over a 150 ns link that idles
the link for ~2 x 3,500 cycles per round unless a port had hundreds of VCs (measured here: a
100 GB/s p2p over 250 ns links ran 43% slow with 19 VCs of 4 KiB packets). Real links cover
their round trip with deep buffers that hold many packets per VC, which Garnet cannot express.

Ports: Garnet's network interface injects and ejects one flit per cycle, one link's bandwidth,
while a GPU with k links (an xGMI mesh: 7) sends on all k at once. So a GPU gets one Ruby node
(network interface + ext link into its router) per link, and its messages are dealt over them by
destination (and addressed to the receiver's nodes by source), which gives it k links' worth of
injection and ejection, as the classic network's wide GPU crossbar does.

Messages: the topology's bandwidths are payload rates (the presets already discount headers
and encoding), so a Ruby message is payload only: a data message carries `--garnet-message-bytes`
(default 256, NVLink's largest data payload per packet, 16 data flits, same source), a packet's
last, shorter piece is padded to a whole message, and anything up to one flit (flags,
acknowledgements, read requests) is a one-flit control message.

Virtual channels and buffers: gem5's Garnet defaults (4 VCs per virtual network, 4 flits per
data VC: GarnetNetwork.py), which keep a one-cycle link busy. Fewer VCs or shallower buffers
(`--garnet-vcs`, `--garnet-vc-buffer`) are the study of VC contention and head-of-line blocking:
what the classic network, which has neither, cannot show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eidola.errors import EidolaError
from eidola.topology import Topology

NVLINK_FLIT_BYTES = 16          # Foley & Danskin 2017: 128-bit flits
NVLINK_MAX_PAYLOAD_BYTES = 256  # same: up to 16 data flits per packet
GARNET_VCS_PER_VNET = 4         # gem5 GarnetNetwork.py: vcs_per_vnet default
GARNET_BUFFERS_PER_DATA_VC = 4  # gem5 GarnetNetwork.py: buffers_per_data_vc default
GARNET_HOP_CYCLES = 1           # gem5 configs/network/Network.py: link and router latency defaults
# Ruby's NetDest keeps one bit per controller of a machine type in a std::bitset of this many
# bits (gem5 build option NUMBER_BITS_PER_SET, default 64): one L1Cache controller per GPU.
RUBY_NODES_PER_TYPE = 64
NETWORK_CHOICES = ("classic", "garnet")


@dataclass(frozen=True)
class GarnetSpec:
    """What a user sets: flit width, VCs per vnet, flits per VC, data message payload."""

    flit_bytes: int = NVLINK_FLIT_BYTES
    vcs_per_vnet: int = GARNET_VCS_PER_VNET
    vc_buffer_flits: int = GARNET_BUFFERS_PER_DATA_VC
    message_bytes: int = NVLINK_MAX_PAYLOAD_BYTES

    def __post_init__(self) -> None:
        flit, msg = self.flit_bytes, self.message_bytes
        checks = (("garnet-flit-bytes", lambda: 1 <= flit <= 4096, "must be 1 to 4096 bytes"),
                  ("garnet-vcs", lambda: 1 <= self.vcs_per_vnet <= 256, "must be 1 to 256"),
                  ("garnet-vc-buffer", lambda: 1 <= self.vc_buffer_flits < 2**31, "must be at least 1 flit"),
                  ("garnet-message-bytes", lambda: msg >= 2 * flit and msg & (msg - 1) == 0 and msg % flit == 0,
                   f"must be a power of two of at least two flits ({2 * flit} B)"))
        for name, ok, problem in checks:  # in order: a later check may divide by an earlier value
            if not ok():
                raise EidolaError(problem, field=name)


def spec_from_args(args: Any) -> GarnetSpec:
    """The Garnet options of a config's argparse namespace (eidola.runner.build_parser)."""
    return GarnetSpec(flit_bytes=args.garnet_flit_bytes, vcs_per_vnet=args.garnet_vcs,
                      vc_buffer_flits=args.garnet_vc_buffer, message_bytes=args.garnet_message_bytes)


@dataclass(frozen=True)
class GarnetPlan:
    """A Topology as Garnet sees it. Routers: GPU g is router g, switch s router num_gpus + s;
    int_links[c] is the topology's channel c (so per-channel results line up)."""

    spec: GarnetSpec
    period_ps: int                      # network clock period
    link_bw_gbps: float                 # the topology's (one) link bandwidth
    path_latency_ns: np.ndarray         # [src GPU, dst GPU]: links + switches on the route
    num_gpus: int
    ports: np.ndarray                   # per GPU: its links, and so its Ruby nodes (NI + ext link each)
    channels: np.ndarray = field(repr=False)

    @property
    def node_base(self) -> np.ndarray:
        """GPU g's nodes are Ruby L1Cache versions node_base[g] .. node_base[g] + ports[g] - 1."""
        return np.concatenate([[0], np.cumsum(self.ports)[:-1]]).astype(np.int64)

    def send_port(self, g: int) -> list[int]:
        """Per destination d: which of GPU g's nodes injects g's messages for d. Destinations
        are dealt round the nodes, so a GPU with k links injects k flits a cycle when it talks
        to k peers (Garnet's NI injects one flit per cycle)."""
        k = int(self.ports[g])
        return [(d - (d > g)) % k if d != g else 0 for d in range(self.num_gpus)]

    def receive_node(self, g: int) -> list[int]:
        """Per source s: the node (Ruby version) of GPU g that s's messages are addressed to,
        dealt the same way, so k peers sending at once are ejected by k NIs."""
        k, base = int(self.ports[g]), int(self.node_base[g])
        return [base + (s - (s > g)) % k if s != g else base for s in range(self.num_gpus)]

    def address_nodes(self, g: int) -> list[int]:
        """Per destination d: the node (Ruby version) of d that GPU g's messages go to (what
        g's bridge needs: receive_node seen from the sender)."""
        return [self.receive_node(d)[g] if d != g else int(self.node_base[g]) for d in range(self.num_gpus)]

    @property
    def effective_bw_gbps(self) -> float:
        return self.spec.flit_bytes * 1000.0 / self.period_ps

    def describe(self) -> dict[str, object]:
        """What summary.json records under gem5.garnet (units in the keys)."""
        return {"flit_bytes": self.spec.flit_bytes, "clock_period_ps": self.period_ps,
                "link_bw_gbps": self.link_bw_gbps, "effective_link_bw_gbps": round(self.effective_bw_gbps, 4),
                "vcs_per_vnet": self.spec.vcs_per_vnet, "vc_buffer_flits": self.spec.vc_buffer_flits,
                "message_bytes": self.spec.message_bytes, "control_message_bytes": self.spec.flit_bytes,
                "link_and_router_cycles": GARNET_HOP_CYCLES,
                "path_latency_ns_max": float(self.path_latency_ns.max()),
                "path_latency": "paid on arrival by the receiving bridge"}

    @property
    def num_routers(self) -> int:
        return self.num_gpus + self.num_switches

    num_switches: int = 0


def plan(topo: Topology, spec: GarnetSpec) -> GarnetPlan:
    """The Garnet form of `topo`, or a one-line error saying what Garnet cannot carry yet."""
    ch = topo.channels()
    bws = np.unique(ch["bw_gbps"])
    if len(bws) != 1:
        raise EidolaError(f"--network garnet needs one link bandwidth, topology '{topo.name}' has "
                          f"{', '.join(f'{b:g}' for b in bws)} GB/s (one flit per cycle per link at "
                          "one clock)", field="network")
    ports = np.bincount(ch["src"][ch["src"] < topo.num_gpus], minlength=topo.num_gpus).astype(np.int64)
    if ports.min() < 1:
        raise EidolaError(f"topology '{topo.name}' has a GPU without links", field="network")
    if int(ports.sum()) > RUBY_NODES_PER_TYPE:
        raise EidolaError(f"--network garnet carries at most {RUBY_NODES_PER_TYPE} GPU ports (one Ruby "
                          f"node each; gem5's NUMBER_BITS_PER_SET); topology '{topo.name}' has "
                          f"{int(ports.sum())}", field="network")
    transit = _gpus_on_shortest_paths(topo.num_gpus, topo.num_gpus + topo.num_switches, ch)
    if transit:
        raise EidolaError(f"--network garnet does not route through GPUs yet: in topology "
                          f"'{topo.name}' GPU {transit[0]} relays between other GPUs, and channel cycles "
                          "through GPUs can deadlock Garnet's table routing (no escape VCs); use a "
                          "switch topology or a full mesh", field="network")
    bw = float(bws[0])
    period_ps = max(1, round(spec.flit_bytes * 1000.0 / bw))  # bytes / (bytes/ns) -> ns -> ps
    return GarnetPlan(spec=spec, period_ps=period_ps, link_bw_gbps=bw,
                      path_latency_ns=_path_latency_ns(topo, ch), num_gpus=topo.num_gpus, ports=ports,
                      channels=ch, num_switches=topo.num_switches)


def _path_latency_ns(topo: Topology, ch: np.ndarray) -> np.ndarray:
    """[src, dst] latency of the route the classic network and the built-in engine take
    (eidola.topology.routing.next_channels): its links and the switches it crosses."""
    from eidola.topology.routing import next_channels

    n = topo.num_gpus
    table, node_lat = next_channels(topo), topo.node_latency_ns()
    out = np.zeros((n, n))
    for d in range(n):
        for s in range(n):
            node, total = s, 0.0
            while node != d:
                c = int(table[d, node])
                total += float(ch["latency_ns"][c]) + (node_lat[node] if node != s else 0.0)
                node = int(ch["dst"][c])
            out[s, d] = total
    return out

def _gpus_on_shortest_paths(num_gpus: int, num_nodes: int, ch: np.ndarray) -> list[int]:
    """GPUs that lie on some shortest path between two other GPUs (Garnet's table routing may
    send traffic through them)."""
    adj: list[list[int]] = [[] for _ in range(num_nodes)]
    for a, b in zip(ch["src"].tolist(), ch["dst"].tolist()):
        adj[a].append(b)
    dist = np.full((num_gpus, num_nodes), -1, dtype=np.int64)
    for s in range(num_gpus):
        dist[s, s], frontier = 0, [s]
        while frontier:
            nxt = []
            for u in frontier:
                for v in adj[u]:
                    if dist[s, v] < 0:
                        dist[s, v] = dist[s, u] + 1
                        nxt.append(v)
            frontier = nxt
    gpu_dist = dist[:, :num_gpus]  # symmetric: every link has both directions
    found = []
    for g in range(num_gpus):
        via = gpu_dist[:, g][:, None] + gpu_dist[g, :][None, :]
        others = np.ones((num_gpus, num_gpus), dtype=bool)
        others[g, :] = others[:, g] = False
        np.fill_diagonal(others, False)
        if np.any((via == gpu_dist) & others & (gpu_dist > 0)):
            found.append(g)
    return found
