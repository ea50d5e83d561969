#pragma once
// The history database's schema, its versions and the migrations between
// them (PRAGMA user_version). Instants are integer ms since the Unix epoch, UTC.

#include "sqlite.hpp"

namespace lifeline::store {

/// Version 1's tables, kept so the migration to 2 can be tested from a real version-1 file.
extern const char* const kSchemaV1;

/// Creates the tables in an empty database, or migrates an older one to the
/// current version. Throws SqliteError naming the file and both versions for
/// a newer one.
void migrate(const Db& db);

}  // namespace lifeline::store
