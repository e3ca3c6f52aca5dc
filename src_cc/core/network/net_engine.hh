// The built-in host: a discrete-event model of GPUs, links, switches and HBM that drives one
// GpuReplayer per GPU. Packets move hop by hop over directed channels (one per direction of
// a full-duplex link): FIFO serialization at the channel's payload bandwidth, then the link
// latency; a channel sends only while the receiver's input buffer has room (credits come
// back one link latency after the packet leaves that buffer), so congestion backs up to the
// sender. At the destination, writes, signals and polling reads share the GPU's HBM
// bandwidth. Acknowledgements and SyncMon messages carry no payload: they pay latency only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <functional>
#include <vector>

#include "core/network/event_queue.hh"
#include "core/replay/binned_series.hh"
#include "core/replay/flag_memory.hh"
#include "core/replay/gpu_memory.hh"
#include "core/replay/link_timing.hh"
#include "core/replay/replayer.hh"

namespace eidola {

struct ChannelSpec {
    uint32_t src;       // node id: GPUs are 0..num_gpus-1, switches follow
    uint32_t dst;
    double bw_gbps;     // payload GB/s in this direction
    double latency_ns;
    // Ring (one direction of a ring or torus dimension) the channel belongs to; -1 if none.
    // A packet entering a ring channel from outside that ring (from its source, or turning)
    // must leave one packet of space free behind it: bubble flow control, which keeps the
    // ring's cyclic buffer dependency from deadlocking (Carrion et al., "A flow control
    // mechanism to avoid message deadlock in k-ary n-cube networks", HiPC 1997).
    int32_t ring = -1;
    // The channel from a GPU into its NIC: the NIC's send scheduler serves its queue pairs in
    // turn (round-robin arbitration of RDMA send queues), so the GPU's own packets waiting
    // for this channel are served one per flow (issuing GPU and stream) in turn, not in the
    // order the streams issued their bursts. Elsewhere a channel is one FIFO.
    bool arbitrate_flows = false;
};

struct NetworkSpec {
    uint32_t num_gpus = 0;
    uint32_t num_nodes = 0;
    std::vector<ChannelSpec> channels;
    std::vector<double> node_latency_ns;  // forwarding latency of each node (switches, relays)
    // Equal-cost multipath: a packet at a node with several next channels on shortest paths
    // to its destination takes one chosen by a hash of its flow (source GPU, stream,
    // destination) and the node, salted with ecmp_seed: deterministic, and in order per flow
    // (ECMP-style hashing of multi-tier fabrics). Off: the first shortest path found.
    bool ecmp = false;
    uint64_t ecmp_seed = 0;
    // Whether routes may pass through GPUs. Switched scale-out fabrics: no, a GPU is only a
    // route's source or destination (it has no forwarding path between its NVLink port and its
    // NIC; a route through one also closes credit cycles through its buffers).
    bool gpus_forward = true;
    MemorySpec memory;                    // per GPU: channels, bandwidth, latency, flag layout
    double syncmon_latency_ns = 150.0;    // one way between a waiter and its SyncMon
    uint32_t syncmon_entries = 0;         // watch-table entries per GPU; 0 = unlimited
    uint32_t syncmon_register_bytes = 16; // a registration message: flag address + value
    uint32_t syncmon_notify_bytes = 8;    // a notification or refusal message
    uint64_t buffer_bytes = 0;            // per channel input buffer; 0 = auto (2 x BDP)
};

struct EngineConfig {
    ReplayConfig replay;
    bool series = true;          // keep link-bytes and polling time series
    double time_bin_ns = 100.0;  // initial bin width; doubles whenever max_bins would overflow
    uint32_t max_bins = 1024;
    uint32_t max_mem_series_rows = 4096;  // GPU x memory channel series kept up to this many rows
    uint64_t max_events = 0;     // 0 = unlimited; a safety valve for sweeps
    // Asked every `interrupt_every` events whether to stop now (the host's Ctrl-C / SIGTERM),
    // with the simulated time, events so far and ops passed of all ops (a host may show
    // progress); empty = never. Keeps a long run interruptible without the core knowing its host.
    std::function<bool(Tick now_ps, uint64_t events, uint64_t ops_done, uint64_t ops_total)> interrupted;
    uint64_t interrupt_every = uint64_t(1) << 20;
};

struct EngineOutcome {
    bool finished = false;       // every GPU done
    bool deadlock = false;       // nothing could progress while streams still waited
    bool event_limit = false;
    bool interrupted = false;    // the host asked to stop
    Tick end_ps = 0;
    uint64_t events = 0;
    std::vector<StuckWait> stuck;
    std::vector<int64_t> stuck_values;  // current flag value of each stuck wait
};

class Engine : public ReplayHost {
  public:
    Engine(NetworkSpec net, EngineConfig cfg, std::vector<GpuProgram> programs);
    EngineOutcome run();

