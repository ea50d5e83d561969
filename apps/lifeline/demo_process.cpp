#include "demo_process.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <system_error>
#include <utility>

namespace lifeline::app::demo {
namespace {

std::atomic<bool> g_interrupted{false};

// Runs in the child between fork() and exec(). The demo is multi-threaded (the
// observer has an I/O thread), so only async-signal-safe calls are allowed
// here: everything else was prepared by the parent before fork().
[[noreturn]] void exec_child(char* const argv[], const char* log, pid_t parent) {
  // Its own process group: Ctrl-C in the terminal reaches the demo only, which
  // then stops the children itself, in order.
  setpgid(0, 0);
  // Die with the demo even if it is SIGKILLed; the getppid() check covers a
  // demo that died before prctl() took effect. (The signal fires when the
  // forking thread ends: the demo forks from its main thread only.)
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) {
    _exit(127);
  }
  const int out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (out < 0 || in < 0) {
    _exit(127);
  }
  dup2(in, STDIN_FILENO);
  dup2(out, STDOUT_FILENO);
  dup2(out, STDERR_FILENO);
  // No descriptor of the demo (the observer's socket, say) may live on in a
  // child: it would keep that connection open after the demo closed it.
  if (close_range(3, ~0U, 0) != 0) {
    for (int fd = 3; fd < 1024; ++fd) {
      close(fd);
    }
  }
  // main() blocks SIGINT/SIGTERM and ignores SIGPIPE; both would survive exec.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  ::signal(SIGPIPE, SIG_DFL);
  execv(argv[0], argv);
  static constexpr char msg[] = "lifeline demo: exec failed\n";
  [[maybe_unused]] const auto n = write(STDERR_FILENO, msg, sizeof msg - 1);
  _exit(127);
}

}  // namespace

bool interrupted() { return g_interrupted.load(); }

void throw_if_interrupted() {
  if (interrupted()) {
    throw Interrupted();
  }
}

InterruptWatcher::InterruptWatcher()
    : thread_([](const std::stop_token& stop) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        // A bounded wait, so that the destructor's stop request is seen.
        const timespec slice{0, 50'000'000};
        while (!stop.stop_requested()) {
          if (sigtimedwait(&set, nullptr, &slice) > 0) {
            g_interrupted = true;
          }
        }
      }) {}

InterruptWatcher::~InterruptWatcher() = default;  // std::jthread: stop, then join

bool wait_loop(Clock::time_point deadline, const std::function<bool()>& done,
               const std::function<void(Clock::time_point until)>& block, Clock::duration slice) {
  for (;;) {
    throw_if_interrupted();
    if (done()) {
      return true;
    }
    const auto now = Clock::now();
    if (now >= deadline) {
      return false;
    }
    block(std::min(deadline, now + slice));
  }
}

bool poll_until(Clock::time_point deadline, const std::function<bool()>& done, std::chrono::milliseconds period) {
  return wait_loop(
      deadline, done, [](Clock::time_point until) { std::this_thread::sleep_until(until); }, period);
}

void pace(std::chrono::milliseconds d) {
  poll_until(
      Clock::now() + d, [] { return false; }, std::chrono::milliseconds(50));
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) {
    return "exited with status " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    const char* abbrev = sigabbrev_np(WTERMSIG(status));
    return "killed by " + (abbrev != nullptr ? "SIG" + std::string(abbrev) : std::to_string(WTERMSIG(status)));
  }
  return "ended with wait status " + std::to_string(status);
}

Children::Children(std::filesystem::path exe, std::filesystem::path log_dir)
    : exe_(std::move(exe)), log_dir_(std::move(log_dir)) {}

Children::~Children() {
  for (auto& [name, child] : children_) {
    kill_and_reap(child);
  }
}

std::filesystem::path Children::log_file(const std::string& name) const { return log_dir_ / (name + ".log"); }

pid_t Children::spawn(const std::string& name, const std::vector<std::string>& args) {
  if (auto it = children_.find(name); it != children_.end() && !it->second.status) {
    throw std::logic_error("demo: child '" + name + "' is still running");
  }
  std::vector<std::string> words{exe_.string()};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(words.size() + 1);
  for (auto& w : words) {
    argv.push_back(w.data());
  }
  argv.push_back(nullptr);
  const std::string log = log_file(name).string();
  const pid_t parent = getpid();

  const pid_t pid = fork();
  if (pid < 0) {
    throw std::system_error(errno, std::generic_category(), "demo: fork");
  }
  if (pid == 0) {
    exec_child(argv.data(), log.c_str(), parent);
  }
  children_[name] = Child{pid, false, std::nullopt};
  return pid;
}

const Children::Child& Children::find(const std::string& name) const {
  const auto it = children_.find(name);
  if (it == children_.end()) {
    throw std::logic_error("demo: no child named '" + name + "'");
  }
  return it->second;
}

Children::Child& Children::find(const std::string& name) { return const_cast<Child&>(std::as_const(*this).find(name)); }

pid_t Children::pid(const std::string& name) const { return find(name).pid; }

void Children::signal(const std::string& name, int sig) {
  auto& c = find(name);
  if (c.status) {
    throw std::logic_error("demo: child '" + name + "' has already exited");
  }
  if (::kill(c.pid, sig) != 0) {
    throw std::system_error(errno, std::generic_category(), "demo: kill " + name);
  }
  if (sig == SIGSTOP) {
    c.stopped = true;
  } else if (sig == SIGCONT) {
    c.stopped = false;
  }
}

std::optional<int> Children::exit_status(const std::string& name) {
  auto& c = find(name);
  if (!c.status) {
    int status = 0;
    if (waitpid(c.pid, &status, WNOHANG) == c.pid) {
      c.status = status;
    }
  }
  return c.status;
}

std::optional<int> Children::wait_exit(const std::string& name, Clock::time_point deadline) {
  poll_until(deadline, [&] { return exit_status(name).has_value(); });
  return exit_status(name);
}

std::vector<std::string> Children::running() {
  std::vector<std::string> names;
  for (const auto& [name, child] : children_) {
    if (!exit_status(name)) {
      names.push_back(name);
    }
  }
  return names;
}

void Children::kill_and_reap(Child& c) {
  if (c.status) {
    return;
  }
  if (c.stopped) {
    ::kill(c.pid, SIGCONT);
  }
  ::kill(c.pid, SIGKILL);
  int status = 0;
  while (waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
  }
  c.status = status;
}

}  // namespace lifeline::app::demo
