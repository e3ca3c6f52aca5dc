"""Interconnect topologies: one pure-Python description used by the built-in engine and gem5."""

from eidola.topology.builders import fully_connected, multinode, ring, switch, torus2d
from eidola.topology.model import LINK_DTYPE, Topology, make_links
from eidola.topology.presets import TOPOLOGY_NAMES, build_topology, preset_defaults

__all__ = ["LINK_DTYPE", "Topology", "make_links", "TOPOLOGY_NAMES", "build_topology",
           "preset_defaults", "fully_connected", "multinode", "ring", "switch", "torus2d"]
