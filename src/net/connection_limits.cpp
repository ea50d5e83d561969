#include "connection_limits.hpp"

namespace lifeline::detail {

std::string ConnectionLimits::admit(std::string_view address) {
  const std::lock_guard lock(mu_);
  if (max_total_ != 0 && total_ >= max_total_) {
    return "server connection limit reached (" + std::to_string(max_total_) + ")";
  }
  auto& n = per_address_[std::string(address)];
  if (max_per_address_ != 0 && n >= max_per_address_) {  // n >= 1: the entry is a live address's
    return "connection limit per address reached (" + std::to_string(max_per_address_) + " from " +
           std::string(address) + ")";
  }
  ++n;
  ++total_;
  return {};
}

void ConnectionLimits::release(std::string_view address) {
  const std::lock_guard lock(mu_);
  --total_;
  const auto it = per_address_.find(std::string(address));
  if (it != per_address_.end() && --it->second == 0) {
    per_address_.erase(it);  // memory follows live addresses, not every address ever seen
  }
}

void ConnectionLimits::set(std::size_t max_total, std::size_t max_per_address) {
  const std::lock_guard lock(mu_);
  max_total_ = max_total;
  max_per_address_ = max_per_address;
}

std::size_t ConnectionLimits::total() const {
  const std::lock_guard lock(mu_);
  return total_;
}

std::string_view host_of(std::string_view peer) {
  const auto colon = peer.rfind(':');
  return colon == std::string_view::npos ? peer : peer.substr(0, colon);
}

}  // namespace lifeline::detail
