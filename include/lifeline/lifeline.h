/* lifeline.h: the C ABI of lifeline (liblifeline.so.1, lifeline.dll).
 *
 * A thin, stable layer over the C++ client and server, for every language
 * that can call C: Python (ctypes), C# (P/Invoke), Delphi and Free Pascal,
 * Go (cgo), AutoIt (DllCall). Plain C99; compiles as C++ too.
 *
 * Rules (docs/bindings.md has the long form):
 * - Handles are opaque. A handle is made by ll_*_new, configured with
 *   ll_*_set(handle, "key", "value") (strings, so adding options never
 *   changes the ABI), started, stopped, and freed by ll_*_destroy.
 * - Every function that can fail returns a status (LL_OK = 0, else an
 *   LL_ERR_* code) and leaves a message naming the cause in ll_last_error().
 *   No C++ exception crosses this boundary and no bad argument aborts: NULL
 *   handles, handles already destroyed, NULL or non-UTF-8 strings, unknown
 *   keys and bad values all return a status.
 * - Events arrive one of two ways, chosen per handle before start:
 *   1. polling: ll_client_poll / ll_server_poll on the caller's own thread
 *      (the way for AutoIt and GUI message loops), with a waitable handle to
 *      fold into the host's own loop; or
 *   2. a callback on the library's thread (ll_*_set_callback).
 *   The poll queue is bounded (option "queue_capacity", default 1024): when
 *   the host stops polling, the oldest events are dropped and the next poll
 *   returns one LL_EVENT_OVERFLOW event whose LL_FIELD_COUNT says how many.
 * - Memory: an ll_event from a poll, ll_client_list or ll_server_online
 *   belongs to the caller until ll_event_free. Strings read from an event
 *   live as long as the event. Strings returned by other functions are the
 *   library's, per thread, valid until that function is called again on the
 *   same thread. The caller never frees a string.
 * - Durations in option values are "250ms", "1s", "2m", ...; a bare number
 *   is milliseconds. Booleans are "true"/"false" (or "1"/"0", "on"/"off").
 *
 * Thread-safety: every function may be called from any thread, and calls on
 * one handle may overlap, with three exceptions: ll_*_destroy must not
 * overlap another call on the same handle; a callback must not call
 * ll_*_stop or ll_*_destroy on its own handle (they return LL_ERR_STATE);
 * and an event is read by one thread at a time.
 */
#ifndef LIFELINE_H
#define LIFELINE_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#if defined(LIFELINE_C_BUILD)
#define LL_API __declspec(dllexport)
#else
#define LL_API __declspec(dllimport)
#endif
#else
#define LL_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** The ABI this header describes. The soname (liblifeline.so.N) carries the
 * same number and changes only when the ABI breaks. */
#define LL_ABI_VERSION 1

/* ---- Status codes ------------------------------------------------------ */
enum {
  LL_OK = 0,
  LL_ERR_INVALID = 1,   /**< a bad argument: NULL, not UTF-8, unknown option, bad value */
  LL_ERR_STATE = 2,     /**< not now: not started, already started, not online, inside a callback */
  LL_ERR_NOT_FOUND = 3, /**< no such client id online */
  LL_ERR_TIMEOUT = 4,   /**< nothing happened within the time given (a poll with no event) */
  LL_ERR_SYSTEM = 5,    /**< the operating system refused: an address in use, no threads, no descriptors */
  LL_ERR_HANDLE = 6,    /**< not a live handle of this library (destroyed, or never one) */
  LL_ERR_INTERNAL = 7   /**< a bug in lifeline; the message says more */
};

/** The library's version, "0.1.0". Thread-safe; a static string. */
LL_API const char* ll_version(void);
/** LL_ABI_VERSION of the library actually loaded (compare with the header's). */
LL_API int ll_abi_version(void);
/** A status code's name and meaning, "LL_ERR_INVALID: invalid argument". A static string. */
LL_API const char* ll_strerror(int status);
/** What the last failing call on this thread said was wrong, "" if none.
 * Per thread; valid until the next failing call on this thread. */
LL_API const char* ll_last_error(void);

/** The library's log lines (to stderr): "trace", "debug", "info" (the
 * default), "warn", "error", "critical" or "off". Call before making handles. */
LL_API int ll_set_log_level(const char* level);

/* ---- Events ------------------------------------------------------------ */
typedef struct ll_event ll_event;

