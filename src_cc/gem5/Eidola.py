# SimObject declarations of the Eidola gem5 extension (see docs/gem5.md).
from m5.objects.ClockedObject import ClockedObject
from m5.params import *
from m5.proxy import *
from m5.SimObject import PyBindMethod, SimObject


# The modes of a run (eidola.params: SYNC_MODES, REPLAY_MODES, SYNCMON_WAKE), as gem5 enums.
class EidolaSyncMode(ScopedEnum):
    vals = ["polling", "syncmon"]


class EidolaReplayMode(ScopedEnum):
    vals = ["dependent", "timed"]


class EidolaWakeOn(ScopedEnum):
    vals = ["match", "change"]


class EidolaSyncMon(SimObject):
    """Sits in front of one GPU's memory (like CommMonitor): holds the GPU's flags, applies
    flag writes as atomic adds once memory has performed them, answers polls with the flag
    value, and holds the response to a watch registration until the flag reaches the value."""

    type = "EidolaSyncMon"
    cxx_header = "gem5/sync_mon.hh"
    cxx_class = "gem5::eidola::SyncMon"

    cpu_side_port = ResponsePort("from the GPU's local fabric")
    mem_side_port = RequestPort("to the GPU's memory")
    gpu_id = Param.Unsigned("GPU whose memory this monitor guards")
    flag_base = Param.Addr("absolute address of flag 0 (8 bytes per flag)")
    watch_base = Param.Addr("absolute address of flag 0's watch register")
    window_size = Param.Addr("bytes of the flag window and of the watch window")
    latency = Param.Latency("150ns", "monitor <-> waiter, one way")
    memory = Param.EidolaMemory("the memory behind the monitor (its checks use the flag's channel)")
    check_bytes = Param.Unsigned(64, "bytes a registration's check of the flag reads")
    entries = Param.Unsigned(0, "watch-table entries; 0 = unlimited")
    wake_on = Param.EidolaWakeOn("match: wake when the value is reached; change: on any update")

class EidolaMemory(SimObject):
    """One GPU's memory: address-interleaved channels with the built-in engine's timing
    (core/gpu_memory.hh); no data is stored."""

    type = "EidolaMemory"
    cxx_header = "gem5/eidola_memory.hh"
    cxx_class = "gem5::eidola::EidolaMemory"

    port = ResponsePort("requests from the SyncMon in front")
    range = Param.AddrRange("this GPU's region")
    bandwidth_gbps = Param.Float("whole GPU, GB/s (bytes/ns), split equally over the channels")
    latency_ns = Param.Float("access latency after the channels have served the bytes, ns")
    channels = Param.Unsigned(1, "address-interleaved channels")
    interleave_bytes = Param.Unsigned(256, "bytes to one channel before the next")
    flag_stride_bytes = Param.Unsigned(4, "model bytes between consecutive flags")
    flag_offset = Param.Addr("offset of the flag window (8-byte gem5 slots) in the region")
    window_size = Param.Addr("bytes of the flag window")
    series = Param.Bool("count the bytes each channel serves over time (results.h5)")
    time_bin = Param.Latency("initial series bin; doubles to stay within max_bins")
    max_bins = Param.Unsigned("series bins kept")

