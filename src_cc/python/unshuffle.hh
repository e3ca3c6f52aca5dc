// HDF5's shuffle filter undone for one chunk: byte j of every record is stored together (plane
// j), and the records are put back together here.
//
// Why in C++: numpy undoes it as a strided copy of one byte at a time (a transposed view
// assigned to the records), the largest single cost of reading a 4096-GPU profile's 5.5 GB of
// records after inflating them. Here the records are rebuilt a block at a time, so the block
// being written stays in the first-level cache while its 55 planes are read in order.
#pragma once

#include <cstddef>
#include <cstdint>

namespace eidola {

// planes: `width` planes of `chunk_rows` bytes each; out: `rows` records of `width` bytes
// (rows <= chunk_rows: a dataset's last chunk is only partly used).
inline void unshuffle(const uint8_t* planes, size_t chunk_rows, size_t width, uint8_t* out, size_t rows) {
    constexpr size_t kBlock = 256;  // records a block: 256 x 55 bytes = 14 KiB
    for (size_t r0 = 0; r0 < rows; r0 += kBlock) {
        const size_t r1 = r0 + kBlock < rows ? r0 + kBlock : rows;
        for (size_t j = 0; j < width; ++j) {
            const uint8_t* plane = planes + j * chunk_rows;
            uint8_t* dst = out + j;
            for (size_t r = r0; r < r1; ++r) dst[r * width] = plane[r];
        }
    }
}

}  // namespace eidola
