#pragma once
// What ls and watch share between their two sources, the protocol
// (tools.cpp) and the admin HTTP API (tools_admin.cpp): printing a list and
// an event, as text or as docs/json.md's JSON.

#include <cstdint>
#include <string>
#include <vector>

#include "common.hpp"
#include "lifeline/presence.hpp"
#include "lifeline/protocol.hpp"

namespace lifeline::app {

// The list from one or more LIST_REPLY frames, and the point of the event stream it reflects.
struct ListResult {
  std::vector<proto::ListEntry> entries;
  std::uint32_t online = 0;
  std::uint64_t seq = 0;
  std::uint64_t instance = 0;
  std::string node;  // the cluster node that answered ("" alone)
  bool degraded = false;
  /// Adds one frame; true once it was the last of its reply.
  bool add(const proto::ListReply& r) {
    entries.insert(entries.end(), r.entries.begin(), r.entries.end());
    online = r.online;
    seq = r.seq;
    instance = r.instance;
    node = r.node;
    degraded = r.degraded;
    return r.last;
  }
};

void print_list(const ListResult& list, bool json);
void print_event(const proto::Event& e, bool json);

/// ls and watch against --admin URL.
#ifdef _WIN32
// The admin API client (Beast over OpenSSL) is not part of the Windows build.
[[noreturn]] inline void run_ls_admin(const ToolOptions& /*t*/) {
  throw UsageError("--admin is not available in the Windows build of lifeline: use --server");
}
[[noreturn]] inline void run_watch_admin(const ToolOptions& t, std::uint64_t /*exit_after*/, bool /*snapshot*/) {
  run_ls_admin(t);
}
#else
void run_ls_admin(const ToolOptions& t);
void run_watch_admin(const ToolOptions& t, std::uint64_t exit_after, bool snapshot);
#endif

}  // namespace lifeline::app
