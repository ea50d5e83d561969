// LD_PRELOAD shim counting malloc calls; SIGUSR2 prints the count to stderr.
// Used to check that the heartbeat path allocates nothing (docs/benchmarks.md):
//   gcc -O2 -shared -fPIC -o /tmp/malloc_count.so bench/tools/malloc_count.c -ldl
//   LD_PRELOAD=/tmp/malloc_count.so lifeline serve ...; kill -USR2 PID (twice, seconds apart)
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>
static atomic_long n_malloc;
static void *(*real_malloc)(size_t);
void *malloc(size_t s) {
  if (!real_malloc) real_malloc = dlsym(RTLD_NEXT, "malloc");
  atomic_fetch_add(&n_malloc, 1);
  return real_malloc(s);
}
static void report(int sig) {
  (void)sig;
  char buf[64];
  int k = snprintf(buf, sizeof buf, "mallocs=%ld\n", atomic_load(&n_malloc));
  write(2, buf, k);
}
__attribute__((constructor)) static void init(void) { signal(SIGUSR2, report); }
