// lifeline-bench worker (bench_worker.hpp): the commands on stdin, the
// counters as JSON lines on stdout, and run_worker(), the worker process's
// entry point (bench.hpp).

#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/read_until.hpp>
#include <cstdio>
#include <istream>
#include <sstream>
#include <string>

#include "bench_worker.hpp"
#include "common.hpp"

namespace lifeline::app::bench {
namespace worker {

// ---- commands and reports -----------------------------------------------
void Worker::read_command() {
  asio::async_read_until(in_, cmd_buf_, '\n', [this](error_code ec, std::size_t) {
    if (ec) {
      finish();
      return;
    }
    std::istream is(&cmd_buf_);
    std::string line;
    std::getline(is, line);
    std::istringstream words(line);
    std::string cmd;
    words >> cmd;
    if (cmd == "snap") {
      auto o = counters("snap");
      o["hist"] = hist_.to_json();
      hist_.clear();
      emit(o);
    } else if (cmd == "silent") {
      unsigned k = 0;
      unsigned spread_ms = 0;
      words >> k >> spread_ms;
      const std::int64_t now = now_us();
      // Stored latest first so the tick pops due entries from the back.
      for (unsigned j = std::min<unsigned>(k, a_.count); j-- > 0;) {
        silence_.emplace_back(now + (2 * j + 1) * std::int64_t{spread_ms} * 500 / std::max(k, 1U), j);
      }
    } else if (cmd == "interval") {
      words >> a_.interval_ms;
      a_.interval_ms = std::max(a_.interval_ms, 1U);
      tick_ = tick_for(a_.interval_ms);
    } else if (cmd == "stop") {
      finish();
      return;
    }
    read_command();
  });
}

void Worker::finish() {
  stopping_ = true;
  auto o = counters("final");
  boost::json::array buckets;
  for (const auto& [b, n] : reconnected_) buckets.push_back(boost::json::array{b, n});
  o["reconnected_100ms"] = buckets;
  emit(o);
  io_.stop();
}

boost::json::object Worker::counters(const char* type) const {
  return {{"type", type},
          {"worker", a_.index},
          {"t_us", now_us()},
          {"attempts", stat_.attempts},
          {"established", stat_.established},
          {"online", stat_.online},
          {"failed", stat_.failed},
          {"sent", stat_.sent},
          {"answered", stat_.answered},
          {"server_closed", stat_.server_closed},
          {"send_errors", stat_.send_errors},
          {"tls_handshakes", stat_.tls_handshakes},
          {"tls_resumed", stat_.tls_resumed},
          {"last_online_us", last_online_us_}};
}

void Worker::emit(const boost::json::object& o) {
  const std::string line = boost::json::serialize(o) + "\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

}  // namespace worker

int run_worker(const WorkerArgs& a) {
  // Each connection is a descriptor: raise the soft limit to the hard one.
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  if (a.count + 64 > rl.rlim_cur) {
    throw UsageError("worker: " + std::to_string(a.count) + " connections need more than the " +
                     std::to_string(rl.rlim_cur) + " descriptors allowed: use more --workers");
  }
  worker::Worker w(a);
  return w.run();
}

}  // namespace lifeline::app::bench
