// Write numeric arrays and attributes to a new HDF5 file with the HDF5 C API alone.
//
// Why: results.h5 is laid out once, in Python (eidola/results.py); the built-in host stores
// that layout with h5py, but inside a gem5 that links HDF5 an h5py wheel cannot load, so the
// gem5 host stores the same layout through this writer and the library gem5 already links.
// Paths may name groups ("peer_traffic/src"); missing groups are created.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace eidola {

enum class H5Type : uint8_t { U8, U32, U64, I32, I64, F64 };

struct H5Attr {
    std::string name;
    bool is_text = false;
    std::string text;
    double number = 0.0;
    bool integral = false;  // stored as int64 instead of float64
};

struct H5Dataset {
    std::string path;
    H5Type type = H5Type::F64;
    std::vector<uint64_t> shape;  // row-major
    const void* data = nullptr;
    std::vector<H5Attr> attrs;
};

class H5Writer {
  public:
    explicit H5Writer(const std::string& path);  // creates (truncates) the file
    ~H5Writer();
    H5Writer(const H5Writer&) = delete;
    H5Writer& operator=(const H5Writer&) = delete;

    void attr(const std::string& object, const H5Attr& a);  // object "/" is the file
    void dataset(const H5Dataset& d);
    void group(const std::string& path);
    void close();

  private:
    std::string path_;
    int64_t file_ = -1;  // hid_t
};

}  // namespace eidola
