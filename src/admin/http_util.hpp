#pragma once
// Small pieces of HTTP the admin routes share: the request target split into
// a path and decoded query parameters, error bodies, and list cursors.
// Pure functions: thread-safe.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lifeline::admin {

struct Target {
  std::string path;                                        // percent-decoded
  std::vector<std::string> segments;                       // the path split at '/', each decoded ("a%2Fb" is one)
  std::vector<std::pair<std::string, std::string>> query;  // in order, decoded
  /// The first value of `key`, if given.
  std::optional<std::string> param(std::string_view key) const;
  /// Every value of `key`.
  std::vector<std::string> params(std::string_view key) const;
};

/// Splits and decodes "/v1/clients?prefix=a%2Fb"; nullopt on a bad escape or
/// a target that does not start with '/'.
std::optional<Target> parse_target(std::string_view target);

/// "%41" -> "A", "+" -> " " when `plus_is_space`; nullopt on a bad escape.
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space);

/// The JSON error body of docs/api.md: {"error":{"code":...,"message":...}}.
std::string error_body(std::string_view code, std::string_view message);

/// List cursors: the last id of a page, hex-encoded (opaque to readers).
std::string encode_cursor(std::string_view id);
std::optional<std::string> decode_cursor(std::string_view cursor);

/// "<instance>-<seq>", an event stream id; nullopt if malformed.
std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_event_id(std::string_view text);

}  // namespace lifeline::admin
