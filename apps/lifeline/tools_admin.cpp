// lifeline ls --admin URL and watch --admin URL: the same output as over the
// protocol, from the admin HTTP API (docs/api.md): the list page by page, and
// the event stream, resumed with Last-Event-ID after a break.

#include <atomic>
#include <boost/json.hpp>
#include <charconv>
#include <iostream>
#include <mutex>
#include <thread>

#include "admin_client.hpp"
#include "lifeline/duration.hpp"
#include "lifeline/files.hpp"
#include "tools.hpp"

namespace lifeline::app {
namespace {
namespace json = boost::json;

std::int64_t ms_of(const json::value& v, const char* key) {
  const auto* s = v.as_object().if_contains(key);
  const auto t = s != nullptr && s->is_string() ? parse_time(s->as_string()) : std::nullopt;
  return t ? std::chrono::duration_cast<std::chrono::milliseconds>(t->time_since_epoch()).count() : 0;
}

std::uint64_t hex_instance(const json::value& v) {
  std::uint64_t out = 0;
  const auto& s = v.as_object().at("instance").as_string();
  std::from_chars(s.data(), s.data() + s.size(), out, 16);
  return out;
}

proto::ListEntry entry_of(const json::object& c) {
  proto::ListEntry e;
  e.id = c.at("id").as_string();
  e.remote = c.contains("peer") ? std::string(c.at("peer").as_string()) : "";
  e.since_ms = ms_of(c, "since");
  e.last_seen_ms = ms_of(c, "last_seen");
  e.rtt_us = c.contains("rtt_us") ? static_cast<std::uint32_t>(c.at("rtt_us").to_number<std::int64_t>()) : 0;
  e.interval_ms = static_cast<std::uint32_t>(c.at("interval_ms").to_number<std::int64_t>());
  e.timeout_ms = static_cast<std::uint32_t>(c.at("timeout_ms").to_number<std::int64_t>());
  for (const auto& [k, v] : c.at("labels").as_object()) {
    e.labels.push_back(proto::Label{std::string(k), std::string(v.as_string())});
  }
  e.session = c.contains("session") ? c.at("session").to_number<std::uint64_t>() : 0;
  e.transport = c.contains("transport") ? transport_from_name(c.at("transport").as_string()) : Transport::tcp;
  return e;
}

// Adds one page (a /v1/clients reply or a snapshot message) to `list`.
void add_page(ListResult& list, const json::value& page) {
  for (const auto& c : page.at("clients").as_array()) {
    list.entries.push_back(entry_of(c.as_object()));
  }
  list.online = static_cast<std::uint32_t>(page.at("online").to_number<std::int64_t>());
  list.seq = page.at("seq").to_number<std::uint64_t>();
  list.instance = hex_instance(page);
}

proto::EventKind kind_named(std::string_view name) {
  for (const auto k : {proto::EventKind::online, proto::EventKind::offline, proto::EventKind::takeover,
                       proto::EventKind::join, proto::EventKind::leave}) {
    if (proto::to_string(k) == name) {
      return k;
    }
  }
  return proto::EventKind::gap;
}

proto::Event event_of(const json::value& v) {
  const auto& o = v.as_object();
  proto::Event e;
  e.seq = o.at("seq").to_number<std::uint64_t>();
  e.kind = kind_named(o.at("kind").as_string());
  e.at_ms = ms_of(v, "at");
  e.instance = hex_instance(v);
  e.id = o.contains("id") ? std::string(o.at("id").as_string()) : "";
  e.remote = o.contains("peer") ? std::string(o.at("peer").as_string()) : "";
  if (o.contains("reason")) {
    e.reason = proto::reason_from_string(o.at("reason").as_string()).value_or(proto::Reason::none);
  }
  e.session = o.contains("session") ? o.at("session").to_number<std::uint64_t>() : 0;
  e.transport = o.contains("transport") ? transport_from_name(o.at("transport").as_string()) : Transport::tcp;
  return e;
}

AdminClient make_client(const ToolOptions& t) {
  std::string token;
  if (!t.admin_token_file.empty()) {
    auto text = read_text_file(t.admin_token_file, "admin token file", 64 * 1024);
    token = text.substr(0, text.find_first_of("\r\n"));
  }
  return AdminClient(parse_admin_url(t.admin), token, t.security.tls,
                     duration_arg("--connect-timeout", t.connect_timeout));
}

// An error reply that no retry can change (a token the server does not take).
bool refused(const std::string& what) { return what.starts_with("HTTP 401") || what.starts_with("HTTP 403"); }

}  // namespace

void run_ls_admin(const ToolOptions& t) {
  auto client = make_client(t);
  ListResult list;
  std::string target = "/v1/clients?limit=1000";
  try {
    while (!target.empty()) {
      const auto page = json::parse(client.get(target));
      add_page(list, page);
      const auto* next = page.as_object().if_contains("next");
      target = next != nullptr ? "/v1/clients?limit=1000&cursor=" + std::string(next->as_string()) : "";
    }
  } catch (const std::exception& e) {
    std::cerr << "lifeline ls: " << t.admin << ": " << e.what() << "\n";
    throw CLI::RuntimeError(refused(e.what()) ? kExitRefused : 1);
  }
  print_list(list, t.json);
}

void run_watch_admin(const ToolOptions& t, std::uint64_t exit_after, bool snapshot) {
  auto client = make_client(t);
  std::atomic<bool> stopping{false};
  std::atomic<bool> finished{false};
  std::atomic<int> status{0};
  std::uint64_t seen = 0;
  std::thread reader([&] {
    std::string last_id;
    auto pause = std::chrono::milliseconds(200);
    while (!stopping) {
      std::string why;
      try {
        why = client.stream(
            snapshot ? "/v1/events?snapshot=1" : "/v1/events", last_id,
            [&] {
              std::cerr << timestamp() << " watch: online " << t.admin << std::endl;
              pause = std::chrono::milliseconds(200);
            },
            [&](const SseMessage& m) {
              const auto data = json::parse(m.data);
              if (m.event == "snapshot") {
                ListResult list;
                add_page(list, data);
                if (!t.json) {
                  std::cout << "online as of #" << list.seq << " (server run " << instance_text(list.instance)
                            << "):\n";
                }
                print_list(list, t.json);
              } else {
                print_event(event_of(data), t.json);
                ++seen;
              }
              last_id = m.id.empty() ? last_id : m.id;
              return !stopping && (exit_after == 0 || seen < exit_after);
            });
      } catch (const std::exception& e) {
        why = e.what();
        if (refused(why)) {
          std::cerr << "lifeline watch: refused by the server: " << why << "\n";
          status = kExitRefused;
          break;
        }
      }
      if (stopping || (exit_after > 0 && seen >= exit_after)) {
        break;
      }
      std::cerr << timestamp() << " watch: reconnecting " << t.admin << " (" << why << ")" << std::endl;
      for (auto slept = std::chrono::milliseconds(0); slept < pause && !stopping;
           slept += std::chrono::milliseconds(50)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the retry pause, cut short by a signal
      }
      pause = std::min(pause * 2, std::chrono::milliseconds(2000));
    }
    finished = true;
  });
  wait_for_termination_signal([&] { return finished.load(); });
  stopping = true;
  client.stop();
  reader.join();
  if (status != 0) {
    throw CLI::RuntimeError(status);
  }
}

}  // namespace lifeline::app
