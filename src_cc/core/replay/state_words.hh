// Checkpoint state of the core's components as a flat sequence of 64-bit words.
//
// Why words: gem5 checkpoints store integer arrays natively (arrayParamOut), so a host adapter
// writes one array per object and the core stays gem5-free; a round trip is exact because
// doubles travel as their bit patterns. Each component writes its own fields in a fixed order
// and reads them back in that order; a reader that runs short or has words left over throws,
// so a checkpoint from another build or configuration is refused instead of misread.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace eidola {

class StateOut {
  public:
    void u64(uint64_t v) { words_.push_back(v); }
    void i64(int64_t v) { words_.push_back(static_cast<uint64_t>(v)); }
    void f64(double v) {
        uint64_t bits;
        std::memcpy(&bits, &v, sizeof(bits));
        words_.push_back(bits);
    }
    void flag(bool v) { words_.push_back(v ? 1 : 0); }
    // A length, then the words: containers of plain integers.
    template <typename T>
    void ints(const std::vector<T>& v) {
        u64(v.size());
        for (const T& x : v) words_.push_back(static_cast<uint64_t>(x));
    }
    const std::vector<uint64_t>& words() const { return words_; }

  private:
    std::vector<uint64_t> words_;
};

class StateIn {
  public:
    // `what` names the state in errors (e.g. "gpu 3 replayer").
    StateIn(const std::vector<uint64_t>& words, std::string what) : words_(words), what_(std::move(what)) {}
    uint64_t u64() {
        if (at_ >= words_.size()) fail("ends early");
        return words_[at_++];
    }
    int64_t i64() { return static_cast<int64_t>(u64()); }
    double f64() {
        const uint64_t bits = u64();
        double v;
        std::memcpy(&v, &bits, sizeof(v));
        return v;
    }
    bool flag() { return u64() != 0; }
    // A count that must not exceed what is left (guards against allocating from garbage).
    size_t count(size_t words_each = 1) {
        const uint64_t n = u64();
        if (words_each && n > (words_.size() - at_) / words_each) fail("has a count larger than its data");
        return static_cast<size_t>(n);
    }
    template <typename T>
    void ints(std::vector<T>& v) {
        const size_t n = count();
        v.resize(n);
        for (size_t i = 0; i < n; ++i) v[i] = static_cast<T>(u64());
    }
    // A saved value that must equal what this run configured (a checkpoint of another setup).
    void expect(uint64_t configured, const char* field) {
        const uint64_t saved = u64();
        if (saved != configured)
            fail(std::string("was saved with ") + field + " " + std::to_string(saved) + ", this run has " +
                 std::to_string(configured));
    }
    void finish() const {
        if (at_ != words_.size()) fail("has " + std::to_string(words_.size() - at_) + " words left over");
    }
    [[noreturn]] void fail(const std::string& why) const {
        throw std::runtime_error("checkpoint state of " + what_ + " " + why);
    }

  private:
    const std::vector<uint64_t>& words_;
    std::string what_;
    size_t at_ = 0;
};

}  // namespace eidola
