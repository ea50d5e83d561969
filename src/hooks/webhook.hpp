#pragma once
// One webhook POST, blocking with a deadline (the webhook worker's thread).

#include <chrono>
#include <string>

namespace lifeline::hooks {

/// POSTs `body` to `url` with the headers of docs/operations.md ("Hooks").
/// Returns empty on a 2xx answer, else why it failed ("HTTP 500", "connect: ...", "timed out").
std::string post(const std::string& url, const std::string& body, const std::string& signature,
                 const std::string& event_kind, const std::string& delivery_id, std::chrono::milliseconds timeout);

/// Empty if `url` is an http:// or https:// URL post() can use, else why not.
std::string check_url(const std::string& url);

}  // namespace lifeline::hooks