    // ReplayHost
    bool send(const Request& req, Tick now) override;
    void schedule_resume(uint32_t gpu, uint32_t stream, Tick when, bool poll_backoff) override;
    Tick flag_satisfied_at(uint32_t gpu, int32_t flag, int64_t threshold) override;
    void gpu_done(uint32_t gpu, Tick now) override;

    const std::vector<std::unique_ptr<GpuReplayer>>& replayers() const { return replayers_; }
    uint64_t notifications() const { return notifications_; }
    size_t num_channels() const { return channels_.size(); }
    const NetworkSpec& network() const { return net_; }
    const std::vector<uint64_t>& channel_bytes() const { return channel_bytes_; }
    const std::vector<GpuMemory>& memories() const { return mem_; }
    const FlagMemory& flags(uint32_t gpu) const { return flags_[gpu]; }
    // Time series (when cfg.series): rows [0, channels) bytes that crossed each channel, then
    // [poll_row0, +num_gpus) polls each GPU issued, then [mem_row0, +mem_series_rows) bytes
    // each (GPU, memory channel) served (none when there are more rows than the config allows).
    const BinnedSeries& series() const { return series_; }
    uint32_t poll_row0() const { return static_cast<uint32_t>(channels_.size()); }
    uint32_t mem_row0() const { return poll_row0() + net_.num_gpus; }
    uint32_t mem_series_rows() const { return mem_series_rows_; }

  private:
    // The *Poll types carry polling traffic only: they do not count as progress when the
    // engine looks for a deadlock (polls alone cannot change a flag).
    enum EventType : uint32_t { kResume, kResumePoll, kArrive, kCredit, kDeliver, kDeliverPoll,
                                kFlagUpdate, kWatch, kInject, kCopyDone, kArrivePoll, kInjectPoll };
    // Multicast (NVLS) packets: the issuer's packet climbs to its switch (Up); the switch fans
    // out copies or read requests to every GPU and counts them back before answering.
    enum class Role : uint8_t { Plain, Up, Copy, ReadReq, ReadData };
    struct Packet {
        Request req;
        uint32_t dst_node;    // where it is heading (peer GPU, or the requester for read data)
        uint32_t in_channel;  // channel whose buffer currently holds it (kNone at the source)
        uint32_t wire_bytes;  // bytes it occupies on links and in buffers
        bool response;        // read data (or a poll's value, a SyncMon reply) on its way back
        bool refused;         // a SyncMon reply saying the table was full
        int64_t observed;
        Role role;
        uint32_t parent;      // multicast: the Up packet a copy answers to
        uint32_t pending;     // multicast Up packet: copies or reads not yet answered
        Tick path_latency;    // link + relay latency so far: what its acknowledgement pays back
    };
    struct Queued {
        uint32_t packet;
        Tick earliest;
        // credits_needed(packet, channel), fixed while it waits: kept here so that a channel
        // deciding whether its head can go does not reach for a packet record gone cold
        uint64_t need;
    };
    struct Channel {
        LinkTiming timing;
        uint32_t src, dst;
        uint64_t capacity;
        uint64_t credits;
        int32_t ring = -1;
        // Waiting packets, FIFO per class: [0] transit (already in this ring, or any packet
        // of a channel outside rings), [1] entering a ring. Transit goes first, so a packet
        // waiting for its bubble never blocks the ring's own traffic behind it.
        std::vector<Queued> queue[2];
        size_t head[2] = {0, 0};
        // Own packets waiting for an arbitrate_flows channel (ChannelSpec), one FIFO per flow,
        // served a packet per flow in turn after any transit. Allocated when the first one
        // has to wait.
        struct OwnFlows {
            std::vector<std::vector<Queued>> fifo;
            std::vector<uint32_t> head;
            std::unordered_map<uint64_t, uint32_t> slot;  // flow -> fifo index
            std::vector<uint32_t> turn;                   // flows with packets, service order
            size_t turn_head = 0;
            size_t waiting = 0;
        };
        std::unique_ptr<OwnFlows> own;
        bool idle() const {
            return head[0] == queue[0].size() && head[1] == queue[1].size() &&
                   (!own || own->waiting == 0);
        }
        // Credits on their way back, applied lazily when the channel next decides; an event
        // is scheduled only while packets wait for them (min-heap by time).
        std::vector<std::pair<Tick, uint64_t>> returns;
        Tick wake_at = kMaxTick;
    };
    static constexpr uint32_t kNone = ~uint32_t(0);
    uint64_t bubble_bytes_ = 0;  // the largest packet: the space a ring entry leaves free

