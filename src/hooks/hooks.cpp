// The hooks' two workers: commands (posix_spawn of /bin/sh -c, the event in
// the environment) and webhooks (webhook.cpp), each with a bounded queue.

#include "lifeline/hooks.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "lifeline/duration.hpp"
#include "lifeline/log.hpp"
#include "webhook.hpp"

extern char** environ;

namespace lifeline {
namespace {
constexpr auto kPoll = std::chrono::milliseconds(10);

// The parent's environment plus the event's LIFELINE_* variables.
std::vector<std::string> event_environment(const PresenceEvent& e) {
  std::vector<std::string> env;
  for (char** p = environ; *p != nullptr; ++p) {
    if (std::string_view(*p).rfind("LIFELINE_", 0) != 0) {
      env.emplace_back(*p);
    }
  }
  env.push_back("LIFELINE_EVENT=" + std::string(proto::to_string(e.kind)));
  env.push_back("LIFELINE_ID=" + e.id);
  env.push_back("LIFELINE_PEER=" + e.remote);
  env.push_back("LIFELINE_AT=" + format_time(e.at));
  env.push_back("LIFELINE_SEQ=" + std::to_string(e.seq));
  env.push_back("LIFELINE_INSTANCE=" + instance_text(e.instance));
  if (e.kind == EventKind::offline) {
    env.push_back("LIFELINE_REASON=" + std::string(proto::to_string(e.reason)));
    env.push_back("LIFELINE_LAST_SEEN=" + format_time(e.last_seen));
  }
  return env;
}
}  // namespace

std::string HookOptions::validate() const {
  if (!webhook_url.empty()) {
    if (auto err = hooks::check_url(webhook_url); !err.empty()) {
      return "--webhook: " + err;
    }
    if (webhook_secret.size() < 16) {
      return "--webhook needs --webhook-secret-file with a secret of at least 16 bytes";
    }
  }
  if (queue == 0 || command_timeout.count() <= 0 || webhook_timeout.count() <= 0 || retry_base.count() <= 0 ||
      retry_cap < retry_base) {
    return "hooks: the queue and the timeouts must be positive, and the retry cap at least its base";
  }
  return {};
}

struct Hooks::Impl {
  mutable std::mutex mu;
  std::condition_variable wake;
  HookOptions options;
  std::deque<PresenceEvent> commands;
  std::deque<PresenceEvent> webhooks;
  bool stopping = false;
  HookStats stats;
  std::thread command_thread;
  std::thread webhook_thread;

  // Takes the next event of `q`; false once stopping with nothing left to take.
  bool next(std::deque<PresenceEvent>& q, PresenceEvent& out, HookOptions& opts) {
    std::unique_lock lock(mu);
    wake.wait(lock, [&] { return stopping || !q.empty(); });
    if (q.empty()) {
      return false;
    }
    out = std::move(q.front());
    q.pop_front();
    opts = options;
    return true;
  }
  void run_commands();
  void run_command(const std::string& command, const PresenceEvent& e, std::chrono::milliseconds timeout);
  void run_webhooks();
  void deliver(const PresenceEvent& e, const HookOptions& o);
  // Waits up to `d` unless stopping; false if stopping.
  bool pause(std::chrono::milliseconds d) {
    std::unique_lock lock(mu);
    return !wake.wait_for(lock, d, [&] { return stopping; });
  }
};

void Hooks::Impl::run_command(const std::string& command, const PresenceEvent& e, std::chrono::milliseconds timeout) {
  const auto env = event_environment(e);
  std::vector<char*> envp;
  for (const auto& v : env) {
    envp.push_back(const_cast<char*>(v.c_str()));
  }
  envp.push_back(nullptr);
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
  posix_spawnattr_setpgroup(&attr, 0);  // its own group: a timeout kills the whole pipeline
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);  // the server's blocked signals are not the command's
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, "/bin/sh", &files, &attr, const_cast<char* const*>(argv), envp.data());
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    logger()->error("hook: cannot run '{}': {}", command, std::strerror(rc));
    const std::lock_guard lock(mu);
    ++stats.commands_failed;
    return;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      logger()->warn("hook: '{}' for {} id={} killed after {}", command, proto::to_string(e.kind), e.id,
                     format_duration(timeout));
      break;
    }
    std::this_thread::sleep_for(kPoll);  // a child's exit cannot be waited on with a deadline otherwise
  }
  const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!ok && WIFEXITED(status)) {
    logger()->warn("hook: '{}' for {} id={} exited with status {}", command, proto::to_string(e.kind), e.id,
                   WEXITSTATUS(status));
  }
  const std::lock_guard lock(mu);
  ++stats.commands_run;
  stats.commands_failed += ok ? 0 : 1;
}

