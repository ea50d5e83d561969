// The C ABI (lifeline.h) over real sockets on 127.0.0.1: every function with
// bad arguments, a client and a server in one process (events, DATA both
// ways, lists, kick), the bounded queue's overflow, the waitable handle,
// callbacks, and 1,000 create/start/stop/destroy cycles with a flat fd count
// (the asan preset runs the same with LeakSanitizer).
#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "lifeline/lifeline.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct EventDeleter {
  void operator()(ll_event* e) const { ll_event_free(e); }
};
using Event = std::unique_ptr<ll_event, EventDeleter>;

std::string text(const ll_event* e, int field) { return ll_event_str(e, field); }

// The next event within `timeout` that satisfies `pred` (earlier ones are skipped).
template <class Poll>
Event next_matching(Poll poll, const std::function<bool(const ll_event*)>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    ll_event* raw = nullptr;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (poll(static_cast<int>(std::max<long long>(left.count(), 1)), &raw) == LL_OK) {
      Event e(raw);
      if (pred(e.get())) {
        return e;
      }
    }
  }
  return nullptr;
}

struct ServerFixture {
  ll_server* s = nullptr;
  int port = 0;
  explicit ServerFixture(const std::vector<std::pair<const char*, const char*>>& extra = {}) {
    EXPECT_EQ(ll_server_new(&s), LL_OK);
    for (const auto& [k, v] : std::vector<std::pair<const char*, const char*>>{{"listen", "127.0.0.1:0"},
                                                                               {"interval", "100ms"},
                                                                               {"timeout", "300ms"},
                                                                               {"min_interval", "50ms"},
                                                                               {"tick", "10ms"},
                                                                               {"threads", "1"}}) {
      EXPECT_EQ(ll_server_set(s, k, v), LL_OK) << ll_last_error();
    }
    for (const auto& [k, v] : extra) {
      EXPECT_EQ(ll_server_set(s, k, v), LL_OK) << ll_last_error();
    }
    EXPECT_EQ(ll_server_start(s), LL_OK) << ll_last_error();
    EXPECT_EQ(ll_server_port(s, 0, &port), LL_OK);
  }
  ~ServerFixture() { ll_server_destroy(s); }
  ServerFixture(const ServerFixture&) = delete;
  ServerFixture& operator=(const ServerFixture&) = delete;
  std::string addr() const { return "127.0.0.1:" + std::to_string(port); }
  Event next(const std::function<bool(const ll_event*)>& pred, std::chrono::milliseconds t = 5s) {
    return next_matching([this](int ms, ll_event** out) { return ll_server_poll(s, ms, out); }, pred, t);
  }
};

ll_client* make_client(const std::string& servers, const char* id) {
  ll_client* c = nullptr;
  EXPECT_EQ(ll_client_new(&c), LL_OK);
  EXPECT_EQ(ll_client_set(c, "servers", servers.c_str()), LL_OK) << ll_last_error();
  EXPECT_EQ(ll_client_set(c, "id", id), LL_OK);
  EXPECT_EQ(ll_client_set(c, "backoff_base", "50ms"), LL_OK);
  return c;
}

Event client_next(ll_client* c, const std::function<bool(const ll_event*)>& pred, std::chrono::milliseconds t = 5s) {
  return next_matching([c](int ms, ll_event** out) { return ll_client_poll(c, ms, out); }, pred, t);
}

bool is_state(const ll_event* e, int state) {
  return ll_event_type(e) == LL_EVENT_STATE && ll_event_int(e, LL_FIELD_STATE) == state;
}

std::size_t open_fds() {
  return static_cast<std::size_t>(
      std::distance(std::filesystem::directory_iterator("/proc/self/fd"), std::filesystem::directory_iterator{}));
}

