// ll_client_*: the C ABI over lifeline::Client. Each handle keeps its options
// until start, then owns one Client (its own I/O thread) whose handlers turn
// every state change, DATA, presence event and list reply into an ll_event.
#include "lifeline/client.hpp"

#include <future>
#include <map>
#include <mutex>

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

struct ll_client : lifeline::capi::HandleBase {
  static constexpr auto kKind = Kind::client;
  static constexpr const char* kName = "client";

  ll_client() : HandleBase(Kind::client), events(this) {}
  ~ll_client() override { client.reset(); }  // joins the I/O thread while `events` still exists
  ll_client(const ll_client&) = delete;
  ll_client& operator=(const ll_client&) = delete;

  std::mutex mu;
  lifeline::ClientOptions options;                                                 // guarded by mu
  std::size_t queue_capacity = EventQueue::kDefaultCapacity;                       // guarded by mu
  std::shared_ptr<lifeline::Client> client;                                        // guarded by mu
  bool running = false;                                                            // guarded by mu
  bool subscribed = false;                                                         // guarded by mu
  std::map<std::uint32_t, std::vector<lifeline::proto::ListEntry>> partial_lists;  // the I/O thread's
  EventQueue events;
};

namespace {

using Handle = std::shared_ptr<ll_client>;
constexpr int kDestroyStopMs = 1000;

using lifeline::capi::get;

// The running client, and the max_data it was started with (options may
// change under the lock once it stops).
std::shared_ptr<lifeline::Client> running_client(const Handle& h, std::uint32_t* max_data = nullptr) {
  const std::lock_guard lock(h->mu);
  if (!h->running) {
    throw Failure(LL_ERR_STATE, "the client is not running (call ll_client_start first)");
  }
  if (max_data != nullptr) {
    *max_data = h->options.max_data;
  }
  return h->client;
}

// A string getter of the client (its id, its last error): "" before start.
const char* client_text(ll_client* client, std::string_view fn, lifeline::capi::Slot slot,
                        std::string (lifeline::Client::*getter)() const) {
  std::string text;
  guarded(fn, [&] {
    const auto h = get(client);
    const std::lock_guard lock(h->mu);
    text = h->client ? ((*h->client).*getter)() : "";
    return LL_OK;
  });
  return lifeline::capi::per_thread(slot, std::move(text));
}

void not_in_callback(const ll_client* c, const char* what) {
  if (EventQueue::in_callback_of(c)) {
    throw Failure(LL_ERR_STATE, std::string(what) + " is not allowed inside the client's own callback");
  }
}

// LIST_REPLY frames of one reply arrive in order on the I/O thread; the last
// one completes the LL_EVENT_LIST.
void on_list_frame(ll_client* h, const lifeline::proto::ListReply& r) {
  auto& entries = h->partial_lists[r.request_id];
  entries.insert(entries.end(), r.entries.begin(), r.entries.end());
  if (r.last) {
    const lifeline::OnlineList list{.entries = std::move(entries),
                                    .online = r.online,
                                    .seq = r.seq,
                                    .instance = r.instance,
                                    .node = r.node,
                                    .degraded = r.degraded};
    h->events.push(lifeline::capi::list_event(list, r.request_id));
    h->partial_lists.erase(r.request_id);
  }
}

void start_locked(ll_client* h) {
  if (auto problem = h->options.validate(); !problem.empty()) {
    throw Failure(LL_ERR_INVALID, problem);
  }
  h->events.set_capacity(h->queue_capacity);
  h->client.reset();  // a previous run's, stopped: joins its thread
  h->partial_lists.clear();
  auto c = std::make_shared<lifeline::Client>(h->options);
  c->on_state([h](const lifeline::StateChange& s) { h->events.push(lifeline::capi::state_event(s)); });
  c->on_data([h](std::string_view payload) { h->events.push(lifeline::capi::data_event("", payload)); });
  c->on_event([h](const lifeline::proto::Event& e) { h->events.push(lifeline::capi::presence_event(e)); });
  c->on_list([h](const lifeline::proto::ListReply& r) { on_list_frame(h, r); });
  c->start();
  h->client = std::move(c);
  h->running = true;
  h->subscribed = false;
}

// Sends BYE and waits up to `timeout_ms` for it to be written.
void stop_client(const std::shared_ptr<lifeline::Client>& c, int timeout_ms) {
  auto written = std::make_shared<std::promise<void>>();
  auto done = written->get_future();
  c->stop([written] { written->set_value(); });
  done.wait_for(std::chrono::milliseconds(std::max(timeout_ms, 0)));
}

}  // namespace

