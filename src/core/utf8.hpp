#pragma once
// UTF-8 validation (RFC 3629: no overlong forms, no surrogates, nothing past
// U+10FFFF), for what must be text: C ABI strings, WebSocket close reasons.
#include <string_view>

namespace lifeline::detail {

bool valid_utf8(std::string_view s);

}  // namespace lifeline::detail