enum {
  LL_EVENT_STATE = 1,    /**< client: its connection state changed */
  LL_EVENT_DATA = 2,     /**< DATA arrived (server: LL_FIELD_ID says from whom) */
  LL_EVENT_PRESENCE = 3, /**< a presence event: online, offline (with reason), takeover, gap, join, leave */
  LL_EVENT_LIST = 4,     /**< an online list: ll_event_count entries */
  LL_EVENT_OVERFLOW = 5  /**< the poll queue was full: LL_FIELD_COUNT events before the next were dropped */
};

/** Client connection states (LL_FIELD_STATE, ll_client_get_state). */
enum {
  LL_STATE_DISCONNECTED = 0, /**< not started */
  LL_STATE_CONNECTING = 1,   /**< first connection attempt(s) */
  LL_STATE_ONLINE = 2,       /**< handshake done, heartbeating */
  LL_STATE_RECONNECTING = 3, /**< lost the server; retrying with jittered backoff */
  LL_STATE_STOPPED = 4       /**< stopped, or ended by the server (a takeover, a refusal: see LL_FIELD_REASON) */
};

/** Fields of an event or of one list entry. Text fields are read with
 * ll_event_str (and ll_event_entry_str), numbers with ll_event_int; a field
 * the event does not have reads as "" or 0. */
enum {
  /* text */
  LL_FIELD_ID = 1,        /**< the client id (presence, server DATA, list entry) */
  LL_FIELD_REMOTE = 2,    /**< "host:port" of the client's connection */
  LL_FIELD_KIND = 3,      /**< presence: "online", "offline", "takeover", "gap"; on a cluster "moved", "resumed" */
  LL_FIELD_REASON = 4,    /**< offline: "bye", "timeout", ...; state: why the connection was lost or refused */
  LL_FIELD_SERVER = 5,    /**< state: the endpoint connected to, or lost */
  LL_FIELD_DATA = 6,      /**< DATA payload as text (ll_event_data for bytes with NULs) */
  LL_FIELD_LABELS = 7,    /**< list entry: "key=value" lines joined by '\n' */
  LL_FIELD_TRANSPORT = 8, /**< list entry (server): "tcp" or "tls" */
  LL_FIELD_INSTANCE = 9,  /**< the server run, 16 hex digits as text; as a number, its 64 bits */
  LL_FIELD_NODE = 10,     /**< cluster (docs/cluster.md), "" on a server alone: presence, list entry: the node
                               holding the session; list: the node that answered */
  /* numbers */
  LL_FIELD_STATE = 20,          /**< state: the new LL_STATE_*; ll_event_str gives its name */
  LL_FIELD_PREVIOUS_STATE = 21, /**< state: the old LL_STATE_* */
  LL_FIELD_SEQ = 22,            /**< presence: sequence number; list: the last event it reflects */
  LL_FIELD_SESSION = 23,        /**< presence, list entry (server): session number */
  LL_FIELD_AT_MS = 24,          /**< presence: when, ms since the Unix epoch */
  LL_FIELD_LAST_SEEN_MS = 25,   /**< presence (server), list entry: last byte received, ms since the epoch */
  LL_FIELD_SINCE_MS = 26,       /**< list entry: online since, ms since the epoch */
  LL_FIELD_RTT_US = 27,         /**< list entry: round-trip time, 0 until measured */
  LL_FIELD_INTERVAL_MS = 28,    /**< state (online), list entry: negotiated heartbeat interval */
  LL_FIELD_TIMEOUT_MS = 29,     /**< state (online), list entry: negotiated timeout */
  LL_FIELD_COUNT = 30,          /**< overflow: events dropped; list: entries */
  LL_FIELD_ONLINE = 31,         /**< list: clients online */
  LL_FIELD_REQUEST_ID = 32,     /**< list: the request id given to ll_client_request_list */
  LL_FIELD_ATTEMPTS = 33,       /**< state (online): connection attempts this outage took */
  LL_FIELD_DEGRADED = 34        /**< list: 1 while the answering cluster node cannot reach Redis (its own
                                     clients live, the others' as last seen); 0 when synced or alone */
};

