#include "sqlite.hpp"

namespace lifeline::store {

Db::Db(const std::string& path, bool read_only) : path_(path) {
  const int flags = read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    const std::string why = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw SqliteError("cannot open " + path + ": " + why);
  }
  sqlite3_busy_timeout(db_, 1000);
}

Db::~Db() { sqlite3_close_v2(db_); }

void Db::exec(const char* sql) const {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string why = path_ + ": " + (msg != nullptr ? msg : "unknown error");
    sqlite3_free(msg);
    throw SqliteError(why);
  }
}

std::string Db::error(std::string_view what) const {
  return path_ + ": " + std::string(what) + ": " + sqlite3_errmsg(db_);
}

int Db::user_version() const {
  Stmt s(*this, "PRAGMA user_version");
  return s.step() ? static_cast<int>(s.i64(0)) : 0;
}

Stmt::Stmt(const Db& db, const char* sql) : db_(db) {
  if (sqlite3_prepare_v2(db.get(), sql, -1, &st_, nullptr) != SQLITE_OK) {
    throw SqliteError(db.error("cannot prepare a statement"));
  }
}

Stmt::~Stmt() { sqlite3_finalize(st_); }

Stmt& Stmt::bind(int i, std::int64_t v) {
  sqlite3_bind_int64(st_, i, v);
  return *this;
}

Stmt& Stmt::bind(int i, std::string_view v) {
  sqlite3_bind_text(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

Stmt& Stmt::bind_null(int i) {
  sqlite3_bind_null(st_, i);
  return *this;
}

bool Stmt::step() {
  const int rc = sqlite3_step(st_);
  if (rc == SQLITE_ROW) {
    return true;
  }
  if (rc == SQLITE_DONE) {
    return false;
  }
  throw SqliteError(db_.error("write failed"));
}

void Stmt::run() {
  while (step()) {
  }
  reset();
}

void Stmt::reset() {
  sqlite3_reset(st_);
  sqlite3_clear_bindings(st_);
}

std::optional<std::int64_t> Stmt::opt_i64(int col) const {
  if (sqlite3_column_type(st_, col) == SQLITE_NULL) {
    return std::nullopt;
  }
  return i64(col);
}

std::string Stmt::text(int col) const {
  const auto* p = sqlite3_column_text(st_, col);
  return p != nullptr ? std::string(reinterpret_cast<const char*>(p)) : std::string();
}

Transaction::~Transaction() {
  if (!done_) {
    try {
      db_.exec("ROLLBACK");
    } catch (const SqliteError&) {  // nothing more to do: the batch is retried
    }
  }
}

void Transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace lifeline::store
