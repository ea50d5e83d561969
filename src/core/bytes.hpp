#pragma once
// Big-endian integers at the start of a payload: the PING/PONG timestamp and
// the LIST request id. Private to the library and its tests (the public API
// hands out parsed frames, never raw payloads to pick apart). Pure functions:
// thread-safe. Defined in protocol.cpp, next to the codec's own reader.

#include <cstdint>

#include "lifeline/protocol.hpp"

namespace lifeline::proto {

/// The first 8 bytes of `p`, big-endian; 0 if `p` is shorter.
std::uint64_t read_u64(Bytes p);
/// The first 4 bytes of `p`, big-endian; 0 if `p` is shorter.
std::uint32_t read_u32(Bytes p);

}  // namespace lifeline::proto
