// Basic types shared by every part of the gem5-free replay core.
//
// Time inside the core is an integer count of picoseconds (a gem5 tick at the default
// 1 THz tick rate), so both hosts schedule the very same instants. Bandwidths are payload
// bytes per picosecond internally and GB/s (= bytes/ns) at the edges.
#pragma once

#include <cstddef>
#include <cstdint>

namespace eidola {

using Tick = uint64_t;  // picoseconds
constexpr Tick kMaxTick = ~Tick(0);

inline Tick ns_to_ps(double ns) { return ns <= 0.0 ? 0 : static_cast<Tick>(ns * 1000.0 + 0.5); }
inline double ps_to_ns(Tick ps) { return static_cast<double>(ps) / 1000.0; }

// Peer id of a multicast op (NVLS-style): a write or signal goes to every GPU through the
// switch the issuing GPU is attached to; a read returns the switch's reduction of the same
// address on every GPU (multimem.ld_reduce). Stored in profiles as peer = -2.
constexpr int32_t kMulticastPeer = -2;

// Op kinds; the numeric values are stored in profile files (eidola/profile/schema.py).
// SignalNbi: a signal ordered behind the stream's earlier writes without a fence (it does not
// wait for their acknowledgements; it follows them on the same path, so it lands after them).
enum class OpKind : uint8_t { Compute = 0, Write = 1, Signal = 2, Wait = 3, Read = 4, SignalNbi = 5 };

inline bool is_signal(OpKind k) { return k == OpKind::Signal || k == OpKind::SignalNbi; }

// One op exactly as a profile stores it (numpy OP_DTYPE, packed, 55 bytes). Only used at the
// boundary: the replayer converts these into the aligned ReplayOp below.
#pragma pack(push, 1)
struct ProfileOp {
    double t_ns;
    double dur_ns;
    uint64_t bytes;
    uint64_t addr;
    int64_t value;
    int32_t peer;
    int32_t flag;
    uint32_t stream;
    uint8_t kind;
    uint16_t iteration;
};
#pragma pack(pop)
static_assert(sizeof(ProfileOp) == 55, "ProfileOp must match eidola.profile.schema.OP_DTYPE");

}  // namespace eidola
