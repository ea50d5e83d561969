// lifeline-bench: the parent's side of its worker processes (fork + exec of
// /proc/self/exe worker, two pipes each, JSON lines read with poll()),
// the progress line, and starting / killing the server under test.

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>

#include "bench.hpp"
#include "common.hpp"

namespace lifeline::app::bench {
namespace {

constexpr unsigned kPerWorker = 18'000;  // below the 20,000 descriptors one process may hold here

void unblock_signals() {
  // main() blocks SIGINT/SIGTERM for sigwait(); the bench wants Ctrl-C to end it
  // (workers then see EOF on stdin and exit).
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

}  // namespace

unsigned ms_arg(const std::string& option, const std::string& value) {
  return static_cast<unsigned>(duration_arg(option, value).count());
}

Fleet::Fleet(const Options& o, bool reconnect) : total_(o.connections) {
  const unsigned interval_ms = ms_arg("--interval", o.interval);
  const unsigned timeout_ms = ms_arg("--timeout", o.timeout);
  const unsigned connect_timeout_ms = ms_arg("--connect-timeout", o.connect_timeout);
  unblock_signals();
  const unsigned w = o.workers != 0 ? o.workers : (o.connections + kPerWorker - 1) / kPerWorker;
  if (w == 0 || (o.connections + w - 1) / w > kPerWorker) {
    throw UsageError("--workers " + std::to_string(w) + " is too few: at most 18,000 connections per worker");
  }
  unsigned base = 0;
  for (unsigned i = 0; i < w; ++i) {
    const unsigned count = o.connections / w + (i < o.connections % w ? 1 : 0);
    std::vector<std::string> args{
        "lifeline-bench",
        kWorkerCommand,
        "--index=" + std::to_string(i),
        "--base=" + std::to_string(base),
        "--count=" + std::to_string(count),
        "--sources=" + std::to_string(o.sources),
        "--server=" + (o.worker_servers.empty() ? o.server : o.worker_servers[i % o.worker_servers.size()]),
        "--protocol=" + o.protocol,
        "--transport=" + o.transport,
        "--interval-ms=" + std::to_string(interval_ms),
        "--timeout-ms=" + std::to_string(timeout_ms),
        "--connect-timeout-ms=" + std::to_string(connect_timeout_ms),
        "--rate=" + std::to_string(o.ramp / w)};
    if (reconnect) args.emplace_back("--reconnect");
    if (o.tls) {
      args.emplace_back("--tls");
      args.emplace_back("--tls-ca=" + o.tls_ca);
      if (o.no_resume) args.emplace_back("--no-resume");
    }
    base += count;
    int to[2];
    int from[2];
    if (pipe2(to, O_CLOEXEC) != 0 || pipe2(from, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      dup2(to[0], 0);
      dup2(from[1], 1);
      std::vector<char*> argv;
      argv.reserve(args.size() + 1);
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv("/proc/self/exe", argv.data());
      _exit(127);
    }
    close(to[0]);
    close(from[1]);
    Worker worker;
    worker.pid = pid;
    worker.to = to[1];
    worker.from = from[0];
    workers_.push_back(std::move(worker));
  }
}

Fleet::~Fleet() {
  for (auto& w : workers_) {
    if (w.to >= 0) close(w.to);
    if (w.from >= 0) close(w.from);
    if (!w.exited && w.pid > 0) {
      kill(w.pid, SIGKILL);
      waitpid(w.pid, nullptr, 0);
    }
  }
}

void Fleet::send_all(const std::string& line) {
  for (std::size_t i = 0; i < workers_.size(); ++i) send(i, line);
}

void Fleet::send(std::size_t worker, const std::string& line) {
  auto& w = workers_.at(worker);
  if (w.to >= 0 && write(w.to, line.data(), line.size()) < 0) {
    std::cerr << "lifeline-bench: worker " << w.pid << " gone\n";
  }
}

bool Fleet::all_exited() const {
  return std::ranges::all_of(workers_, [](const auto& w) { return w.exited; });
}

void Fleet::pump_once(std::int64_t timeout_us) {
  std::vector<pollfd> fds;
  std::vector<Worker*> who;
  for (auto& w : workers_) {
    if (!w.exited) {
      fds.push_back({w.from, POLLIN, 0});
      who.push_back(&w);
    }
  }
  if (poll(fds.data(), fds.size(), static_cast<int>(std::max<std::int64_t>(timeout_us / 1000, 1))) <= 0) return;
  char buf[65536];
  for (std::size_t i = 0; i < fds.size(); ++i) {
    if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    Worker& w = *who[i];
    const ssize_t n = read(w.from, buf, sizeof buf);
    if (n <= 0) {
      w.exited = true;
      waitpid(w.pid, nullptr, 0);
      continue;
    }
    w.pending.append(buf, static_cast<std::size_t>(n));
    for (auto nl = w.pending.find('\n'); nl != std::string::npos; nl = w.pending.find('\n')) {
      boost::system::error_code ec;
      auto v = boost::json::parse(std::string_view(w.pending).substr(0, nl), ec);
      w.pending.erase(0, nl + 1);
      if (ec || !v.is_object()) continue;
      auto& o = v.as_object();
      const auto type = o["type"].as_string();
      if (type == "stat") {
        w.stat = std::move(o);
      } else if (type == "snap") {
        w.stat = o;
        w.snap = std::move(o);
      } else if (type == "final") {
        w.stat = o;
        w.final = std::move(o);
      } else if (type == "detect") {
        detects.push_back(std::move(o));
      }
    }
  }
}

std::uint64_t Fleet::sum(const char* key) const {
  std::int64_t total = 0;
  for (const auto& w : workers_) {
    if (const auto* v = w.stat.if_contains(key)) total += v->to_number<std::int64_t>();
  }
  return static_cast<std::uint64_t>(std::max<std::int64_t>(total, 0));
}

boost::json::object Fleet::snap(Histogram& hist) {
  for (auto& w : workers_) w.snap.reset();
  send_all("snap\n");
  pump_until(now_us() + 5'000'000,
             [this] { return std::ranges::all_of(workers_, [](const auto& w) { return w.snap || w.exited; }); });
  boost::json::object total;
  for (const auto& w : workers_) {
    if (!w.snap) continue;
    for (const auto& [k, v] : *w.snap) {
      if (k == "hist") {
        hist.merge(Histogram::from_json(v));
      } else if (v.is_number() && k != "worker" && k != "t_us") {
        total[k] = (total.contains(k) ? total[k].to_number<std::int64_t>() : 0) + v.to_number<std::int64_t>();
      }
    }
  }
  return total;
}

void Fleet::stop() {
  send_all("stop\n");
  pump_for(5'000'000);  // ends early once every worker has exited
  for (auto& w : workers_) {
    close(w.to);
    w.to = -1;
  }
}

void Progress::show(const std::string& what, std::uint64_t done, std::uint64_t total, const std::string& extra) {
  const std::int64_t now = now_us();
  const bool tty = isatty(2) != 0;
  if (now - last_us_ < (tty ? 200'000 : 5'000'000)) return;
  last_us_ = now;
  if (!tty) {
    std::cerr << what << ": " << done << "/" << total << " " << extra << std::endl;
    return;
  }
  constexpr int kWidth = 30;
  const int fill = total == 0 ? kWidth : static_cast<int>(std::min<std::uint64_t>(done * kWidth / total, kWidth));
  std::cerr << "\r" << what << " [" << std::string(static_cast<std::size_t>(fill), '#')
            << std::string(static_cast<std::size_t>(kWidth - fill), ' ') << "] " << done << "/" << total << " " << extra
            << "\033[K" << std::flush;
  drawn_ = true;
}

void Progress::end() {
  if (drawn_) std::cerr << "\n";
  drawn_ = false;
  last_us_ = 0;
}

int start_server(const std::string& cmd) {
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    sigset_t set;
    sigemptyset(&set);
    pthread_sigmask(SIG_SETMASK, &set, nullptr);
    const std::string line = "exec " + cmd;
    execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

boost::asio::ip::tcp::endpoint resolve_server(const std::string& server) {
  const auto colon = server.rfind(':');
  if (colon == std::string::npos || colon == 0) throw UsageError("--server must be HOST:PORT, not '" + server + "'");
  std::string host = server.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  // Once, at startup: the load is measured against one address.
  boost::asio::io_context io;
  boost::asio::ip::tcp::resolver resolver(io);
  boost::system::error_code ec;
  const auto results = resolver.resolve(host, server.substr(colon + 1), ec);
  if (ec || results.empty()) {
    throw UsageError("--server " + server + ": cannot resolve '" + host + "': " + ec.message());
  }
  return results.begin()->endpoint();
}

void wait_listening(const std::string& server, int pid) {
  const auto ep = resolve_server(server);
  boost::asio::io_context io;
  const std::int64_t deadline = now_us() + 5'000'000;
  for (;;) {
    boost::asio::ip::tcp::socket probe(io);
    boost::system::error_code ec;
    probe.connect(ep, ec);
    if (!ec) return;
    if (waitpid(pid, nullptr, WNOHANG) == pid) {
      throw std::runtime_error("lifeline-bench: the server (--server-cmd) exited before listening on " + server);
    }
    if (now_us() >= deadline) {
      throw std::runtime_error("lifeline-bench: the server is not listening on " + server + " after 5 s");
    }
    usleep(10'000);
  }
}

void kill_server(int pid, int sig) {
  if (pid <= 0) return;
  kill(pid, sig);
  for (int i = 0; i < 500; ++i) {  // 5 s at most
    // Our own child: reap it. Someone else's: gone when kill(0) fails.
    if (waitpid(pid, nullptr, WNOHANG) == pid || kill(pid, 0) != 0) return;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    const auto close_paren = line.rfind(')');
    if (close_paren != std::string::npos && line.size() > close_paren + 2 && line[close_paren + 2] == 'Z') return;
    usleep(10'000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);  // reaps our own child; fails at once (ECHILD) for anyone else's
}

}  // namespace lifeline::app::bench
