#pragma once
// A thin RAII layer over the sqlite3 C API: a connection, a prepared
// statement with typed binds and columns, and errors that name the file and
// SQLite's message. One connection per thread.

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace lifeline::store {

struct SqliteError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Db {
 public:
  /// Throws SqliteError naming `path` if it cannot be opened.
  Db(const std::string& path, bool read_only);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  sqlite3* get() const { return db_; }
  const std::string& path() const { return path_; }
  /// Runs SQL without results; throws SqliteError naming what failed.
  void exec(const char* sql) const;
  /// "<path>: <sqlite message>".
  std::string error(std::string_view what) const;
  int user_version() const;

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
};

class Stmt {
 public:
  Stmt(const Db& db, const char* sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, std::int64_t v);
  Stmt& bind(int i, std::string_view v);
  Stmt& bind_null(int i);
  /// Steps once: true while a row is there. Throws SqliteError on failure.
  bool step();
  /// Runs to completion and resets for the next use.
  void run();
  void reset();
  std::int64_t i64(int col) const { return sqlite3_column_int64(st_, col); }
  std::optional<std::int64_t> opt_i64(int col) const;
  std::string text(int col) const;

 private:
  const Db& db_;
  sqlite3_stmt* st_ = nullptr;
};

/// BEGIN IMMEDIATE ... COMMIT; rolls back if not committed.
class Transaction {
 public:
  explicit Transaction(const Db& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  const Db& db_;
  bool done_ = false;
};

}  // namespace lifeline::store
