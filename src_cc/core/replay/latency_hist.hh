// Log-linear latency histogram: bounded memory whatever the packet count, quantiles good to
// about 3% (32 linear sub-buckets per power of two). Used for write and wake-up latencies.
#pragma once

#include <cstdint>
#include <vector>

#include "core/replay/state_words.hh"
#include "core/replay/types.hh"

namespace eidola {

class LatencyHist {
  public:
    static constexpr int kSubBits = 5;
    static constexpr int kSub = 1 << kSubBits;
    static constexpr int kBuckets = (64 - kSubBits + 1) * kSub;

    void add(Tick v);
    void merge(const LatencyHist& other);
    uint64_t count() const { return count_; }
    double mean_ps() const { return count_ ? sum_ / static_cast<double>(count_) : 0.0; }
    Tick max_ps() const { return max_; }
    Tick min_ps() const { return count_ ? min_ : 0; }
    // Value (ps) below which a fraction q of the samples lie (bucket midpoint).
    double quantile_ps(double q) const;
    // Non-empty buckets as (lower edge ps, upper edge ps, count), for results files.
    void buckets(std::vector<double>& lo, std::vector<double>& hi, std::vector<uint64_t>& n) const;

    void save(StateOut& out) const;
    void load(StateIn& in);
    static int bucket_of(Tick v);
    static Tick bucket_low(int b);
    static Tick bucket_high(int b);

  private:
    void cover(int lo, int hi);
    // Counts of buckets [base_, base_ + size): only the orders of magnitude seen are allocated
    // (a full table is 15 KB; one per GPU and kind did not fit in cache at thousands of GPUs).
    std::vector<uint64_t> counts_;
    int base_ = 0;
    uint64_t count_ = 0;
    double sum_ = 0.0;
    Tick max_ = 0;
    Tick min_ = kMaxTick;
};

}  // namespace eidola
