// The history store: a bounded queue in front of a writer thread, a memory
// model that answers while the database cannot, and the read connection.

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "lifeline/history.hpp"
#include "lifeline/log.hpp"
#include "memory_model.hpp"
#include "queries.hpp"
#include "schema.hpp"
#include "writer.hpp"

namespace lifeline {
using store::Db;
using store::SqliteError;

namespace {
constexpr std::chrono::seconds kRetryOpen{5};
constexpr std::chrono::hours kPruneEvery{1};
constexpr std::chrono::seconds kTouchEvery{1};
}  // namespace

std::filesystem::path history_file(const std::filesystem::path& data_dir) { return data_dir / "history.sqlite3"; }

struct HistoryStore::Impl {
  HistoryOptions options;
  std::string path;
  // The writer thread's connection, and the queries' (each its own mutex).
  std::unique_ptr<Db> wdb;
  std::unique_ptr<store::Writer> writer;
  mutable std::mutex read_mu;
  std::unique_ptr<Db> rdb;

  mutable std::mutex mu;  // queue, memory model, flags
  std::condition_variable wake;
  std::condition_variable flushed;
  std::deque<PresenceEvent> queue;
  std::vector<PresenceEvent> pending;  // taken but not yet committed
  std::uint64_t taken = 0;             // events taken off the queue
  std::uint64_t settled = 0;           // of those, committed or given up
  std::uint64_t recorded = 0;          // events queued, ever
  store::MemoryModel memory;
  bool stopping = false;
  bool degraded = false;
  bool error_logged = false;
  HistoryStats stats;
  std::thread thread;

