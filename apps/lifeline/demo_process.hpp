#pragma once
// lifeline demo: the child processes (server, agents) and Ctrl-C.
//
// Every child is a real process running this same executable, so the demo
// shows exactly what `lifeline serve` and `lifeline agent` do. Children are
// owned by one Children object whose destructor kills and reaps whatever is
// still running, on every way out (normal end, exception, Ctrl-C); each child
// also asks the kernel to SIGKILL it if the demo itself dies.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace lifeline::app::demo {

using Clock = std::chrono::steady_clock;

/// Thrown out of any wait once SIGINT or SIGTERM arrived.
struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};

/// True once SIGINT or SIGTERM arrived while an InterruptWatcher was running.
bool interrupted();
/// Throws Interrupted if interrupted().
void throw_if_interrupted();

/// main() keeps SIGINT and SIGTERM blocked in every thread; this thread takes
/// them with sigtimedwait() and raises the interrupted() flag, which every wait
/// of the demo checks at least every 50 ms.
class InterruptWatcher {
 public:
  InterruptWatcher();
  ~InterruptWatcher();
  InterruptWatcher(const InterruptWatcher&) = delete;
  InterruptWatcher& operator=(const InterruptWatcher&) = delete;

 private:
  std::jthread thread_;
};

/// The loop under every wait of the demo: throws Interrupted once Ctrl-C came,
/// returns true once `done` holds and false once `deadline` passed; otherwise
/// calls `block(until)`, with `until` at most `slice` ahead so that Ctrl-C is
/// seen in time.
bool wait_loop(Clock::time_point deadline, const std::function<bool()>& done,
               const std::function<void(Clock::time_point until)>& block, Clock::duration slice);

/// Re-evaluates `done` every `period` until it holds (true) or `deadline`
/// passes (false). For conditions nobody notifies about, such as a process
/// exiting or a file appearing. Throws Interrupted.
bool poll_until(Clock::time_point deadline, const std::function<bool()>& done,
                std::chrono::milliseconds period = std::chrono::milliseconds(5));

/// Sleeps for `d` (interruptible): pacing for the reader and retry delays,
/// never a way to wait for something to happen.
void pace(std::chrono::milliseconds d);

/// How a reaped child ended, as text: "exited with status 0", "killed by SIGKILL".
std::string describe_wait_status(int status);

class Children {
 public:
  /// Children run `exe`; each one's stdout and stderr go to `log_dir`/NAME.log.
  Children(std::filesystem::path exe, std::filesystem::path log_dir);
  /// Kills (SIGCONT first if stopped, then SIGKILL) and reaps every child left.
  ~Children();
  Children(const Children&) = delete;
  Children& operator=(const Children&) = delete;

  /// Starts `exe args...` as child `name` (a name can be reused once its
  /// previous child was reaped). Returns its pid.
  pid_t spawn(const std::string& name, const std::vector<std::string>& args);
  pid_t pid(const std::string& name) const;
  /// Sends `sig`; remembers SIGSTOP/SIGCONT so the cleanup can wake a frozen child.
  void signal(const std::string& name, int sig);
  /// Reaps the child if it has exited; its wait status then (also on later calls).
  std::optional<int> exit_status(const std::string& name);
  /// Waits until the child exits (see poll_until); its wait status, or nullopt at the deadline.
  std::optional<int> wait_exit(const std::string& name, Clock::time_point deadline);
  /// Names of the children not reaped yet.
  std::vector<std::string> running();

  const std::filesystem::path& log_dir() const { return log_dir_; }
  std::filesystem::path log_file(const std::string& name) const;

 private:
  struct Child {
    pid_t pid = -1;
    bool stopped = false;
    std::optional<int> status;  // set once reaped
  };
  Child& find(const std::string& name);
  const Child& find(const std::string& name) const;
  static void kill_and_reap(Child& c);

  std::filesystem::path exe_;
  std::filesystem::path log_dir_;
  std::map<std::string, Child> children_;
};

}  // namespace lifeline::app::demo