class EidolonGPU(ClockedObject):
    """A lightweight GPU stand-in replaying its GPU's streams of a profile."""

    type = "EidolonGPU"
    cxx_header = "gem5/eidolon_gpu.hh"
    cxx_class = "gem5::eidola::EidolonGPU"

    port = RequestPort("to this GPU's local fabric")
    system = Param.System(Parent.any, "system (for the requestor id)")
    syncmon = Param.EidolaSyncMon("the monitor beside this GPU's memory")
    gpu_id = Param.Unsigned("which GPU of the profile this eidolon replays")
    num_gpus = Param.Unsigned("GPUs in the system")
    profile = Param.String("profile file (HDF5)")
    profile_gpus = Param.Unsigned("GPUs in the profile (the rest of the system idles)")
    # The run parameters: no defaults here, eidola.params.RunParams is their one definition
    # (RunParams.gem5_params gives these names and gem5's types).
    sync_mode = Param.EidolaSyncMode("polling or syncmon")
    replay_mode = Param.EidolaReplayMode("dependent or timed")
    poll_interval = Param.Latency("start-to-start gap between two polls")
    packet_size = Param.Unsigned("bytes per write/read packet")
    max_outstanding = Param.Unsigned("unacknowledged packets per stream (0: no count limit)")
    max_outstanding_bytes = Param.UInt64("unacknowledged payload bytes per stream (0: none)")
    poll_bytes = Param.Unsigned("bytes one polling read costs")
    syncmon_wake = Param.EidolaWakeOn("what a SyncMon notification means: match or change")
    poll_backoff_max = Param.Latency("cap of the fallback polls' doubling gap")
    compute_scale = Param.Float("multiplies compute durations")
    seed = Param.UInt64("iteration choice and jitter")
    num_iterations = Param.Unsigned(1, "recorded iterations in the profile")
    compute_cv = Param.Float(0.0, "per-op compute jitter (coefficient of variation)")
    straggler_prob = Param.Float(0.0, "")
    straggler_slowdown = Param.Float(1.0, "")
    time_origin_ns = Param.Float(0.0, "recorded time that counts as 0 in timed replay")
    mem_base = Param.Addr("address of GPU 0's memory region")
    mem_stride = Param.Addr("bytes between two GPUs' regions")
    data_size = Param.Addr("bytes of each GPU's data window (profile offsets wrap inside it)")
    flag_offset = Param.Addr("offset of the flag window inside a region")
    watch_offset = Param.Addr("offset of the watch window inside a region")
    mcast_base = Param.Addr(0, "multicast window of this GPU's switch (0: none)")
    watchdog = Param.Latency("2ms", "no progress for this long while waiting = deadlock")
    trace = Param.Bool("keep a per-op timeline (--trace)")
    series = Param.Bool("count polls over time (results.h5)")
    time_bin = Param.Latency("initial series bin; doubles to stay within max_bins")
    max_bins = Param.Unsigned("series bins kept")
    cxx_exports = [PyBindMethod("stuck")]


class EidolaWire(SimObject):
    """One direction of a wire: the serializer every packet crossing it shares (requests of the
    link in this direction, responses of the link in the other)."""

    type = "EidolaWire"
    cxx_header = "gem5/eidola_link.hh"
    cxx_class = "gem5::eidola::EidolaWire"

    bandwidth_gbps = Param.Float("payload GB/s (bytes/ns)")
    latency_ns = Param.Float("one-way latency, ns")
    series = Param.Bool(True, "count the bytes crossing over time (results.h5)")
    time_bin = Param.Latency("100ns", "initial series bin; doubles to stay within max_bins")
    max_bins = Param.Unsigned(1024, "series bins kept")


class EidolaLink(ClockedObject):
    """One direction of a link: FIFO serialization of data-carrying packets at the link's
    payload bandwidth, then its latency (core/link_timing.hh, as in the built-in engine).
    Acknowledgements and read requests pay the latency only (gem5's SerialLink would charge
    a write's acknowledgement the write's size again)."""

    type = "EidolaLink"
    cxx_header = "gem5/eidola_link.hh"
    cxx_class = "gem5::eidola::EidolaLink"

    cpu_side_port = ResponsePort("requests in, responses out")
    mem_side_port = RequestPort("requests out, responses in")
    ranges = VectorParam.AddrRange("address ranges routed through this link")
    wire = Param.EidolaWire("this direction of the wire (requests)")
    reverse_wire = Param.EidolaWire("the opposite direction (responses)")
    buffer_bytes = Param.MemorySize("0B", "request buffer of this direction (0: unbounded); "
                                    "full: requests are refused and retried")


class EidolaMulticast(ClockedObject):
    """A switch's NVLink SHARP (NVLS) engine: a multicast write (or signal) arriving in its
    window is copied to every GPU of the group; a multicast read reads every GPU and answers
    with the reduced bytes; the requester is answered when all copies / parts are."""

    type = "EidolaMulticast"
    cxx_header = "gem5/eidola_multicast.hh"
    cxx_class = "gem5::eidola::EidolaMulticast"

    cpu_side_ports = VectorResponsePort("per group member: its multicast requests in, their "
                                        "answers out")
    mem_side_ports = VectorRequestPort("per group member: copies and parts to it out, their "
                                       "answers in")
    system = Param.System(Parent.any, "system (for the requestor id)")
    windows = VectorParam.AddrRange("per group member: the address window of its multicasts")
    members = VectorParam.Addr("per group member: its memory region base")