bool readable(intptr_t fd) {
  pollfd p{static_cast<int>(fd), POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

TEST(CApi, VersionAndStatusNames) {
  EXPECT_EQ(ll_abi_version(), LL_ABI_VERSION);
  EXPECT_GT(std::strlen(ll_version()), 0U);
  EXPECT_STREQ(ll_strerror(LL_ERR_HANDLE), "LL_ERR_HANDLE: not a live lifeline handle");
  EXPECT_STREQ(ll_strerror(12345), "unknown status");
  EXPECT_STREQ(ll_state_name(LL_STATE_ONLINE), "online");
  EXPECT_STREQ(ll_state_name(-1), "unknown");
  EXPECT_EQ(ll_set_log_level("loud"), LL_ERR_INVALID);
  EXPECT_NE(std::string(ll_last_error()).find("'loud' is not one of"), std::string::npos);
  EXPECT_EQ(ll_set_log_level("warn"), LL_OK);
}

// Every function, given what a careless host passes: a status and a message, never a crash.
TEST(CApi, BadArgumentsGetAStatusAndAMessage) {
  ll_event* ev = nullptr;
  int i = 0;
  int64_t n = 0;
  intptr_t h = 0;
  const auto expect = [](int got, int want, const char* needle) {
    EXPECT_EQ(got, want) << ll_last_error();
    EXPECT_NE(std::string(ll_last_error()).find(needle), std::string::npos) << ll_last_error();
  };
  expect(ll_client_new(nullptr), LL_ERR_INVALID, "out is NULL");
  expect(ll_server_new(nullptr), LL_ERR_INVALID, "out is NULL");
  expect(ll_client_set(nullptr, "id", "x"), LL_ERR_HANDLE, "client is NULL");
  expect(ll_client_set_callback(nullptr, nullptr, nullptr), LL_ERR_HANDLE, "NULL");
  expect(ll_client_start(nullptr), LL_ERR_HANDLE, "NULL");
  expect(ll_client_stop(nullptr, 0), LL_ERR_HANDLE, "NULL");
  expect(ll_client_send(nullptr, "x", 1), LL_ERR_HANDLE, "NULL");
  expect(ll_client_request_list(nullptr, 1), LL_ERR_HANDLE, "NULL");
  expect(ll_client_list(nullptr, 10, &ev), LL_ERR_HANDLE, "NULL");
  expect(ll_client_subscribe(nullptr, 0), LL_ERR_HANDLE, "NULL");
  expect(ll_client_get_state(nullptr, &i), LL_ERR_HANDLE, "NULL");
  expect(ll_client_get_rtt(nullptr, &n), LL_ERR_HANDLE, "NULL");
  expect(ll_client_poll(nullptr, 0, &ev), LL_ERR_HANDLE, "NULL");
  expect(ll_client_wait_handle(nullptr, &h), LL_ERR_HANDLE, "NULL");
  EXPECT_STREQ(ll_client_error(nullptr), "");
  EXPECT_STREQ(ll_client_id(nullptr), "");
  EXPECT_EQ(ll_client_destroy(nullptr), LL_OK);
  expect(ll_server_set(nullptr, "listen", "x"), LL_ERR_HANDLE, "server is NULL");
  expect(ll_server_set_callback(nullptr, nullptr, nullptr), LL_ERR_HANDLE, "NULL");
  expect(ll_server_start(nullptr), LL_ERR_HANDLE, "NULL");
  expect(ll_server_port(nullptr, 0, &i), LL_ERR_HANDLE, "NULL");
  expect(ll_server_stop(nullptr), LL_ERR_HANDLE, "NULL");
  expect(ll_server_online(nullptr, &ev), LL_ERR_HANDLE, "NULL");
  expect(ll_server_kick(nullptr, "x"), LL_ERR_HANDLE, "NULL");
  expect(ll_server_send(nullptr, "x", "y", 1), LL_ERR_HANDLE, "NULL");
  expect(ll_server_poll(nullptr, 0, &ev), LL_ERR_HANDLE, "NULL");
  expect(ll_server_wait_handle(nullptr, &h), LL_ERR_HANDLE, "NULL");
  EXPECT_EQ(ll_server_destroy(nullptr), LL_OK);

  // Events: NULL reads as empty.
  EXPECT_EQ(ll_event_type(nullptr), 0);
  EXPECT_STREQ(ll_event_str(nullptr, LL_FIELD_ID), "");
  EXPECT_EQ(ll_event_int(nullptr, LL_FIELD_SEQ), 0);
  size_t len = 99;
  EXPECT_EQ(ll_event_data(nullptr, &len), nullptr);
  EXPECT_EQ(len, 0U);
  EXPECT_EQ(ll_event_count(nullptr), 0U);
  EXPECT_STREQ(ll_event_entry_str(nullptr, 0, LL_FIELD_ID), "");
  EXPECT_EQ(ll_event_entry_int(nullptr, 3, LL_FIELD_RTT_US), 0);
  ll_event_free(nullptr);

  ll_client* c = nullptr;
  ASSERT_EQ(ll_client_new(&c), LL_OK);
  expect(ll_client_set(c, nullptr, "x"), LL_ERR_INVALID, "key is NULL");
  expect(ll_client_set(c, "id", nullptr), LL_ERR_INVALID, "value of 'id' is NULL");
  expect(ll_client_set(c, "id", "\xff\xfe"), LL_ERR_INVALID, "not valid UTF-8");
  expect(ll_client_set(c, "id", "\xc0\xaf"), LL_ERR_INVALID, "not valid UTF-8");  // overlong '/'
  expect(ll_client_set(c, "colour", "blue"), LL_ERR_INVALID, "unknown option 'colour'");
  expect(ll_client_set(c, "interval", "soon"), LL_ERR_INVALID, "option 'interval': 'soon' is not a duration");
  expect(ll_client_set(c, "tls", "maybe"), LL_ERR_INVALID, "is not a boolean");
  expect(ll_client_set(c, "label", "novalue"), LL_ERR_INVALID, "key=value");
  expect(ll_client_set(c, "servers", "a:1,,b:2"), LL_ERR_INVALID, "comma-separated");
  expect(ll_client_set(c, "queue_capacity", "0"), LL_ERR_INVALID, "at least 1");
  expect(ll_client_start(c), LL_ERR_INVALID, "server");  // no servers
  expect(ll_client_get_state(c, nullptr), LL_ERR_INVALID, "state is NULL");
  expect(ll_client_get_rtt(c, nullptr), LL_ERR_INVALID, "rtt_us is NULL");
  expect(ll_client_poll(c, 0, nullptr), LL_ERR_INVALID, "out is NULL");
  expect(ll_client_list(c, 0, nullptr), LL_ERR_INVALID, "out is NULL");
  expect(ll_client_wait_handle(c, nullptr), LL_ERR_INVALID, "handle is NULL");
  expect(ll_client_send(c, nullptr, 3), LL_ERR_INVALID, "data is NULL");
  expect(ll_client_stop(c, 0), LL_ERR_STATE, "not running");
  expect(ll_client_send(c, "x", 1), LL_ERR_STATE, "not running");
  expect(ll_client_subscribe(c, 0), LL_ERR_STATE, "not running");
  expect(ll_client_request_list(c, 1), LL_ERR_STATE, "not running");
  expect(ll_client_list(c, 10, &ev), LL_ERR_STATE, "not running");
  EXPECT_EQ(ll_client_get_state(c, &i), LL_OK);
  EXPECT_EQ(i, LL_STATE_DISCONNECTED);
  EXPECT_EQ(ll_client_get_rtt(c, &n), LL_OK);
  EXPECT_EQ(n, -1);
  EXPECT_EQ(ll_client_poll(c, 0, &ev), LL_ERR_TIMEOUT);
  EXPECT_EQ(ev, nullptr);
  // A client handle where a server handle belongs, and a handle used after destroy.
  expect(ll_server_start(reinterpret_cast<ll_server*>(c)), LL_ERR_HANDLE, "is a client handle, not a server");
  EXPECT_EQ(ll_client_destroy(c), LL_OK);
  expect(ll_client_start(c), LL_ERR_HANDLE, "not a live client handle");
  expect(ll_client_destroy(c), LL_ERR_HANDLE, "not a live client handle");

  ll_server* s = nullptr;
  ASSERT_EQ(ll_server_new(&s), LL_OK);
  expect(ll_server_set(s, "duplicates", "sometimes"), LL_ERR_INVALID, "takeover, reject or multi");
  expect(ll_server_set(s, "cluster_lease", "soon"), LL_ERR_INVALID, "cluster_lease");
  ASSERT_EQ(ll_server_set(s, "cluster", "http://127.0.0.1:1"), LL_OK);  // checked at start
  expect(ll_server_start(s), LL_ERR_INVALID, "must start with redis://");
  ASSERT_EQ(ll_server_set(s, "cluster", "redis://127.0.0.1:1"), LL_OK);
  expect(ll_server_start(s), LL_ERR_INVALID, "node-id");
  ASSERT_EQ(ll_server_set(s, "cluster", ""), LL_OK);
  expect(ll_server_set(s, "threads", "-1"), LL_ERR_INVALID, "whole number");
  expect(ll_server_set(s, "auth_secret", "short"), LL_ERR_INVALID, "auth_secret");
  expect(ll_server_set(s, "auth_secrets_file", "/nonexistent/secrets"), LL_ERR_INVALID, "/nonexistent/secrets");
  ASSERT_EQ(ll_server_set(s, "tls_cert", "/nonexistent/cert.pem"), LL_OK);  // files are read at start
  ASSERT_EQ(ll_server_set(s, "tls_key", "/nonexistent/key.pem"), LL_OK);
  expect(ll_server_start(s), LL_ERR_INVALID, "/nonexistent/cert.pem");
  ASSERT_EQ(ll_server_set(s, "tls_cert", ""), LL_OK);
  ASSERT_EQ(ll_server_set(s, "tls_key", ""), LL_OK);
  ASSERT_EQ(ll_server_set(s, "listen", "127.0.0.1:0"), LL_OK);
  expect(ll_server_stop(s), LL_ERR_STATE, "not running");
  expect(ll_server_kick(s, "x"), LL_ERR_STATE, "not running");
  expect(ll_server_port(s, 0, &i), LL_ERR_STATE, "not running");
  ASSERT_EQ(ll_server_start(s), LL_OK) << ll_last_error();
  expect(ll_server_start(s), LL_ERR_STATE, "running already");
  expect(ll_server_set(s, "threads", "2"), LL_ERR_STATE, "before ll_server_start");
  expect(ll_server_port(s, 5, &i), LL_ERR_INVALID, "index 5 is out of range");
  expect(ll_server_port(s, 0, nullptr), LL_ERR_INVALID, "port is NULL");
  expect(ll_server_kick(s, "nobody"), LL_ERR_NOT_FOUND, "'nobody' is not online");
  expect(ll_server_kick(s, nullptr), LL_ERR_INVALID, "id is NULL");
  expect(ll_server_send(s, "nobody", "x", 1), LL_ERR_NOT_FOUND, "not online");
  expect(ll_server_send(s, "nobody", std::string(70000, 'x').c_str(), 70000), LL_ERR_INVALID, "over max_data");
  expect(ll_server_online(s, nullptr), LL_ERR_INVALID, "out is NULL");
  expect(ll_server_set_callback(s, nullptr, nullptr), LL_ERR_STATE, "before ll_server_start");
  EXPECT_EQ(ll_server_stop(s), LL_OK);
  expect(ll_server_stop(s), LL_ERR_STATE, "not running");
  EXPECT_EQ(ll_server_destroy(s), LL_OK);
  expect(ll_server_online(s, &ev), LL_ERR_HANDLE, "not a live server handle");
}

TEST(CApi, ClientAndServerInOneProcess) {
  ServerFixture srv;
  ll_client* c = make_client(srv.addr(), "c-1");
  ASSERT_EQ(ll_client_set(c, "label", "lang=c"), LL_OK);
  ASSERT_EQ(ll_client_start(c), LL_OK) << ll_last_error();
  EXPECT_EQ(ll_client_start(c), LL_ERR_STATE);
  auto online = client_next(c, [](const ll_event* e) { return is_state(e, LL_STATE_ONLINE); });
  ASSERT_TRUE(online);
  EXPECT_EQ(text(online.get(), LL_FIELD_SERVER), srv.addr());
  EXPECT_EQ(ll_event_int(online.get(), LL_FIELD_INTERVAL_MS), 100);
  EXPECT_EQ(text(online.get(), LL_FIELD_PREVIOUS_STATE), "connecting");
  EXPECT_STREQ(ll_client_id(c), "c-1");

  auto joined = srv.next([](const ll_event* e) { return ll_event_type(e) == LL_EVENT_PRESENCE; });
  ASSERT_TRUE(joined);
  EXPECT_EQ(text(joined.get(), LL_FIELD_KIND), "online");
  EXPECT_EQ(text(joined.get(), LL_FIELD_ID), "c-1");
  EXPECT_EQ(text(joined.get(), LL_FIELD_INSTANCE).size(), 16U);
  EXPECT_EQ(text(joined.get(), LL_FIELD_NODE), "");  // a server alone (tests/bindings/test_cluster_capi.py: a cluster)

  // DATA both ways, with a NUL inside.
  const char payload[] = {'a', '\0', 'b'};
  ASSERT_EQ(ll_client_send(c, payload, sizeof payload), LL_OK);
  auto data = srv.next([](const ll_event* e) { return ll_event_type(e) == LL_EVENT_DATA; });
  ASSERT_TRUE(data);
  size_t len = 0;
  const char* bytes = ll_event_data(data.get(), &len);
  ASSERT_EQ(len, 3U);
  EXPECT_EQ(std::memcmp(bytes, payload, 3), 0);
  EXPECT_EQ(text(data.get(), LL_FIELD_ID), "c-1");
  ASSERT_EQ(ll_server_send(srv.s, "c-1", "down", 4), LL_OK);
  auto down = client_next(c, [](const ll_event* e) { return ll_event_type(e) == LL_EVENT_DATA; });
  ASSERT_TRUE(down);
  EXPECT_EQ(text(down.get(), LL_FIELD_DATA), "down");

  // The list, blocking and as an event; the server's own list.
  ll_event* raw = nullptr;
  ASSERT_EQ(ll_client_list(c, 2000, &raw), LL_OK) << ll_last_error();
  Event list(raw);
  ASSERT_EQ(ll_event_count(list.get()), 1U);
  EXPECT_STREQ(ll_event_entry_str(list.get(), 0, LL_FIELD_ID), "c-1");
  EXPECT_STREQ(ll_event_entry_str(list.get(), 0, LL_FIELD_LABELS), "lang=c");
  EXPECT_EQ(ll_event_entry_int(list.get(), 0, LL_FIELD_TIMEOUT_MS), 300);
  EXPECT_STREQ(ll_event_entry_str(list.get(), 1, LL_FIELD_ID), "");  // out of range
  ASSERT_EQ(ll_client_request_list(c, 77), LL_OK);
  auto reply = client_next(c, [](const ll_event* e) { return ll_event_type(e) == LL_EVENT_LIST; });
  ASSERT_TRUE(reply);
  EXPECT_EQ(ll_event_int(reply.get(), LL_FIELD_REQUEST_ID), 77);
  EXPECT_EQ(ll_event_int(reply.get(), LL_FIELD_ONLINE), 1);
  ASSERT_EQ(ll_server_online(srv.s, &raw), LL_OK);
  Event own(raw);
  ASSERT_EQ(ll_event_count(own.get()), 1U);
  EXPECT_STREQ(ll_event_entry_str(own.get(), 0, LL_FIELD_TRANSPORT), "tcp");
  EXPECT_EQ(ll_event_entry_int(own.get(), 0, LL_FIELD_SESSION), ll_event_int(joined.get(), LL_FIELD_SESSION));
  EXPECT_STREQ(ll_event_entry_str(own.get(), 0, LL_FIELD_NODE), "");
  EXPECT_STREQ(ll_event_str(own.get(), LL_FIELD_NODE), "");
  EXPECT_EQ(ll_event_int(own.get(), LL_FIELD_DEGRADED), 0);

  // Presence events at the client; a kick is seen on both sides.
  ASSERT_EQ(ll_client_subscribe(c, 0), LL_OK);
  EXPECT_EQ(ll_client_subscribe(c, 0), LL_ERR_STATE);
  ASSERT_EQ(ll_server_kick(srv.s, "c-1"), LL_OK);
  auto kicked = srv.next([](const ll_event* e) { return text(e, LL_FIELD_KIND) == "offline"; });
  ASSERT_TRUE(kicked);
  EXPECT_EQ(text(kicked.get(), LL_FIELD_REASON), "kicked");
  auto lost = client_next(c, [](const ll_event* e) { return is_state(e, LL_STATE_RECONNECTING); });
  ASSERT_TRUE(lost);
  ASSERT_TRUE(client_next(c, [](const ll_event* e) { return is_state(e, LL_STATE_ONLINE); }));

  ASSERT_EQ(ll_client_stop(c, 1000), LL_OK);
  auto bye = srv.next([](const ll_event* e) { return text(e, LL_FIELD_KIND) == "offline"; });
  ASSERT_TRUE(bye);
  EXPECT_EQ(text(bye.get(), LL_FIELD_REASON), "bye");
  EXPECT_EQ(ll_client_stop(c, 0), LL_ERR_STATE);
  EXPECT_EQ(ll_client_destroy(c), LL_OK);
}

// A host that stops polling: the oldest events go, counted, memory stays bounded.
TEST(CApi, FullQueueDropsTheOldestAndSaysHowMany) {
  ServerFixture srv(std::vector<std::pair<const char*, const char*>>{{"queue_capacity", "2"}});
  ll_client* c = make_client(srv.addr(), "flood");
  ASSERT_EQ(ll_client_start(c), LL_OK);
  ASSERT_TRUE(client_next(c, [](const ll_event* e) { return is_state(e, LL_STATE_ONLINE); }));
  // The online event comes from the server's event thread, DATA from its I/O
  // thread: take it first, or it may land after the DATA and spoil the count.
  ASSERT_TRUE(next_matching([&](int ms, ll_event** out) { return ll_server_poll(srv.s, ms, out); },
                            [](const ll_event* e) { return ll_event_type(e) == LL_EVENT_PRESENCE; }, 5s));
  for (int i = 0; i < 5; ++i) {
    const auto d = "d" + std::to_string(i);
    ASSERT_EQ(ll_client_send(c, d.data(), d.size()), LL_OK);
  }
  // The list reply comes after the server has read every DATA before it.
  ll_event* raw = nullptr;
  ASSERT_EQ(ll_client_list(c, 2000, &raw), LL_OK);
  ll_event_free(raw);
  // Queued: d0..d4 = 5 events into 2 places.
  ASSERT_EQ(ll_server_poll(srv.s, 0, &raw), LL_OK);
  Event overflow(raw);
  EXPECT_EQ(ll_event_type(overflow.get()), LL_EVENT_OVERFLOW);
  EXPECT_EQ(ll_event_int(overflow.get(), LL_FIELD_COUNT), 3);
  for (const char* want : {"d3", "d4"}) {
    ASSERT_EQ(ll_server_poll(srv.s, 0, &raw), LL_OK);
    Event e(raw);
    EXPECT_EQ(text(e.get(), LL_FIELD_DATA), want);
  }
  EXPECT_EQ(ll_server_poll(srv.s, 0, &raw), LL_ERR_TIMEOUT);
  ll_client_destroy(c);
}

TEST(CApi, WaitHandleIsReadyExactlyWhileEventsAreQueued) {
  ServerFixture srv;
  ll_client* c = make_client(srv.addr(), "waiter");
  intptr_t fd = -1;
  ASSERT_EQ(ll_client_wait_handle(c, &fd), LL_OK);
  EXPECT_FALSE(readable(fd));
  ASSERT_EQ(ll_client_start(c), LL_OK);
  pollfd p{static_cast<int>(fd), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);  // the host's own loop wakes up
  ll_event* raw = nullptr;
  while (ll_client_poll(c, 0, &raw) == LL_OK) {
    ll_event_free(raw);
  }
  EXPECT_FALSE(readable(fd));
  ll_client_destroy(c);
}

struct Collected {
  std::mutex mu;
  std::vector<std::string> lines;
  ll_client* self = nullptr;
  int stop_status = -1;
  int destroy_status = -1;
  int poll_status = -1;
};

TEST(CApi, CallbacksRunOnTheLibraryThreadAndMayNotStopTheirHandle) {
  ServerFixture srv;
  ll_client* c = make_client(srv.addr(), "cb");
  Collected got;
  got.self = c;
  ASSERT_EQ(ll_client_set_callback(
                c,
                [](const ll_event* e, void* user) {
                  auto* g = static_cast<Collected*>(user);
                  ll_event* none = nullptr;
                  const std::lock_guard lock(g->mu);
                  g->lines.push_back(text(e, LL_FIELD_STATE));
                  if (ll_event_int(e, LL_FIELD_STATE) == LL_STATE_ONLINE) {
                    g->stop_status = ll_client_stop(g->self, 0);
                    g->destroy_status = ll_client_destroy(g->self);
                    g->poll_status = ll_client_poll(g->self, 0, &none);
                    ll_event_free(const_cast<ll_event*>(e));  // borrowed: must be ignored
                  }
                },
                &got),
            LL_OK);
  ASSERT_EQ(ll_client_start(c), LL_OK);
  EXPECT_EQ(ll_client_set_callback(c, nullptr, nullptr), LL_ERR_STATE);
  const auto deadline = Clock::now() + 5s;
  for (;;) {
    {
      const std::lock_guard lock(got.mu);
      if (got.stop_status != -1 || Clock::now() > deadline) {
        break;
      }
    }
    std::this_thread::yield();
  }
  {
    const std::lock_guard lock(got.mu);
    EXPECT_EQ(got.lines, (std::vector<std::string>{"connecting", "online"}));
    EXPECT_EQ(got.stop_status, LL_ERR_STATE);
    EXPECT_EQ(got.destroy_status, LL_ERR_STATE);
    EXPECT_EQ(got.poll_status, LL_ERR_STATE);  // events go to the callback
  }
  EXPECT_EQ(ll_client_destroy(c), LL_OK);  // its last callback ("stopped") takes got.mu
}

// 1,000 lives of a client and 50 of a server: no descriptor (and, under
// ASan, no byte) outlives its handle.
TEST(CApi, ThousandCyclesLeaveNothingBehind) {
  ServerFixture srv;
  const auto addr = srv.addr();
  const auto fds_before = open_fds();
  for (int i = 0; i < 1000; ++i) {
    ll_client* c = make_client(addr, "cycle");
    ASSERT_EQ(ll_client_start(c), LL_OK) << ll_last_error();
    if (i % 100 == 0) {  // now and then all the way online first
      ASSERT_TRUE(client_next(c, [](const ll_event* e) { return is_state(e, LL_STATE_ONLINE); }));
    }
    ASSERT_EQ(ll_client_stop(c, 1000), LL_OK);
    ASSERT_EQ(ll_client_destroy(c), LL_OK);
  }
  for (int i = 0; i < 50; ++i) {
    ServerFixture other;
  }
  EXPECT_EQ(open_fds(), fds_before);
}

}  // namespace
