/* A lifeline agent in C99 on the C ABI (lifeline.h), polling style.
 *
 *   agent HOST:PORT[,HOST:PORT...] ID
 *
 * Stays online with the server(s), reconnects by itself, says hello once
 * online, echoes every DATA back as "echo:<payload>", and says BYE and exits
 * on a DATA "quit". One line per event on stdout. */
#include <stdio.h>
#include <string.h>

#include "lifeline/lifeline.h"

static int check(int status, const char* what) {
  if (status != LL_OK) {
    fprintf(stderr, "%s: %s (%s)\n", what, ll_last_error(), ll_strerror(status));
  }
  return status;
}

static int handle(ll_client* client, const ll_event* ev) {
  switch (ll_event_type(ev)) {
    case LL_EVENT_STATE:
      printf("state %s %s %s\n", ll_event_str(ev, LL_FIELD_STATE), ll_event_str(ev, LL_FIELD_SERVER),
             ll_event_str(ev, LL_FIELD_REASON));
      if (ll_event_int(ev, LL_FIELD_STATE) == LL_STATE_ONLINE) {
        const char* hello = "hello from c";
        check(ll_client_send(client, hello, strlen(hello)), "send");
      }
      break;
    case LL_EVENT_DATA: {
      size_t n = 0;
      const char* data = ll_event_data(ev, &n);
      char reply[512];
      printf("data %.*s\n", (int)n, data);
      if (n == 4 && memcmp(data, "quit", 4) == 0) {
        return 1;
      }
      snprintf(reply, sizeof reply, "echo:%.*s", (int)(n < 400 ? n : 400), data);
      check(ll_client_send(client, reply, strlen(reply)), "send");
      break;
    }
    case LL_EVENT_OVERFLOW: printf("overflow %lld\n", (long long)ll_event_int(ev, LL_FIELD_COUNT)); break;
    default: break;
  }
  fflush(stdout);
  return 0;
}

int main(int argc, char** argv) {
  ll_client* client = NULL;
  int quit = 0;
  if (argc != 3) {
    fprintf(stderr, "usage: %s HOST:PORT[,HOST:PORT...] ID\n", argv[0]);
    return 2;
  }
  if (check(ll_client_new(&client), "new") != LL_OK) {
    return 1;
  }
  if (check(ll_client_set(client, "servers", argv[1]), "servers") != LL_OK ||
      check(ll_client_set(client, "id", argv[2]), "id") != LL_OK ||
      check(ll_client_set(client, "label", "lang=c"), "label") != LL_OK ||
      check(ll_client_set(client, "backoff_cap", "2s"), "backoff_cap") != LL_OK ||
      check(ll_client_start(client), "start") != LL_OK) {
    ll_client_destroy(client);
    return 1;
  }
  while (!quit) {
    ll_event* ev = NULL;
    const int status = ll_client_poll(client, 1000, &ev);
    if (status == LL_OK) {
      quit = handle(client, ev);
      ll_event_free(ev);
    } else if (status != LL_ERR_TIMEOUT) {
      check(status, "poll");
      break;
    }
  }
  check(ll_client_stop(client, 1000), "stop");
  printf("bye\n");
  ll_client_destroy(client);
  return 0;
}
