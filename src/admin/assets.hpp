#pragma once
// Files built into the program (cmake/embed.cmake): the dashboard page and the
// OpenAPI document of the admin API.

#include <string_view>

namespace lifeline::admin {
extern const std::string_view kDashboardHtml;
extern const std::string_view kOpenApiJson;
}  // namespace lifeline::admin
