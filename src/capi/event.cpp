#include "event.hpp"

#include <chrono>

#include "lifeline/protocol.hpp"

namespace lifeline::capi {
namespace {

std::int64_t epoch_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string labels_text(const std::vector<proto::Label>& labels) {
  std::string out;
  for (const auto& l : labels) {
    if (!out.empty()) {
      out += '\n';
    }
    out += l.key;
    out += '=';
    out += l.value;
  }
  return out;
}

void set_instance(ll_event& ev, std::uint64_t instance) {
  ev.instance = instance;
  ev.instance_text = instance == 0 ? std::string() : instance_text(instance);
}

}  // namespace

EventPtr state_event(const StateChange& change) {
  auto ev = std::make_unique<ll_event>();
  ev->type = LL_EVENT_STATE;
  ev->state = static_cast<std::int64_t>(change.to);
  ev->previous_state = static_cast<std::int64_t>(change.from);
  ev->server = change.server;
  ev->reason = change.refused ? std::string(proto::to_string(*change.refused)) : change.reason;
  ev->interval_ms = change.interval.count();
  ev->timeout_ms = change.timeout.count();
  ev->attempts = change.attempts;
  return ev;
}

EventPtr data_event(std::string_view from_id, std::string_view payload) {
  auto ev = std::make_unique<ll_event>();
  ev->type = LL_EVENT_DATA;
  ev->id = from_id;
  ev->data = payload;
  return ev;
}

EventPtr presence_event(const proto::Event& e) {
  auto ev = std::make_unique<ll_event>();
  ev->type = LL_EVENT_PRESENCE;
  ev->kind = proto::to_string(e.kind);
  ev->reason = e.reason == proto::Reason::none ? "" : std::string(proto::to_string(e.reason));
  ev->id = e.id;
  ev->remote = e.remote;
  ev->seq = static_cast<std::int64_t>(e.seq);
  ev->at_ms = e.at_ms;
  ev->node = e.node;
  set_instance(*ev, e.instance);
  return ev;
}

EventPtr presence_event(const PresenceEvent& e) {
  auto ev = std::make_unique<ll_event>();
  ev->type = LL_EVENT_PRESENCE;
  ev->kind = proto::to_string(e.kind);
  ev->reason = e.reason == Reason::none ? "" : std::string(proto::to_string(e.reason));
  ev->id = e.id;
  ev->remote = e.remote;
  ev->seq = static_cast<std::int64_t>(e.seq);
  ev->session = static_cast<std::int64_t>(e.session);
  ev->at_ms = epoch_ms(e.at);
  ev->last_seen_ms = epoch_ms(e.last_seen);
  ev->node = e.node;
  set_instance(*ev, e.instance);
  return ev;
}

EventPtr overflow_event(std::uint64_t dropped) {
  auto ev = std::make_unique<ll_event>();
  ev->type = LL_EVENT_OVERFLOW;
  ev->count = static_cast<std::int64_t>(dropped);
  return ev;
}

EventPtr list_event(const OnlineList& list, std::uint32_t request_id) {
  auto ev = std::make_unique<ll_event>();
  ev->type = LL_EVENT_LIST;
  ev->online = list.online;
  ev->seq = static_cast<std::int64_t>(list.seq);
  ev->request_id = request_id;
  ev->node = list.node;
  ev->degraded = list.degraded ? 1 : 0;
  set_instance(*ev, list.instance);
  ev->entries.reserve(list.entries.size());
  for (const auto& e : list.entries) {
    ev->entries.push_back({.id = e.id,
                           .remote = e.remote,
                           .labels = labels_text(e.labels),
                           .transport = "",
                           .node = e.node,
                           .session = 0,
                           .since_ms = e.since_ms,
                           .last_seen_ms = e.last_seen_ms,
                           .rtt_us = e.rtt_us,
                           .interval_ms = e.interval_ms,
                           .timeout_ms = e.timeout_ms});
  }
  ev->count = static_cast<std::int64_t>(ev->entries.size());
  return ev;
}

EventPtr list_event(const PresenceSnapshot& snapshot, const ClusterStatus& status) {
  auto ev = std::make_unique<ll_event>();
  ev->type = LL_EVENT_LIST;
  ev->online = static_cast<std::int64_t>(snapshot.clients.size());
  ev->seq = static_cast<std::int64_t>(snapshot.seq);
  ev->node = status.node_id;
  ev->degraded = status.enabled && !status.synced ? 1 : 0;
  set_instance(*ev, snapshot.instance);
  ev->entries.reserve(snapshot.clients.size());
  for (const auto& c : snapshot.clients) {
    ev->entries.push_back({.id = c.id,
                           .remote = c.remote,
                           .labels = labels_text(c.labels),
                           .transport = transport_name(c.transport),
                           .node = c.node,
                           .session = static_cast<std::int64_t>(c.session),
                           .since_ms = epoch_ms(c.since),
                           .last_seen_ms = epoch_ms(c.last_seen),
                           .rtt_us = c.rtt.count(),
                           .interval_ms = c.heartbeat.interval.count(),
                           .timeout_ms = c.heartbeat.timeout.count()});
  }
  ev->count = static_cast<std::int64_t>(ev->entries.size());
  return ev;
}

}  // namespace lifeline::capi

