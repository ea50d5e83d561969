// ll_server_*: the C ABI over lifeline::Server. The handle's event queue is
// one more reader of the server's presence log (Server::subscribe, on the
// event thread) and of DATA (on the I/O threads); neither slows a heartbeat.
#include "lifeline/server.hpp"

#include <mutex>
#include <string>
#include <string_view>

#include "event_queue.hpp"
#include "handle_ops.hpp"
#include "handles.hpp"
#include "lifeline/lifeline.h"
#include "options.hpp"
#include "status.hpp"

using lifeline::capi::EventQueue;
using lifeline::capi::Failure;
using lifeline::capi::guarded;
using lifeline::capi::Kind;

struct ll_server : lifeline::capi::HandleBase {
  static constexpr auto kKind = Kind::server;
  static constexpr const char* kName = "server";

  ll_server() : HandleBase(Kind::server), events(this) {}
  ~ll_server() override { server.reset(); }  // joins every thread while `events` still exists
  ll_server(const ll_server&) = delete;
  ll_server& operator=(const ll_server&) = delete;

  std::mutex mu;
  lifeline::ServerOptions options;                            // guarded by mu
  std::size_t queue_capacity = EventQueue::kDefaultCapacity;  // guarded by mu
  std::shared_ptr<lifeline::Server> server;                   // guarded by mu
  bool running = false;                                       // guarded by mu
  EventQueue events;
};

namespace {

using Handle = std::shared_ptr<ll_server>;

using lifeline::capi::get;

void not_in_callback(const ll_server* s, const char* what) {
  if (EventQueue::in_callback_of(s)) {
    throw Failure(LL_ERR_STATE, std::string(what) + " is not allowed inside the server's own callback");
  }
}

// Runs `fn(server)` on the running server, outside the handle's lock: a
// stop() in progress on another thread waits for the event thread, which may
// be in a callback making this very call.
template <class Fn>
int with_running(const ll_server* s, Fn&& fn) {
  const auto h = get(s);
  std::shared_ptr<lifeline::Server> srv;
  {
    const std::lock_guard lock(h->mu);
    if (!h->running) {
      throw Failure(LL_ERR_STATE, "the server is not running (call ll_server_start first)");
    }
    srv = h->server;
  }
  return fn(*srv);
}

// Kick and DATA reach this node's own clients: one online on another cluster
// node is named as such, not reported as offline.
std::string not_here(const lifeline::Server& s, std::string_view id) {
  if (const auto node = s.other_node_of(id)) {
    return "'" + std::string(id) + "' is online on node " + *node +
           ", not on this one: kick and send reach a node's own clients only";
  }
  return "'" + std::string(id) + "' is not online";
}

void start_locked(ll_server* h) {
  if (auto problem = h->options.validate(); !problem.empty()) {
    throw Failure(LL_ERR_INVALID, problem);
  }
  h->events.set_capacity(h->queue_capacity);
  h->server.reset();
  auto srv = std::make_shared<lifeline::Server>(h->options);
  // The events of the list ll_server_online gives: on a cluster node, the cluster's.
  srv->subscribe_view([h](const lifeline::PresenceEvent& e) { h->events.push(lifeline::capi::presence_event(e)); });
  srv->on_data([h](const std::string& id, std::string_view payload) {
    h->events.push(lifeline::capi::data_event(id, payload));
  });
  srv->start();
  h->server = std::move(srv);
  h->running = true;
}

// Marks the handle stopped and returns its server, to be stopped outside
// the lock (see with_running); nullptr if it was not running.
std::shared_ptr<lifeline::Server> take_running(ll_server* h) {
  const std::lock_guard lock(h->mu);
  if (!h->running) {
    return nullptr;
  }
  h->running = false;
  return h->server;
}

}  // namespace

