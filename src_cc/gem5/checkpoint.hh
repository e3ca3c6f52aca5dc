// gem5 adapter: a core component's checkpoint state as one integer array in the object's
// checkpoint section (core/replay/state_words.hh). A state that does not fit this run (another
// profile, topology or option) stops gem5 with the core's one-line reason.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "base/logging.hh"
#include "core/replay/state_words.hh"
#include "sim/serialize.hh"

namespace gem5
{
namespace eidola
{

inline void
saveCoreState(CheckpointOut &cp, const ::eidola::StateOut &out)
{
    arrayParamOut(cp, "eidola_state", out.words());
}

// Reads the object's state words and hands them to `load(StateIn&)`, which must consume all.
template <typename Load>
void
loadCoreState(CheckpointIn &cp, const std::string &what, Load &&load)
{
    std::vector<uint64_t> words;
    arrayParamIn(cp, "eidola_state", words);
    try {
        ::eidola::StateIn in(words, what);
        load(in);
        in.finish();
    } catch (const std::exception &e) {
        fatal("eidola: %s", e.what());
    }
}

} // namespace eidola
} // namespace gem5