/** The event's LL_EVENT_* type; 0 for NULL. */
LL_API int ll_event_type(const ll_event* event);
/** A text field; "" if absent or `event` is NULL. Lives as long as the event. */
LL_API const char* ll_event_str(const ll_event* event, int field);
/** A number field; 0 if absent or `event` is NULL. */
LL_API int64_t ll_event_int(const ll_event* event, int field);
/** DATA payload bytes and their length (which may include NULs); NULL and 0 if none. */
LL_API const char* ll_event_data(const ll_event* event, size_t* length);
/** Entries of an LL_EVENT_LIST, 0 for any other event. */
LL_API size_t ll_event_count(const ll_event* event);
/** Field of list entry `index` (ids sorted); "" / 0 if out of range. */
LL_API const char* ll_event_entry_str(const ll_event* event, size_t index, int field);
LL_API int64_t ll_event_entry_int(const ll_event* event, size_t index, int field);
/** Frees an event the caller owns (from a poll, ll_client_list, ll_server_online).
 * NULL is fine. Never free the event a callback was given. */
LL_API void ll_event_free(ll_event* event);

/** Callback style: runs on a library thread with the `user` pointer given. A
 * client's events come one at a time from its I/O thread; a server's presence
 * events one at a time from its event thread, and DATA from the I/O thread of
 * the sending client (with several server threads, DATA callbacks may
 * overlap). `event` lives only during the call. The callback must not block
 * and must not call ll_*_stop or ll_*_destroy on its handle. */
typedef void (*ll_event_fn)(const ll_event* event, void* user);

/** Name of an LL_STATE_*, "online"; "unknown" otherwise. A static string. */
LL_API const char* ll_state_name(int state);

/* ---- Client ------------------------------------------------------------ */
typedef struct ll_client ll_client;

/** A new client, not started. Free it with ll_client_destroy. */
LL_API int ll_client_new(ll_client** out);
/** Sets an option before start (or between stop and the next start). Keys:
 *   servers             "host:port[,host:port...]": endpoints, tried in turn (replaces)
 *   server              "host:port": one more endpoint
 *   id                  the client id ("" = the server assigns one)
 *   label               "key=value": one more label
 *   interval, timeout   the heartbeat proposed (the server's WELCOME decides)
 *   server_pings        bool: the server drives the heartbeat
 *   token, token_file   authentication token, or a file read before every attempt
 *   tls                 bool; tls_ca, tls_server_name, tls_verify_hostname, tls_cert, tls_key
 *   backoff_base, backoff_cap, backoff_factor   reconnect backoff (full jitter)
 *   connect_timeout     limit on each attempt
 *   max_data            largest DATA payload accepted, bytes
 *   tcp_keepalive       bool
 *   stop_when_refused   bool: stop instead of retrying a handshake the server refused for good
 *   queue_capacity      events the poll queue holds before it drops the oldest
 * LL_ERR_INVALID names the key or value at fault. */
LL_API int ll_client_set(ll_client* client, const char* key, const char* value);
/** Events to `fn` on the library's thread instead of the poll queue; NULL
 * goes back to polling. Before start only. */
LL_API int ll_client_set_callback(ll_client* client, ll_event_fn fn, void* user);
/** Checks the options and starts connecting on a thread of the client's own;
 * returns at once. A bad option (or TLS file) gives LL_ERR_INVALID. */
LL_API int ll_client_start(ll_client* client);
/** Sends BYE if online, stops reconnecting, and waits up to `timeout_ms` for
 * the BYE to be written. LL_ERR_STATE if not running (a second stop). */
LL_API int ll_client_stop(ll_client* client, int timeout_ms);
/** Stops (as ll_client_stop with 1000 ms) if running, then frees. NULL is fine. */
LL_API int ll_client_destroy(ll_client* client);
/** Queues DATA to the server. LL_ERR_STATE if not online (nothing is kept across outages). */
LL_API int ll_client_send(ll_client* client, const void* data, size_t length);
/** Asks for the online list; it arrives as an LL_EVENT_LIST with LL_FIELD_REQUEST_ID. */
LL_API int ll_client_request_list(ll_client* client, uint32_t request_id);
/** Asks for the online list and waits up to `timeout_ms` for all of it.
 * *out is the caller's (ll_event_free). Not from a callback. */
LL_API int ll_client_list(ll_client* client, int timeout_ms, ll_event** out);
/** Presence events from now on, as LL_EVENT_PRESENCE (after a reconnect it
 * resumes where it left off, or says "gap"). With `snapshot` nonzero the
 * online list comes first, as an LL_EVENT_LIST. Once, while running. */
LL_API int ll_client_subscribe(ll_client* client, int snapshot);
/** The current LL_STATE_*. */
LL_API int ll_client_get_state(ll_client* client, int* state);
/** The last round-trip time in microseconds, -1 until one was measured. */
LL_API int ll_client_get_rtt(ll_client* client, int64_t* rtt_us);
/** Why the last connection or attempt failed, "" if none (per thread, until the next call). */
LL_API const char* ll_client_error(ll_client* client);
/** The id in force (the assigned one if none was set), "" before the first
 * handshake (per thread, until the next call). */