extern "C" {

int ll_client_new(ll_client** out) { return lifeline::capi::make_handle("ll_client_new", out); }

int ll_client_set(ll_client* client, const char* key, const char* value) {
  return lifeline::capi::set_option("ll_client_set", client, key, value, lifeline::capi::set_client_option);
}

int ll_client_set_callback(ll_client* client, ll_event_fn fn, void* user) {
  return lifeline::capi::set_callback("ll_client_set_callback", client, fn, user);
}

int ll_client_start(ll_client* client) {
  return guarded("ll_client_start", [&] {
    const auto h = get(client);
    not_in_callback(client, "ll_client_start");
    const std::lock_guard lock(h->mu);
    if (h->running) {
      throw Failure(LL_ERR_STATE, "the client is running already");
    }
    start_locked(h.get());
    return LL_OK;
  });
}

int ll_client_stop(ll_client* client, int timeout_ms) {
  return guarded("ll_client_stop", [&] {
    const auto h = get(client);
    not_in_callback(client, "ll_client_stop");
    std::shared_ptr<lifeline::Client> c;
    {
      const std::lock_guard lock(h->mu);
      if (!h->running) {
        throw Failure(LL_ERR_STATE, "the client is not running (stopped already, or never started)");
      }
      h->running = false;
      c = h->client;
    }
    stop_client(c, timeout_ms);
    return LL_OK;
  });
}

int ll_client_destroy(ll_client* client) {
  if (client == nullptr) {
    return LL_OK;
  }
  return guarded("ll_client_destroy", [&] {
    not_in_callback(client, "ll_client_destroy");
    const auto h =
        std::static_pointer_cast<ll_client>(lifeline::capi::unregister_handle(client, Kind::client, "client"));
    std::shared_ptr<lifeline::Client> c;
    {
      const std::lock_guard lock(h->mu);
      c = h->running ? h->client : nullptr;
      h->running = false;
    }
    if (c) {
      stop_client(c, kDestroyStopMs);
    }
    return LL_OK;
  });
}

int ll_client_send(ll_client* client, const void* data, size_t length) {
  return guarded("ll_client_send", [&] {
    const auto h = get(client);
    if (data == nullptr && length > 0) {
      throw Failure(LL_ERR_INVALID, "data is NULL");
    }
    std::uint32_t max = 0;
    const auto c = running_client(h, &max);
    if (length > max) {
      throw Failure(LL_ERR_INVALID,
                    "a payload of " + std::to_string(length) + " bytes is over max_data (" + std::to_string(max) + ")");
    }
    if (!c->send(std::string(static_cast<const char*>(data), length))) {
      throw Failure(LL_ERR_STATE, "not online (" + std::string(lifeline::to_string(c->state())) +
                                      "): DATA is not kept across outages");
    }
    return LL_OK;
  });
}

int ll_client_request_list(ll_client* client, uint32_t request_id) {
  return guarded("ll_client_request_list", [&] {
    const auto c = running_client(get(client));
    if (!c->list(request_id)) {
      throw Failure(LL_ERR_STATE, "not online (" + std::string(lifeline::to_string(c->state())) + ")");
    }
    return LL_OK;
  });
}

int ll_client_list(ll_client* client, int timeout_ms, ll_event** out) {
  return guarded("ll_client_list", [&] {
    const auto h = get(client);
    if (out == nullptr) {
      throw Failure(LL_ERR_INVALID, "out is NULL");
    }
    *out = nullptr;
    not_in_callback(client, "ll_client_list (it waits for the client's own thread)");
    const auto c = running_client(h);
    using Result = std::pair<boost::system::error_code, lifeline::OnlineList>;
    auto p = std::make_shared<std::promise<Result>>();
    auto f = p->get_future();
    c->list(std::chrono::milliseconds(std::max(timeout_ms, 0)),
            [p](boost::system::error_code ec, lifeline::OnlineList l) {
              p->set_value({ec, std::move(l)});
            });
    auto [ec, list] = f.get();
    namespace err = boost::asio::error;
    if (ec == err::timed_out) {
      throw Failure(LL_ERR_TIMEOUT, "no complete list within " + std::to_string(timeout_ms) + " ms");
    }
    if (ec) {
      throw Failure(LL_ERR_STATE, ec == err::not_connected ? "not online" : "no list: " + ec.message());
    }
    *out = lifeline::capi::list_event(list, 0).release();
    return LL_OK;
  });
}

int ll_client_subscribe(ll_client* client, int snapshot) {
  return guarded("ll_client_subscribe", [&] {
    const auto h = get(client);
    const std::lock_guard lock(h->mu);
    if (!h->running) {
      throw Failure(LL_ERR_STATE, "the client is not running (call ll_client_start first)");
    }
    if (h->subscribed) {
      throw Failure(LL_ERR_STATE, "subscribed already (once per start)");
    }
    h->client->subscribe({.snapshot = snapshot != 0, .request_id = 0});
    h->subscribed = true;
    return LL_OK;
  });
}

int ll_client_get_state(ll_client* client, int* state) {
  return guarded("ll_client_get_state", [&] {
    const auto h = get(client);
    if (state == nullptr) {
      throw Failure(LL_ERR_INVALID, "state is NULL");
    }
    const std::lock_guard lock(h->mu);
    *state = h->client ? static_cast<int>(h->client->state()) : LL_STATE_DISCONNECTED;
    return LL_OK;
  });
}

int ll_client_get_rtt(ll_client* client, int64_t* rtt_us) {
  return guarded("ll_client_get_rtt", [&] {
    const auto h = get(client);
    if (rtt_us == nullptr) {
      throw Failure(LL_ERR_INVALID, "rtt_us is NULL");
    }
    const std::lock_guard lock(h->mu);
    const auto rtt = h->client ? h->client->rtt() : std::nullopt;
    *rtt_us = rtt ? rtt->count() : -1;
    return LL_OK;
  });
}

const char* ll_client_error(ll_client* client) {
  return client_text(client, "ll_client_error", lifeline::capi::Slot::client_error, &lifeline::Client::last_error);
}

const char* ll_client_id(ll_client* client) {
  return client_text(client, "ll_client_id", lifeline::capi::Slot::client_id, &lifeline::Client::id);
}

int ll_client_poll(ll_client* client, int timeout_ms, ll_event** out) {
  return lifeline::capi::poll("ll_client_poll", client, timeout_ms, out);
}

int ll_client_wait_handle(ll_client* client, intptr_t* handle) {
  return lifeline::capi::wait_handle("ll_client_wait_handle", client, handle);
}

}  // extern "C"
