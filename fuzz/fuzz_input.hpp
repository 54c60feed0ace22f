// fuzz/fuzz_input.hpp: the fuzzer's bytes read as a stream of operation arguments.
// Past the end every read yields zeros, so a short input is still a valid sequence.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace millrace::fuzz {

struct byte_reader {
    const std::uint8_t* data;
    std::size_t size;

    std::uint8_t byte() {
        if (size == 0) return 0;
        --size;
        return *data++;
    }
    std::uint64_t word() {
        std::uint64_t v = 0;
        const std::size_t n = std::min<std::size_t>(size, 8);
        std::memcpy(&v, data, n);
        data += n;
        size -= n;
        return v;
    }
    bool more() const { return size != 0; }
};

}  // namespace millrace::fuzz
