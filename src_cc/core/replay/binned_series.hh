// Time series of amounts (bytes, counts) in bins of one width, for results.h5: rows x
// max_bins counters. Bins start `bin_ps` wide and double (neighbours summed) whenever a sample
// falls past the last bin, so memory stays fixed however long the run. Both hosts record
// with it: the built-in engine (links, polls, memory channels as row ranges of one series,
// so they share one bin width) and gem5 (a series per wire and per eidolon; the glue folds
// them to the widest width, which is always a power-of-two multiple of the others).
#pragma once

#include <cstdint>
#include <vector>

#include "core/replay/state_words.hh"
#include "core/replay/types.hh"

namespace eidola {

class BinnedSeries {
  public:
    BinnedSeries() = default;
    BinnedSeries(uint32_t rows, uint32_t max_bins, Tick bin_ps);

    bool enabled() const { return rows_ > 0; }
    // `amount` at instant `when` (a poll, a count).
    void add(uint32_t row, Tick when, uint64_t amount);
    // `amount` spread over [start, end) in proportion to the time in each bin: a link's
    // series never shows more than its bandwidth (a packet can straddle bins).
    void add_span(uint32_t row, Tick start, Tick end, uint64_t amount);

    uint32_t rows() const { return rows_; }
    uint32_t max_bins() const { return max_bins_; }
    uint32_t bins_used() const { return bins_used_; }
    Tick bin_ps() const { return bin_ps_; }
    // Checkpoints: the bin width reached and the counts (rows and max_bins are configuration).
    void save(StateOut& out) const;
    void load(StateIn& in);
    const uint64_t* row(uint32_t r) const { return counts_.data() + static_cast<size_t>(r) * max_bins_; }

  private:
    void rebin();

    uint32_t rows_ = 0;
    uint32_t max_bins_ = 0;
    uint32_t bins_used_ = 0;
    Tick bin_ps_ = 1;
    std::vector<uint64_t> counts_;
};

}  // namespace eidola
