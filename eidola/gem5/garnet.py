"""`--network garnet`: the topology's wires as a Garnet network (gem5's flit-level model).

Needs a gem5 built with the Garnet_standalone protocol (build/Garnet_standalone/gem5.opt; see
docs/gem5.md). Why that protocol: it is gem5's network-only protocol, so its L1Cache
controllers do nothing but give each GPU a Ruby node; every message is Eidola's own
(EidolaGarnetBridge), and no coherence traffic is mixed in.

Per GPU: a GarnetRouter; per GPU link one L1Cache controller (a Ruby node, its network interface
and a GarnetExtLink into the GPU's router); an EidolaGarnetBridge between the GPU's local
crossbar and its nodes. Per switch: a
GarnetRouter. Per topology channel: a GarnetIntLink in channel order. Links and routers take one
cycle; the topology's latencies are paid by the receiving bridge (why: eidola.gem5.garnet_plan).
"""

from __future__ import annotations

from typing import Any

from eidola.gem5.garnet_plan import GARNET_HOP_CYCLES, GarnetPlan

VNETS = 3  # Garnet_standalone's L1Cache declares three; the bridges use 0 (requests) and 1 (responses)


def build_network(system: Any, plan: GarnetPlan, fabrics: list[Any], region: Any, region_base: int,
                  region_size: int) -> dict[str, Any]:
    """Attach a Garnet network to `system`: each fabric (a GPU's crossbar) gets a bridge for
    its peers' regions. Returns the objects the results need (`int_links` per channel)."""
    import m5.objects as mo  # noqa: PLC0415 (gem5 only)
    from m5.defines import buildEnv  # noqa: PLC0415

    from eidola.errors import EidolaError

    if buildEnv.get("PROTOCOL") != "Garnet_standalone":
        raise EidolaError(f"--network garnet needs a gem5 built with the Garnet_standalone protocol "
                          f"(this one has {buildEnv.get('PROTOCOL') or 'no Ruby'}; build "
                          "build/Garnet_standalone/gem5.opt with EXTRAS, see docs/gem5.md)", field="network")
    n = len(fabrics)
    spec = plan.spec
    ruby = mo.RubySystem(block_size_bytes=spec.message_bytes, number_of_virtual_networks=VNETS,
                         num_of_sequencers=int(plan.ports.sum()))
    system.ruby = ruby
    ruby.clk_domain = mo.SrcClockDomain(clock=f"{plan.period_ps}ps", voltage_domain=mo.VoltageDomain())
    net = mo.GarnetNetwork(ruby_system=ruby, topology="eidola", routers=[], ext_links=[], int_links=[],
                           netifs=[], number_of_virtual_networks=VNETS, ni_flit_size=spec.flit_bytes,
                           vcs_per_vnet=spec.vcs_per_vnet,
                           # Garnet types vnets from the L1Cache shells' names (0, 1 control, 2
                           # data) before the bridges take the queues over: equal depths make
                           # the types irrelevant
                           buffers_per_data_vc=spec.vc_buffer_flits,
                           buffers_per_ctrl_vc=spec.vc_buffer_flits, routing_algorithm=0,
                           # Eidola reports stuck streams itself; Garnet's check counts cycles an NI
                           # waits for a free VC, which a loaded 20+ GHz network exceeds legitimately
                           # (the NI keeps it in an int)
                           garnet_deadlock_threshold=2**31 - 1,
                           control_msg_size=spec.flit_bytes,
                           data_msg_size=spec.message_bytes - spec.flit_bytes)
    ruby.network = net
    # the nodes (one per GPU link): controllers before the network, whose constructor counts them
    cache_bytes = 4 * spec.message_bytes  # CacheMemory needs more than one set
    base = plan.node_base
    nodes = []
    for v in range(int(plan.ports.sum())):
        cache = mo.RubyCache(size=f"{cache_bytes}B", assoc=1)
        l1 = mo.L1Cache_Controller(version=v, ruby_system=ruby)
        l1.sequencer = mo.RubySequencer(version=v, dcache=cache, garnet_standalone=True, ruby_system=ruby)
        l1.mandatoryQueue = mo.MessageBuffer()
        l1.requestFromCache = mo.MessageBuffer()
        l1.responseFromCache = mo.MessageBuffer()
        l1.forwardFromCache = mo.MessageBuffer()
        nodes.append(l1)
    ruby.nodes = nodes
    routers = [mo.GarnetRouter(router_id=r, latency=GARNET_HOP_CYCLES) for r in range(plan.num_routers)]
    net.routers = routers
    owner = [g for g in range(n) for _ in range(int(plan.ports[g]))]  # node version -> GPU
    net.ext_links = [mo.GarnetExtLink(link_id=v, ext_node=nodes[v], int_node=routers[owner[v]], latency=1)
                     for v in range(len(nodes))]
    ch = plan.channels
    int_links = [mo.GarnetIntLink(link_id=len(nodes) + c, src_node=routers[int(ch["src"][c])],
                                  dst_node=routers[int(ch["dst"][c])], latency=GARNET_HOP_CYCLES,
                                  weight=1)
                 for c in range(len(ch))]
    net.int_links = int_links
    net.netifs = [mo.GarnetNetworkInterface(id=v) for v in range(len(nodes))]
    bridges = []
    for g in range(n):
        mine = nodes[int(base[g]):int(base[g]) + int(plan.ports[g])]
        bridge = mo.EidolaGarnetBridge(
            gpu_id=g, num_gpus=n, region_base=region_base, region_size=region_size,
            remote_ranges=[region(d) for d in range(n) if d != g],
            data_message_bytes=spec.message_bytes, control_message_bytes=spec.flit_bytes,
            network=net, nodes=mine, send_port=plan.send_port(g), address_node=plan.address_nodes(g),
            peer_latency=[f"{max(0.0, float(plan.path_latency_ns[s, g])):.3f}ns" for s in range(n)],
            to_net=[mo.MessageBuffer() for _ in range(2 * len(mine))],
            from_net=[mo.MessageBuffer() for _ in range(2 * len(mine))])
        fabrics[g].mem_side_ports = bridge.cpu_side_port
        bridge.mem_side_port = fabrics[g].cpu_side_ports
        bridges.append(bridge)
    ruby.eidola_bridges = bridges  # under ruby: the network's clock
    return {"int_links": int_links, "bridges": bridges}


def channel_bytes(objects: dict[str, Any], plan: GarnetPlan) -> list[int]:
    """Bytes each topology channel carried: its link's flits x the flit width (payload and the
    one-flit control messages: write acknowledgements, read requests, flags)."""
    from _m5 import eidola_garnet  # type: ignore[import-not-found]  (gem5 only)

    flits = eidola_garnet.link_flits([link.network_link.getCCObject() for link in objects["int_links"]])
    return [int(f) * plan.spec.flit_bytes for f in flits]