    uint32_t alloc_packet();
    // Credits packet `pkt` needs to enter channel `ch`: its wire bytes, plus one packet of
    // bubble when it enters a ring from outside it.
    uint64_t credits_needed(uint32_t pkt, uint32_t ch) const;
    bool enters_ring(uint32_t pkt, uint32_t ch) const;
    void free_packet(uint32_t id) { free_packets_.push_back(id); }
    void schedule(Tick when, EventType type, uint32_t a, uint64_t b, bool progress = true);
    // An event of a FIFO resource whose times never go back (EventQueue lanes): arrivals at
    // the end of channel `ch`, and what GPU `gpu`'s memory has served.
    void schedule_arrival(Tick when, EventType type, uint32_t pkt, uint32_t ch, bool progress);
    void schedule_served(Tick when, EventType type, uint32_t pkt, uint32_t gpu, bool progress = true);
    uint32_t next_channel(uint32_t node, uint32_t dst, uint64_t flow = 0);
    uint32_t first_channel(uint32_t node, uint32_t dst);
    static uint64_t flow_of(const Request& r) {
        return (uint64_t(r.gpu) << 40) ^ (uint64_t(r.stream) << 20) ^ uint64_t(r.peer);
    }
    void forward(uint32_t pkt, uint32_t node, Tick earliest);
    void offer(uint32_t pkt, uint32_t ch, Tick earliest);
    bool is_own(uint32_t pkt, uint32_t ch) const {
        return packets_[pkt].in_channel == kNone && net_.channels[ch].arbitrate_flows;
    }
    void queue_own(uint32_t pkt, uint32_t ch, Tick earliest, uint64_t need);
    bool depart_own(uint32_t ch);
    void return_credit(uint32_t ch, Tick when, uint64_t bytes);
    void collect_credits(Channel& c);
    void wake_when_credits_return(uint32_t ch);
    void drain(uint32_t ch);
    void depart(uint32_t pkt, uint32_t ch, Tick earliest);
    void arrive_at_gpu(uint32_t pkt, Tick now);
    void arrive_at_switch(uint32_t pkt, Tick now);
    void release_buffer(Packet& p, Tick when);
    // A packet that reached a node leaves it for `dst` carrying `wire_bytes` (it holds no
    // buffer there any more); `respond` sends it back to the GPU that issued it.
    static void redirect(Packet& p, uint32_t dst, uint32_t wire_bytes) {
        p.dst_node = dst;
        p.wire_bytes = wire_bytes;
        p.in_channel = kNone;
    }
    static void respond(Packet& p, uint32_t wire_bytes) {
        p.response = true;
        redirect(p, p.req.gpu, wire_bytes);
    }
    GpuMemory::Access mem_access(uint32_t gpu, uint64_t addr, uint64_t bytes, Tick now);
    uint64_t flag_addr(int32_t flag) const { return net_.memory.flag_address(flag); }
    void register_watch(uint32_t pkt, uint32_t home, Tick now);
    void reply_to_waiter(uint32_t pkt, uint32_t home, Tick when, bool refused);
    void notify_woken(uint32_t gpu, Tick now);