extern "C" {

int ll_server_new(ll_server** out) { return lifeline::capi::make_handle("ll_server_new", out); }

int ll_server_set(ll_server* server, const char* key, const char* value) {
  return lifeline::capi::set_option("ll_server_set", server, key, value, lifeline::capi::set_server_option);
}

int ll_server_set_callback(ll_server* server, ll_event_fn fn, void* user) {
  return lifeline::capi::set_callback("ll_server_set_callback", server, fn, user);
}

int ll_server_start(ll_server* server) {
  return guarded("ll_server_start", [&] {
    const auto h = get(server);
    not_in_callback(server, "ll_server_start");
    const std::lock_guard lock(h->mu);
    if (h->running) {
      throw Failure(LL_ERR_STATE, "the server is running already");
    }
    start_locked(h.get());
    return LL_OK;
  });
}

int ll_server_port(ll_server* server, int index, int* port) {
  return guarded("ll_server_port", [&] {
    if (port == nullptr) {
      throw Failure(LL_ERR_INVALID, "port is NULL");
    }
    return with_running(server, [&](lifeline::Server& s) {
      const auto ports = s.ports();
      if (index < 0 || static_cast<std::size_t>(index) >= ports.size()) {
        throw Failure(LL_ERR_INVALID, "index " + std::to_string(index) + " is out of range (" +
                                          std::to_string(ports.size()) + " listen addresses)");
      }
      *port = ports[static_cast<std::size_t>(index)];
      return LL_OK;
    });
  });
}

int ll_server_stop(ll_server* server) {
  return guarded("ll_server_stop", [&] {
    const auto h = get(server);
    not_in_callback(server, "ll_server_stop");
    const auto srv = take_running(h.get());
    if (!srv) {
      throw Failure(LL_ERR_STATE, "the server is not running (stopped already, or never started)");
    }
    srv->stop();
    return LL_OK;
  });
}

int ll_server_destroy(ll_server* server) {
  if (server == nullptr) {
    return LL_OK;
  }
  return guarded("ll_server_destroy", [&] {
    not_in_callback(server, "ll_server_destroy");
    const auto h =
        std::static_pointer_cast<ll_server>(lifeline::capi::unregister_handle(server, Kind::server, "server"));
    if (const auto srv = take_running(h.get())) {
      srv->stop();
    }
    return LL_OK;
  });
}

int ll_server_online(ll_server* server, ll_event** out) {
  return guarded("ll_server_online", [&] {
    if (out == nullptr) {
      throw Failure(LL_ERR_INVALID, "out is NULL");
    }
    *out = nullptr;
    return with_running(server, [&](lifeline::Server& s) {
      *out = lifeline::capi::list_event(s.view_snapshot(), s.cluster_status()).release();
      return LL_OK;
    });
  });
}

int ll_server_kick(ll_server* server, const char* id) {
  return guarded("ll_server_kick", [&] {
    const auto i = lifeline::capi::text_arg(id, "id");
    return with_running(server, [&](lifeline::Server& s) {
      if (!s.kick(i)) {
        throw Failure(LL_ERR_NOT_FOUND, not_here(s, i));
      }
      return LL_OK;
    });
  });
}

int ll_server_send(ll_server* server, const char* id, const void* data, size_t length) {
  return guarded("ll_server_send", [&] {
    const auto i = lifeline::capi::text_arg(id, "id");
    if (data == nullptr && length > 0) {
      throw Failure(LL_ERR_INVALID, "data is NULL");
    }
    return with_running(server, [&](lifeline::Server& s) {
      if (length > s.options().max_data) {
        throw Failure(LL_ERR_INVALID, "a payload of " + std::to_string(length) + " bytes is over max_data (" +
                                          std::to_string(s.options().max_data) + ")");
      }
      if (!s.send(i, std::string(static_cast<const char*>(data), length))) {
        throw Failure(LL_ERR_NOT_FOUND, not_here(s, i));
      }
      return LL_OK;
    });
  });
}

int ll_server_poll(ll_server* server, int timeout_ms, ll_event** out) {
  return lifeline::capi::poll("ll_server_poll", server, timeout_ms, out);
}

int ll_server_wait_handle(ll_server* server, intptr_t* handle) {
  return lifeline::capi::wait_handle("ll_server_wait_handle", server, handle);
}

const char* ll_version(void) { return LIFELINE_VERSION; }

int ll_abi_version(void) { return LL_ABI_VERSION; }

}  // extern "C"
