#include "status.hpp"

#include <array>
#include <cstdint>

#include "core/utf8.hpp"
#include "lifeline/log.hpp"

namespace lifeline::capi {
using detail::valid_utf8;
namespace {

thread_local std::string t_last_error;
thread_local std::array<std::string, static_cast<std::size_t>(Slot::count)> t_slots;

}  // namespace

int fail(std::string_view fn, int status, std::string_view message) {
  try {
    t_last_error.assign(fn);
    t_last_error += ": ";
    t_last_error += message;
  } catch (...) {  // NOLINT(bugprone-empty-catch): out of memory for the message itself
  }
  return status;
}

std::string_view text_arg(const char* s, std::string_view what) {
  if (s == nullptr) {
    throw Failure(LL_ERR_INVALID, std::string(what) + " is NULL");
  }
  const std::string_view v(s);
  if (!valid_utf8(v)) {
    throw Failure(LL_ERR_INVALID, std::string(what) + " is not valid UTF-8");
  }
  return v;
}

const char* per_thread(Slot slot, std::string value) {
  auto& s = t_slots[static_cast<std::size_t>(slot)];
  s = std::move(value);
  return s.c_str();
}

}  // namespace lifeline::capi

extern "C" {

const char* ll_last_error(void) { return lifeline::capi::t_last_error.c_str(); }

int ll_set_log_level(const char* level) {
  using namespace lifeline::capi;
  return guarded("ll_set_log_level", [&] {
    const auto l = text_arg(level, "level");
    if (!lifeline::configure_logging(lifeline::LogFormat::text, l)) {
      throw Failure(LL_ERR_INVALID,
                    "'" + std::string(l) + "' is not one of trace, debug, info, warn, error, critical, off");
    }
    return LL_OK;
  });
}

const char* ll_strerror(int status) {
  switch (status) {
    case LL_OK: return "LL_OK: success";
    case LL_ERR_INVALID: return "LL_ERR_INVALID: invalid argument";
    case LL_ERR_STATE: return "LL_ERR_STATE: not allowed in the handle's current state";
    case LL_ERR_NOT_FOUND: return "LL_ERR_NOT_FOUND: no such client online";
    case LL_ERR_TIMEOUT: return "LL_ERR_TIMEOUT: nothing within the time given";
    case LL_ERR_SYSTEM: return "LL_ERR_SYSTEM: the operating system refused";
    case LL_ERR_HANDLE: return "LL_ERR_HANDLE: not a live lifeline handle";
    case LL_ERR_INTERNAL: return "LL_ERR_INTERNAL: internal error";
    default: return "unknown status";
  }
}

}  // extern "C"