    NetworkSpec net_;
    EngineConfig cfg_;
    std::vector<std::unique_ptr<GpuReplayer>> replayers_;
    std::vector<FlagMemory> flags_;
    std::vector<GpuMemory> mem_;
    HugeVector<Channel> channels_;
    // Each node's channels by one end (CSR over nodes, channel order kept within a node): node
    // v's are channel[offsets[v] .. offsets[v + 1]), whose other ends are in `far` beside them
    // (scans read those, not the channel records).
    struct NodeChannels {
        std::vector<uint32_t> offsets, channel, far;
        void build(const HugeVector<Channel>& channels, uint32_t num_nodes, bool by_destination);
    };
    NodeChannels in_;   // channels ending at each node, from where (route searches walk back)
    NodeChannels out_;  // channels leaving each node, to where (next-hop scans)
    std::vector<std::vector<uint32_t>> route_;        // per destination node: next channel per node
    // ECMP: per destination, each node's hop distance to it (2 bytes a node; computed once per
    // destination the run uses). A node's candidates are its out-channels one hop closer,
    // found by scanning its out-channels; a per-destination list of them cost O(nodes) words
    // per destination, gigabytes at 16 K GPUs.
    std::vector<std::vector<uint16_t>> ecmp_dist_;
    // ECMP candidates of each (node, destination) a packet has been routed through: scanning
    // a 256-port switch's out-channels reads the destination's distance at every neighbour,
    // hundreds of scattered reads a hop, where this memo answers with one probe. Lists are
    // shared by the destinations that have the same ones (a leaf's uplinks serve every remote
    // GPU), so the memo costs a few words per pair.
    struct EcmpChoice {
        uint32_t offset;  // into ecmp_pool_
        uint32_t count;
    };
    struct EcmpSlot {
        static constexpr uint64_t kEmpty = ~uint64_t(0);
        uint64_t key = kEmpty;  // (node << 32) | destination
        EcmpChoice choice{0, 0};
    };
    // The slot holding `key` (open addressing, power-of-two size, linear probing), or the
    // empty slot where it would go.
    static size_t ecmp_slot(const HugeVector<EcmpSlot>& table, uint64_t key);
    const EcmpChoice& ecmp_choice(uint32_t node, uint32_t dst);
    EcmpChoice ecmp_candidates(uint32_t node, uint32_t dst);  // the scan, interned
    HugeVector<EcmpSlot> ecmp_memo_;          // power-of-two size, linear probing, <= half full
    size_t ecmp_memo_used_ = 0;
    std::vector<uint32_t> ecmp_pool_;         // candidate channels, list after list
    std::unordered_map<uint64_t, EcmpChoice> ecmp_lists_;  // list hash -> a stored list
    static constexpr uint32_t kDirectScan = 8;  // out-channels first_channel scans for a direct hop
    HugeVector<Packet> packets_;
    std::vector<uint32_t> free_packets_;
    std::vector<Watcher> woken_;
    EventQueue events_;
    bool lanes_ = false;  // channels and GPU memories have event lanes (see schedule_arrival)
    Tick now_ = 0;
    Tick mem_latency_ps_, syncmon_latency_ps_;
    std::vector<Tick> node_latency_ps_;
    std::vector<uint32_t> mcast_switch_;  // per GPU: the switch its multicast goes through
    // per node: the GPUs whose multicast goes through it (a multicast reaches the GPUs of one
    // switch, e.g. one NVSwitch node, not every GPU of a multi-node fabric)
    std::vector<std::vector<uint32_t>> mcast_members_;
    bool any_wait_satisfiable() const;
    uint64_t progress_events_ = 0;
    uint64_t waits_done_ = 0;             // waits completed so far (any GPU)
    uint64_t checked_at_waits_ = ~uint64_t(0);  // waits_done_ when the last deadlock check ran  // pending events other than polling back-off and poll replies
    uint64_t notifications_ = 0;
    uint32_t gpus_done_ = 0;
    std::vector<uint64_t> channel_bytes_;
    BinnedSeries series_;
    uint32_t mem_series_rows_ = 0;
};

}  // namespace eidola