  void open();
  void run();
  void write_batch(std::vector<PresenceEvent> batch);
  void fail(const std::string& why);
};

void HistoryStore::Impl::open() {
  try {
    std::filesystem::create_directories(options.data_dir);
    auto db = std::make_unique<Db>(path, false);
    db->exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
    store::migrate(*db);
    auto w = std::make_unique<store::Writer>(*db);
    if (const int lost = w->close_lost_sessions(); lost > 0) {
      logger()->warn("history: {} sessions a previous run left open were closed as server_lost at its last write",
                     lost);
    }
    w->prune(std::chrono::system_clock::now() - options.retention);
    auto r = std::make_unique<Db>(path, true);
    memory.load(store::query_all_clients(*r));
    writer = std::move(w);
    wdb = std::move(db);
    const std::lock_guard lock(read_mu);
    rdb = std::move(r);
  } catch (const SqliteError& e) {
    if (std::string(e.what()).find("newer than this lifeline") != std::string::npos) {
      throw std::runtime_error(e.what());
    }
    fail(e.what());
  } catch (const std::filesystem::filesystem_error& e) {
    fail(e.what());
  }
}

void HistoryStore::Impl::fail(const std::string& why) {
  writer.reset();
  wdb.reset();
  const std::lock_guard lock(mu);
  ++stats.write_errors;
  degraded = true;
  if (!error_logged) {
    logger()->error("history: {}; keeping history in memory, retrying every {} s", why, kRetryOpen.count());
    error_logged = true;
  }
}

void HistoryStore::Impl::write_batch(std::vector<PresenceEvent> batch) {
  const auto n = batch.size();
  try {
    writer->write(batch, std::chrono::system_clock::now());
    const std::lock_guard lock(mu);
    stats.events_written += n;
    if (degraded) {
      logger()->info("history: the database is writable again ({})", path);
    }
    degraded = false;
    error_logged = false;
    pending.clear();
  } catch (const SqliteError& e) {
    fail(e.what());
    const std::lock_guard lock(mu);
    pending = std::move(batch);  // retried with the next batch once the database is back
    while (pending.size() > options.queue) {
      pending.erase(pending.begin());
      ++stats.dropped;
    }
  }
}

void HistoryStore::Impl::run() {
  auto next_open = std::chrono::steady_clock::now();
  auto next_prune = std::chrono::steady_clock::now() + kPruneEvery;
  auto next_touch = std::chrono::steady_clock::now();
  for (bool last = false; !last;) {
    std::vector<PresenceEvent> batch;
    {
      std::unique_lock lock(mu);
      wake.wait_for(lock, options.flush_interval, [&] { return stopping; });
      last = stopping;
      batch = std::move(pending);
      pending.clear();
      taken += queue.size();
      batch.insert(batch.end(), std::make_move_iterator(queue.begin()), std::make_move_iterator(queue.end()));
      queue.clear();
    }
    const auto now = std::chrono::steady_clock::now();
    if (!writer && now >= next_open) {
      next_open = now + kRetryOpen;
      open();
    }
    if (writer && (!batch.empty() || now >= next_touch)) {
      next_touch = now + kTouchEvery;
      write_batch(std::move(batch));
    } else if (!batch.empty()) {
      const std::lock_guard lock(mu);
      pending = std::move(batch);
    }
    if (writer && now >= next_prune) {
      next_prune = now + kPruneEvery;
      try {
        writer->prune(std::chrono::system_clock::now() - options.retention);
      } catch (const SqliteError& e) {
        fail(e.what());
      }
    }
    const std::lock_guard lock(mu);
    settled = taken - pending.size();
    flushed.notify_all();
  }
}

HistoryStore::HistoryStore(HistoryOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->path = history_file(impl_->options.data_dir).string();
  impl_->open();  // at startup, so a newer schema stops the server
  if (impl_->writer) {
    logger()->info("history: {} (schema {}, retention {} h)", impl_->path, kHistorySchema,
                   impl_->options.retention.count());
  }
  impl_->thread = std::thread([this] { impl_->run(); });
}

HistoryStore::~HistoryStore() {
  {
    const std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  impl_->thread.join();
}

void HistoryStore::record(const PresenceEvent& event) {
  {
    const std::lock_guard lock(impl_->mu);
    impl_->memory.apply(event);
    if (impl_->queue.size() >= impl_->options.queue) {
      ++impl_->stats.dropped;
      return;
    }
    impl_->queue.push_back(event);
    ++impl_->recorded;
  }
}

void HistoryStore::flush() {
  std::unique_lock lock(impl_->mu);
  const auto target = impl_->recorded;
  impl_->wake.notify_all();
  impl_->flushed.wait_for(lock, std::chrono::seconds(10),
                          [&] { return impl_->settled + impl_->stats.dropped >= target || impl_->degraded; });
}

std::optional<ClientRecord> HistoryStore::client(std::string_view id) const {
  const std::lock_guard lock(impl_->mu);
  return impl_->memory.client(id);
}

std::vector<ClientRecord> HistoryStore::offline_clients() const {
  const std::lock_guard lock(impl_->mu);
  return impl_->memory.offline_clients();
}

std::optional<ClientHistory> HistoryStore::history(std::string_view id, SystemTime since, SystemTime until) const {
  {
    const std::lock_guard lock(impl_->mu);
    if (!impl_->memory.client(id)) {
      return std::nullopt;
    }
    if (impl_->degraded) {
      return store::make_history(id, since, until, impl_->memory.sessions(id, since, until));
    }
  }
  const std::lock_guard lock(impl_->read_mu);
  return store::make_history(id, since, until, store::query_sessions(*impl_->rdb, id, since, until));
}

HistoryStats HistoryStore::stats() const {
  const std::lock_guard lock(impl_->mu);
  auto s = impl_->stats;
  s.queued = impl_->queue.size() + impl_->pending.size();
  s.degraded = impl_->degraded;
  return s;
}

struct HistoryReader::Impl {
  std::unique_ptr<Db> db;
};

HistoryReader::HistoryReader(const std::filesystem::path& data_dir) : impl_(std::make_unique<Impl>()) {
  const auto path = history_file(data_dir).string();
  if (!std::filesystem::exists(path)) {
    throw std::runtime_error("no history in " + data_dir.string() + " (" + path + " does not exist)");
  }
  try {
    impl_->db = std::make_unique<Db>(path, true);
    if (const int v = impl_->db->user_version(); v > kHistorySchema) {
      throw SqliteError(path + " has schema version " + std::to_string(v) + ", newer than this lifeline's " +
                        std::to_string(kHistorySchema));
    }
  } catch (const SqliteError& e) {
    throw std::runtime_error(e.what());
  }
}

HistoryReader::~HistoryReader() = default;

std::optional<ClientRecord> HistoryReader::client(std::string_view id) const {
  return store::query_client(*impl_->db, id);
}

std::optional<ClientHistory> HistoryReader::history(std::string_view id, SystemTime since, SystemTime until) const {
  if (!store::query_client(*impl_->db, id)) {
    return std::nullopt;
  }
  return store::make_history(id, since, until, store::query_sessions(*impl_->db, id, since, until));
}

}  // namespace lifeline
