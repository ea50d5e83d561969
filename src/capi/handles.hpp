#pragma once
// Which pointers are live handles. Every ll_* call looks its handle up here
// first, so a NULL, a destroyed handle, or a client passed as a server gets
// LL_ERR_HANDLE instead of undefined behaviour; and the lookup's shared_ptr
// keeps the object alive for the rest of the call, whatever another thread does.
#include <memory>
#include <string_view>

namespace lifeline::capi {

enum class Kind { client, server };

struct HandleBase {
  explicit HandleBase(Kind k) : kind(k) {}
  HandleBase(const HandleBase&) = delete;
  HandleBase& operator=(const HandleBase&) = delete;
  virtual ~HandleBase() = default;
  const Kind kind;
};

/// Makes `handle` live under the address `key` (the pointer handed out).
void register_handle(const void* key, std::shared_ptr<HandleBase> handle);
/// The live handle at `key` of `kind`; throws Failure(LL_ERR_HANDLE) naming `what`.
std::shared_ptr<HandleBase> find_handle(const void* key, Kind kind, std::string_view what);
/// Removes it (later lookups fail); returns it, to be released by the caller.
std::shared_ptr<HandleBase> unregister_handle(const void* key, Kind kind, std::string_view what);

template <class T>
std::shared_ptr<T> find(const T* handle, Kind kind, std::string_view what) {
  return std::static_pointer_cast<T>(find_handle(handle, kind, what));
}

}  // namespace lifeline::capi
