// eidola-profile-dump FILE: what the C++ HDF5 reader (the gem5 path) sees in a profile, as JSON.
// The Python tests compare it with h5py's view of the same file.
#include <cstdio>
#include <exception>
#include <map>

#include "core/io/profile_h5.hh"

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s PROFILE.h5\n", argv[0]);
        return 2;
    }
    try {
        eidola::ProfileFile f(argv[1]);
        const auto& h = f.header();
        unsigned long long ops = 0, bytes_written = 0;
        std::map<int, unsigned long long> kinds;
        for (uint32_t g = 0; g < h.num_gpus; ++g) {
            for (const auto& op : f.read_gpu(g)) {
                ++ops;
                ++kinds[op.kind];
                if (op.kind == static_cast<uint8_t>(eidola::OpKind::Write)) bytes_written += op.bytes;
            }
        }
        std::printf("{\"format\": \"%s\", \"version\": %lld, \"num_gpus\": %u, \"num_iterations\": %u, "
                    "\"num_ops\": %llu, \"bytes_written\": %llu, \"compute_cv\": %.17g, \"ops_by_kind\": {",
                    h.format.c_str(), static_cast<long long>(h.version), h.num_gpus, h.num_iterations,
                    ops, bytes_written, h.compute_cv);
        bool first = true;
        for (const auto& [k, n] : kinds) {
            std::printf("%s\"%d\": %llu", first ? "" : ", ", k, n);
            first = false;
        }
        std::printf("}}\n");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    }
    return 0;
}