void Hooks::Impl::run_commands() {
  PresenceEvent e;
  HookOptions o;
  while (next(commands, e, o)) {
    const auto& command = e.kind == EventKind::offline ? o.on_offline : o.on_online;
    // Commands follow the id: join and leave (`multi`) go to webhooks only.
    const bool id_changed = e.kind != EventKind::gap && e.kind != EventKind::join && e.kind != EventKind::leave;
    if (!command.empty() && id_changed) {
      run_command(command, e, o.command_timeout);
    }
  }
}

void Hooks::Impl::deliver(const PresenceEvent& e, const HookOptions& o) {
  const auto body = webhook_body(e);
  const auto signature = webhook_signature(o.webhook_secret, body);
  const auto delivery = instance_text(e.instance) + "-" + std::to_string(e.seq);
  std::minstd_rand rng(static_cast<unsigned>(e.seq));
  auto backoff = o.retry_base;
  for (unsigned attempt = 0;; ++attempt) {
    const auto why =
        hooks::post(o.webhook_url, body, signature, std::string(proto::to_string(e.kind)), delivery, o.webhook_timeout);
    std::unique_lock lock(mu);
    if (why.empty()) {
      ++stats.webhooks_delivered;
      return;
    }
    if (attempt >= o.webhook_retries || stopping) {
      ++stats.webhooks_failed;
      logger()->error("webhook: {} for {} id={} not delivered after {} attempts: {}", delivery,
                      proto::to_string(e.kind), e.id, attempt + 1, why);
      return;
    }
    ++stats.webhook_retries;
    logger()->debug("webhook: {} attempt {} failed: {}", delivery, attempt + 1, why);
    // Full jitter: anywhere up to the current backoff, so a fleet does not retry in step.
    const auto wait = std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(0, backoff.count())(rng));
    backoff = std::min(backoff * 2, o.retry_cap);
    lock.unlock();
    const bool go_on = pause(wait);
    lock.lock();
    if (!go_on) {
      ++stats.webhooks_failed;
      return;
    }
  }
}

void Hooks::Impl::run_webhooks() {
  PresenceEvent e;
  HookOptions o;
  while (next(webhooks, e, o)) {
    if (!o.webhook_url.empty() && e.kind != EventKind::gap) {
      deliver(e, o);
    }
  }
}

Hooks::Hooks(HookOptions options) : impl_(std::make_unique<Impl>()) {
  if (auto err = options.validate(); !err.empty()) {
    throw std::invalid_argument(err);
  }
  impl_->options = std::move(options);
  impl_->command_thread = std::thread([this] { impl_->run_commands(); });
  impl_->webhook_thread = std::thread([this] { impl_->run_webhooks(); });
}

Hooks::~Hooks() {
  {
    const std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
    if (const auto left = impl_->commands.size() + impl_->webhooks.size(); left > 0) {
      logger()->warn("hooks: stopping with {} events not handled", left);
    }
    impl_->commands.clear();
    impl_->webhooks.clear();
  }
  impl_->wake.notify_all();
  impl_->command_thread.join();
  impl_->webhook_thread.join();
}

void Hooks::publish(const PresenceEvent& event) {
  auto& im = *impl_;
  {
    const std::lock_guard lock(im.mu);
    const auto& o = im.options;
    const auto push = [&](std::deque<PresenceEvent>& q) {
      if (q.size() >= o.queue) {
        // The first drop of a run of them and every 100th after it are logged, with the count.
        if (im.stats.dropped++ % 100 == 0) {
          logger()->warn("hooks: queue full ({} events), {} events dropped so far", o.queue, im.stats.dropped);
        }
        return;
      }
      q.push_back(event);
    };
    if (!o.on_online.empty() || !o.on_offline.empty()) {
      push(im.commands);
    }
    if (!o.webhook_url.empty()) {
      push(im.webhooks);
    }
  }
  im.wake.notify_all();
}

void Hooks::reload(HookOptions options) {
  if (auto err = options.validate(); !err.empty()) {
    throw std::invalid_argument(err);
  }
  const std::lock_guard lock(impl_->mu);
  impl_->options = std::move(options);
}

HookOptions Hooks::options() const {
  const std::lock_guard lock(impl_->mu);
  return impl_->options;
}

HookStats Hooks::stats() const {
  const std::lock_guard lock(impl_->mu);
  auto s = impl_->stats;
  s.queued = impl_->commands.size() + impl_->webhooks.size();
  return s;
}

}  // namespace lifeline
