#pragma once
// Connection limits in all and per source address, checked when a connection
// is accepted. Thread-safe: shard 0 admits, any shard releases.

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace lifeline::detail {

class ConnectionLimits {
 public:
  /// 0 means no limit.
  ConnectionLimits(std::size_t max_total, std::size_t max_per_address)
      : max_total_(max_total), max_per_address_(max_per_address) {}

  /// Counts a connection from `address` (host only, no port). Returns why it is
  /// refused, or an empty string once it is admitted and counted.
  std::string admit(std::string_view address);
  /// Uncounts an admitted connection.
  void release(std::string_view address);
  std::size_t total() const;
  /// New limits for connections admitted from now on (a reload); the ones
  /// already open stay, counted, even past a lowered limit.
  void set(std::size_t max_total, std::size_t max_per_address);

 private:
  std::size_t max_total_;
  std::size_t max_per_address_;
  mutable std::mutex mu_;
  std::size_t total_ = 0;
  // Every live address is counted, limit or not, so a limit set by a reload
  // counts the connections already open.
  std::unordered_map<std::string, std::uint32_t> per_address_;
};

/// The host part of "host:port" / "[v6]:port".
std::string_view host_of(std::string_view peer);

}  // namespace lifeline::detail
