// One GPU's memory as a set of address-interleaved channels, and where flags live in it.
//
// Why channels: a single aggregate FIFO of the GPU's whole HBM bandwidth makes polling look
// free (64 B polls are a rounding error next to TB/s). Real memory is striped over channels a
// granule at a time; flags laid out next to each other share a channel, so hundreds of waiters
// spinning on them load one channel, and data and signals landing there queue behind the polls.
//
// Mapping: channel(addr) = (addr / interleave_bytes) mod channels (plain modulo interleave, no
// address hashing). An access spanning several granules occupies each channel it touches for
// its share of the bytes; it completes when the last of them has served it, plus the access
// latency (pipelined). One channel with any granule is exactly the old aggregate FIFO.
//
// Flags: flag f of a GPU sits at flag_base + f * flag_stride_bytes (the flag window): stride 8
// is a contiguous uint64 signal array (NVSHMEM signal sets, Iris flag tensors), 64 or 128 pads
// every flag to its own cache line. The data buffer starts at address 0; the flag window
// starts at the first multiple of channels x interleave at or above 2^40, so flag 0 maps to
// channel 0.
#pragma once

#include <cstdint>
#include <vector>

#include "core/replay/link_timing.hh"
#include "core/replay/types.hh"

namespace eidola {

struct MemorySpec {
    double bw_gbps = 1000.0;           // whole GPU, split equally over the channels
    double latency_ns = 300.0;         // access latency after a channel has served the bytes
    uint32_t channels = 1;             // address-interleaved channels per GPU
    uint32_t interleave_bytes = 256;   // granule that goes to one channel before the next
    uint32_t flag_stride_bytes = 8;    // distance between consecutive flags in the flag window

    uint64_t flag_base() const {  // byte address of flag 0
        const uint64_t period = static_cast<uint64_t>(interleave_bytes) * channels;
        return ((uint64_t(1) << 40) + period - 1) / period * period;
    }
    uint64_t flag_address(int32_t flag) const {
        return flag_base() + static_cast<uint64_t>(flag < 0 ? 0 : flag) * flag_stride_bytes;
    }
};

// Throws std::invalid_argument with a one-line message when the spec cannot be modelled.
void check_memory_spec(const MemorySpec& spec);

class GpuMemory {
  public:
    struct Access {
        Tick start;  // when the first channel began serving it (the input buffer frees then)
        Tick done;   // when the data is in memory / the read data is ready to leave
    };

    GpuMemory() = default;
    explicit GpuMemory(const MemorySpec& spec);

    uint32_t channel_of(uint64_t addr) const {
        return static_cast<uint32_t>((addr >> shift_) % num_channels_);
    }
    // Serve `bytes` starting at byte address `addr`, no earlier than `now`.
    Access access(uint64_t addr, uint64_t bytes, Tick now);
    // Calls f(channel, start, end, bytes) for each channel share of the last access (series).
    template <typename F>
    void for_each_share(F&& f) const {
        for (const Share& s : last_) f(s.channel, s.start, s.end, s.bytes);
    }
    uint32_t num_channels() const { return num_channels_; }
    uint64_t channel_bytes(uint32_t c) const { return chan(c).bytes; }
    // Whether access() keeps its per-channel shares for for_each_share (a host recording
    // memory time series); off saves a write per access. On by default.
    void keep_shares(bool on) {
        keep_shares_ = on;
        last_.clear();
    }
    double channel_bw_gbps() const { return channel_bw_gbps_; }
    // Checkpoints: each channel's busy time and bytes served (the spec is configuration).
    void save(StateOut& out) const;
    void load(StateIn& in);

  private:
    struct Share {
        uint32_t channel;
        Tick start, end;
        uint64_t bytes;
    };
    struct Channel {
        LinkTiming timing;
        uint64_t bytes = 0;  // served so far
    };
    // One channel lives in the object itself (the common single-channel model then costs one
    // cache line per access, not three); more live in `many_`.
    Channel& chan(uint32_t c) { return num_channels_ == 1 ? one_ : many_[c]; }
    const Channel& chan(uint32_t c) const { return num_channels_ == 1 ? one_ : many_[c]; }
    void note_share(uint32_t c, Tick start, Tick end, uint64_t bytes) {
        if (keep_shares_) last_.push_back({c, start, end, bytes});
    }
    Channel one_;
    uint32_t num_channels_ = 1;
    uint32_t shift_ = 8;  // log2(interleave_): the granule of an address is addr >> shift_
    uint64_t interleave_ = 256;
    Tick latency_ps_ = 0;
    bool keep_shares_ = true;
    double channel_bw_gbps_ = 0.0;
    std::vector<Channel> many_;
    std::vector<Share> last_;
    std::vector<uint64_t> fold_;  // bytes per channel of an access that wraps all channels
};

}  // namespace eidola