LL_API const char* ll_client_id(ll_client* client);
/** The next queued event: LL_OK with *out set (the caller's: ll_event_free),
 * or LL_ERR_TIMEOUT after `timeout_ms` (0 = do not wait, -1 = wait for ever). */
LL_API int ll_client_poll(ll_client* client, int timeout_ms, ll_event** out);
/** A handle that is readable (Linux: an eventfd) or signalled (Windows: an
 * event HANDLE) while the poll queue holds an event. The library owns it;
 * only wait on it, then poll. */
LL_API int ll_client_wait_handle(ll_client* client, intptr_t* handle);

/* ---- Server ------------------------------------------------------------ */
typedef struct ll_server ll_server;

/** A new server, not started. Free it with ll_server_destroy. */
LL_API int ll_server_new(ll_server** out);
/** Sets an option before start. Keys:
 *   listen              "host:port[,host:port...]" (port 0 = a free one: ll_server_port)
 *   threads             I/O threads (0 = one per core)
 *   interval, timeout   the default heartbeat; min_interval, max_interval, min_timeout, max_timeout bound proposals
 *   tick                timing wheel resolution
 *   handshake_timeout   time a connection has to send HELLO
 *   duplicates          "takeover", "reject" or "multi" (an id may hold several sessions)
 *   max_sessions_per_id with "multi": sessions one id may hold (1..1000)
 *   ws_listen           "host:port[,...]": also accept WebSocket clients (browsers)
 *   ws_path             the path of WebSocket upgrades ("/lifeline")
 *   ws_allowed_origin   one more origin a browser may connect from, or "*"
 *   max_data, max_outbound, max_connections, max_connections_per_address
 *   event_buffer        presence events kept for readers that resume
 *   tcp_keepalive       bool
 *   auth_secret         one more token secret; auth_secrets_file a file of them
 *   tls_cert, tls_key, tls_client_ca
 *   cluster             "redis://host:port": be a node of a cluster (Linux; docs/cluster.md), with
 *   node_id             this node's name; cluster_password, cluster_lease, offline_grace,
 *                       cluster_required as `lifeline serve`'s options
 *   queue_capacity      events the poll queue holds before it drops the oldest
 * LL_ERR_INVALID names the key or value at fault. */
LL_API int ll_server_set(ll_server* server, const char* key, const char* value);
/** Events to `fn` on the library's thread instead of the poll queue. Before start only. */
LL_API int ll_server_set_callback(ll_server* server, ll_event_fn fn, void* user);
/** Binds and starts. LL_ERR_INVALID for a bad option, LL_ERR_SYSTEM for an address that cannot be bound. */
LL_API int ll_server_start(ll_server* server);
/** The port bound for listen address `index` (after start). */
LL_API int ll_server_port(ll_server* server, int index, int* port);
/** Says BYE (shutdown) to every client and stops. LL_ERR_STATE if not running. */
LL_API int ll_server_stop(ll_server* server);
/** Stops if running, then frees. NULL is fine. */
LL_API int ll_server_destroy(ll_server* server);
/** The online list now, as an LL_EVENT_LIST the caller owns (ll_event_free).
 * On a cluster node (option "cluster") it is the whole cluster's, as `lifeline ls`
 * shows it: each entry's LL_FIELD_NODE names its node, the list's names this one,
 * and LL_FIELD_DEGRADED says whether this node can reach Redis. */
LL_API int ll_server_online(ll_server* server, ll_event** out);
/** Closes a client's session (reason "kicked"). LL_ERR_NOT_FOUND if not online here
 * (the message names the node of a client online on another cluster node). */
LL_API int ll_server_kick(ll_server* server, const char* id);
/** Sends DATA to an online client. LL_ERR_NOT_FOUND as for ll_server_kick. */
LL_API int ll_server_send(ll_server* server, const char* id, const void* data, size_t length);
/** As ll_client_poll: presence events (on a cluster node the cluster's, as
 * `lifeline watch` shows them) and DATA from this server's clients. */
LL_API int ll_server_poll(ll_server* server, int timeout_ms, ll_event** out);
/** As ll_client_wait_handle. */
LL_API int ll_server_wait_handle(ll_server* server, intptr_t* handle);

#ifdef __cplusplus
}
#endif

#endif /* LIFELINE_H */
