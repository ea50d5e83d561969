/* lifeline.dll under wine: a server and a client in one process through the C
 * ABI, with the client's events awaited on its waitable handle (an event
 * HANDLE) the way a Windows host folds lifeline into its own loop:
 * WaitForSingleObject, then ll_client_poll(0). The handle must be signalled
 * while an event is queued and reset once the queue is drained. Prints one
 * line per check; exit status 0 when all hold. */
#include <stdio.h>
#include <string.h>
#include <windows.h>

#include "lifeline/lifeline.h"

static int failures = 0;

static void check(int ok, const char* what) {
  printf("%s %s\n", ok ? "ok" : "FAIL", what);
  if (!ok) {
    failures++;
  }
}

/* Waits on the handle, then drains the queue; returns the last state event seen (or -1). */
static int drain(ll_client* client, HANDLE h, DWORD wait_ms) {
  int state = -1;
  ll_event* ev = NULL;
  if (WaitForSingleObject(h, wait_ms) != WAIT_OBJECT_0) {
    return -2;
  }
  while (ll_client_poll(client, 0, &ev) == LL_OK) {
    if (ll_event_type(ev) == LL_EVENT_STATE) {
      state = (int)ll_event_int(ev, LL_FIELD_STATE);
    }
    ll_event_free(ev);
  }
  return state;
}

int main(void) {
  ll_server* server = NULL;
  ll_client* client = NULL;
  intptr_t raw = 0;
  int port = 0;
  int state = -1;
  char addr[64];
  ll_event* list = NULL;
  int i;

  check(ll_server_new(&server) == LL_OK && ll_server_set(server, "listen", "127.0.0.1:0") == LL_OK &&
            ll_server_start(server) == LL_OK && ll_server_port(server, 0, &port) == LL_OK,
        "the server in lifeline.dll starts");
  snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
  check(ll_client_new(&client) == LL_OK && ll_client_set(client, "servers", addr) == LL_OK &&
            ll_client_set(client, "id", "wait-win") == LL_OK && ll_client_wait_handle(client, &raw) == LL_OK,
        "a client and its wait handle");
  check(WaitForSingleObject((HANDLE)raw, 0) == WAIT_TIMEOUT, "the handle is not signalled before start");
  check(ll_client_start(client) == LL_OK, "the client starts");
  for (i = 0; i < 20 && state != LL_STATE_ONLINE; i++) {
    state = drain(client, (HANDLE)raw, 1000);
  }
  check(state == LL_STATE_ONLINE, "online, seen through the wait handle");
  check(WaitForSingleObject((HANDLE)raw, 0) == WAIT_TIMEOUT, "the handle is reset once the queue is empty");
  check(ll_server_online(server, &list) == LL_OK && ll_event_count(list) == 1 &&
            strcmp(ll_event_entry_str(list, 0, LL_FIELD_ID), "wait-win") == 0,
        "the server lists the client");
  ll_event_free(list);
  check(ll_client_stop(client, 1000) == LL_OK, "the client says BYE");
  check(drain(client, (HANDLE)raw, 5000) == LL_STATE_STOPPED, "stopped, seen through the wait handle");
  check(ll_client_destroy(client) == LL_OK && ll_server_destroy(server) == LL_OK, "both destroyed");
  printf("%s\n", failures == 0 ? "PASS" : "FAILED");
  return failures == 0 ? 0 : 1;
}