extern "C" {

int ll_event_type(const ll_event* event) { return event == nullptr ? 0 : event->type; }

const char* ll_event_str(const ll_event* event, int field) {
  if (event == nullptr) {
    return "";
  }
  switch (field) {
    case LL_FIELD_ID: return event->id.c_str();
    case LL_FIELD_REMOTE: return event->remote.c_str();
    case LL_FIELD_KIND: return event->kind.c_str();
    case LL_FIELD_REASON: return event->reason.c_str();
    case LL_FIELD_SERVER: return event->server.c_str();
    case LL_FIELD_DATA: return event->data.c_str();
    case LL_FIELD_INSTANCE: return event->instance_text.c_str();
    case LL_FIELD_NODE: return event->node.c_str();
    case LL_FIELD_STATE: return event->type == LL_EVENT_STATE ? ll_state_name(static_cast<int>(event->state)) : "";
    case LL_FIELD_PREVIOUS_STATE:
      return event->type == LL_EVENT_STATE ? ll_state_name(static_cast<int>(event->previous_state)) : "";
    default: return "";
  }
}

int64_t ll_event_int(const ll_event* event, int field) {
  if (event == nullptr) {
    return 0;
  }
  switch (field) {
    case LL_FIELD_STATE: return event->state;
    case LL_FIELD_PREVIOUS_STATE: return event->previous_state;
    case LL_FIELD_SEQ: return event->seq;
    case LL_FIELD_SESSION: return event->session;
    case LL_FIELD_AT_MS: return event->at_ms;
    case LL_FIELD_LAST_SEEN_MS: return event->last_seen_ms;
    case LL_FIELD_INTERVAL_MS: return event->interval_ms;
    case LL_FIELD_TIMEOUT_MS: return event->timeout_ms;
    case LL_FIELD_COUNT: return event->count;
    case LL_FIELD_ONLINE: return event->online;
    case LL_FIELD_REQUEST_ID: return event->request_id;
    case LL_FIELD_ATTEMPTS: return event->attempts;
    case LL_FIELD_DEGRADED: return event->degraded;
    case LL_FIELD_INSTANCE: return static_cast<int64_t>(event->instance);
    default: return 0;
  }
}

const char* ll_event_data(const ll_event* event, size_t* length) {
  const bool has = event != nullptr && event->type == LL_EVENT_DATA;
  if (length != nullptr) {
    *length = has ? event->data.size() : 0;
  }
  return has ? event->data.data() : nullptr;
}

size_t ll_event_count(const ll_event* event) { return event == nullptr ? 0 : event->entries.size(); }

const char* ll_event_entry_str(const ll_event* event, size_t index, int field) {
  if (event == nullptr || index >= event->entries.size()) {
    return "";
  }
  const auto& e = event->entries[index];
  switch (field) {
    case LL_FIELD_ID: return e.id.c_str();
    case LL_FIELD_REMOTE: return e.remote.c_str();
    case LL_FIELD_LABELS: return e.labels.c_str();
    case LL_FIELD_TRANSPORT: return e.transport.c_str();
    case LL_FIELD_NODE: return e.node.c_str();
    default: return "";
  }
}

int64_t ll_event_entry_int(const ll_event* event, size_t index, int field) {
  if (event == nullptr || index >= event->entries.size()) {
    return 0;
  }
  const auto& e = event->entries[index];
  switch (field) {
    case LL_FIELD_SESSION: return e.session;
    case LL_FIELD_SINCE_MS: return e.since_ms;
    case LL_FIELD_LAST_SEEN_MS: return e.last_seen_ms;
    case LL_FIELD_RTT_US: return e.rtt_us;
    case LL_FIELD_INTERVAL_MS: return e.interval_ms;
    case LL_FIELD_TIMEOUT_MS: return e.timeout_ms;
    default: return 0;
  }
}

void ll_event_free(ll_event* event) {
  if (event != nullptr && !event->borrowed) {
    delete event;  // NOLINT(cppcoreguidelines-owning-memory)
  }
}

const char* ll_state_name(int state) {
  switch (state) {
    case LL_STATE_DISCONNECTED: return "disconnected";
    case LL_STATE_CONNECTING: return "connecting";
    case LL_STATE_ONLINE: return "online";
    case LL_STATE_RECONNECTING: return "reconnecting";
    case LL_STATE_STOPPED: return "stopped";
    default: return "unknown";
  }
}

}  // extern "C"
