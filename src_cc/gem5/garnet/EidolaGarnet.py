# SimObject of the Eidola gem5 extension that needs Ruby (built only when gem5 has RUBY=y; the
# Garnet network needs the Garnet_standalone protocol, see docs/gem5.md).
from m5.objects.ClockedObject import ClockedObject
from m5.params import *
from m5.proxy import *


class EidolaGarnetBridge(ClockedObject):
    """One GPU's doorway into a Garnet network: requests for peers' regions become Ruby
    messages for the peer's node, arrivals go into this GPU's crossbar in their sender's
    order, responses travel back the same way. Clock it with the network."""

    type = "EidolaGarnetBridge"
    cxx_header = "gem5/garnet/eidola_garnet_bridge.hh"
    cxx_class = "gem5::eidola::EidolaGarnetBridge"

    cpu_side_port = ResponsePort("requests of this GPU for peers (from its crossbar)")
    mem_side_port = RequestPort("requests of peers for this GPU (into its crossbar)")
    gpu_id = Param.Unsigned("this GPU")
    num_gpus = Param.Unsigned("GPUs in the system")
    region_base = Param.Addr("GPU 0's region start")
    region_size = Param.Addr("bytes per GPU region")
    remote_ranges = VectorParam.AddrRange("the other GPUs' regions")
    data_message_bytes = Param.Unsigned("payload bytes of one Ruby data message")
    control_message_bytes = Param.Unsigned("payload bytes of one control message (one flit)")
    network = Param.RubyNetwork("the Garnet network")
    nodes = VectorParam.RubyController("this GPU's nodes, one per link (each gives a MachineID)")
    send_port = VectorParam.Unsigned("per destination GPU: which of `nodes` injects for it")
    address_node = VectorParam.Unsigned("per peer GPU: the Ruby version of its node that messages from here go to")
    peer_latency = VectorParam.Latency("per peer GPU: the topology's path latency from it to here, "
                                       "paid on arrival (outside Garnet's credit loops)")
    to_net = VectorParam.MessageBuffer("per node: requests, responses into the network")
    from_net = VectorParam.MessageBuffer("per node: requests, responses out of the network")
