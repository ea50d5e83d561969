#pragma once
// Status codes and messages at the C boundary: every ll_* function body runs
// inside guarded(), which turns each C++ exception into a status and a
// message in ll_last_error(), so none crosses into the host language.
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#include "lifeline/lifeline.h"

namespace lifeline::capi {

/// A refusal with its status, thrown inside guarded() bodies.
struct Failure : std::runtime_error {
  Failure(int code, const std::string& message) : std::runtime_error(message), status(code) {}
  int status;
};

/// Records "fn: message" as this thread's last error; returns `status`.
int fail(std::string_view fn, int status, std::string_view message);

/// Runs `body` (which returns a status); any exception becomes a status.
template <class Body>
int guarded(std::string_view fn, Body&& body) noexcept {
  try {
    return body();
  } catch (const Failure& e) {
    return fail(fn, e.status, e.what());
  } catch (const std::invalid_argument& e) {
    return fail(fn, LL_ERR_INVALID, e.what());
  } catch (const std::system_error& e) {
    return fail(fn, LL_ERR_SYSTEM, e.what());
  } catch (const std::bad_alloc&) {
    return fail(fn, LL_ERR_SYSTEM, "out of memory");
  } catch (const std::exception& e) {
    return fail(fn, LL_ERR_INTERNAL, e.what());
  } catch (...) {
    return fail(fn, LL_ERR_INTERNAL, "unknown exception");
  }
}

/// A C string argument as a view: throws Failure (LL_ERR_INVALID) naming
/// `what` if it is NULL or not UTF-8.
std::string_view text_arg(const char* s, std::string_view what);

/// A per-thread buffer for the string function `slot` returns: the pointer
/// stays valid until the same function runs again on this thread.
enum class Slot { client_error, client_id, count };
const char* per_thread(Slot slot, std::string value);

}  // namespace lifeline::capi
