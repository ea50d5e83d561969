#pragma once
// What the client and server handles do alike, once: make one, set an option,
// choose the callback, poll, and hand out the wait handle. H is ll_client or
// ll_server: it names itself (kKind, kName) and has `mu`, `running`,
// `options`, `queue_capacity` and `events`.
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "event_queue.hpp"
#include "handles.hpp"
#include "status.hpp"

namespace lifeline::capi {

template <class H>
std::shared_ptr<H> get(const H* handle) {
  return find(handle, H::kKind, H::kName);
}

template <class H>
int make_handle(std::string_view fn, H** out) {
  return guarded(fn, [&] {
    if (out == nullptr) {
      throw Failure(LL_ERR_INVALID, "out is NULL");
    }
    auto h = std::make_shared<H>();
    register_handle(h.get(), h);
    *out = h.get();
    return LL_OK;
  });
}

/// `apply(options, queue_capacity, key, value)` is set_client_option or set_server_option.
template <class H, class Apply>
int set_option(std::string_view fn, H* handle, const char* key, const char* value, Apply apply) {
  return guarded(fn, [&] {
    const auto h = get(handle);
    const auto k = text_arg(key, "key");
    const auto v = text_arg(value, "value of '" + std::string(k) + "'");
    const std::lock_guard lock(h->mu);
    if (h->running) {
      throw Failure(LL_ERR_STATE, std::string("options are set before ll_") + H::kName + "_start (or after ll_" +
                                      H::kName + "_stop)");
    }
    apply(h->options, h->queue_capacity, k, v);
    return LL_OK;
  });
}

template <class H>
int set_callback(std::string_view fn, H* handle, ll_event_fn callback, void* user) {
  return guarded(fn, [&] {
    const auto h = get(handle);
    const std::lock_guard lock(h->mu);
    if (h->running) {
      throw Failure(LL_ERR_STATE, std::string("the callback is set before ll_") + H::kName + "_start");
    }
    h->events.set_callback(callback, user);
    return LL_OK;
  });
}

template <class H>
int poll(std::string_view fn, H* handle, int timeout_ms, ll_event** out) {
  return guarded(fn, [&] {
    const auto h = get(handle);
    if (out == nullptr) {
      throw Failure(LL_ERR_INVALID, "out is NULL");
    }
    *out = nullptr;
    if (h->events.has_callback()) {
      throw Failure(LL_ERR_STATE, std::string("events go to the callback set with ll_") + H::kName + "_set_callback");
    }
    auto ev = h->events.pop(timeout_ms);
    if (!ev) {
      return LL_ERR_TIMEOUT;  // the ordinary "nothing yet": no message
    }
    *out = ev.release();
    return LL_OK;
  });
}

template <class H>
int wait_handle(std::string_view fn, H* handle, intptr_t* out) {
  return guarded(fn, [&] {
    const auto h = get(handle);
    if (out == nullptr) {
      throw Failure(LL_ERR_INVALID, "handle is NULL");
    }
    *out = h->events.wait_handle();
    return LL_OK;
  });
}

}  // namespace lifeline::capi
