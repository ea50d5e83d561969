#include "handles.hpp"

#include <mutex>
#include <string>
#include <unordered_map>

#include "lifeline/lifeline.h"
#include "status.hpp"

namespace lifeline::capi {
namespace {

struct Registry {
  std::mutex mu;
  std::unordered_map<const void*, std::shared_ptr<HandleBase>> live;
};

// Never destroyed: handles a host leaks at exit must not be torn down by a
// static destructor racing the host's own threads.
Registry& registry() {
  static auto* r = new Registry;  // NOLINT(cppcoreguidelines-owning-memory)
  return *r;
}

std::string kind_name(Kind k) { return k == Kind::client ? "client" : "server"; }

std::shared_ptr<HandleBase> lookup_locked(Registry& r, const void* key, Kind kind, std::string_view what) {
  if (key == nullptr) {
    throw Failure(LL_ERR_HANDLE, std::string(what) + " is NULL");
  }
  const auto it = r.live.find(key);
  if (it == r.live.end()) {
    throw Failure(LL_ERR_HANDLE, std::string(what) + " is not a live " + kind_name(kind) +
                                     " handle (destroyed already, or never made by ll_" + kind_name(kind) + "_new)");
  }
  if (it->second->kind != kind) {
    throw Failure(LL_ERR_HANDLE,
                  std::string(what) + " is a " + kind_name(it->second->kind) + " handle, not a " + kind_name(kind));
  }
  return it->second;
}

}  // namespace

void register_handle(const void* key, std::shared_ptr<HandleBase> handle) {
  auto& r = registry();
  const std::lock_guard lock(r.mu);
  r.live.emplace(key, std::move(handle));
}

std::shared_ptr<HandleBase> find_handle(const void* key, Kind kind, std::string_view what) {
  auto& r = registry();
  const std::lock_guard lock(r.mu);
  return lookup_locked(r, key, kind, what);
}

std::shared_ptr<HandleBase> unregister_handle(const void* key, Kind kind, std::string_view what) {
  auto& r = registry();
  const std::lock_guard lock(r.mu);
  auto h = lookup_locked(r, key, kind, what);
  r.live.erase(key);
  return h;
}

}  // namespace lifeline::capi
