// A program built against the installed lifeline package (tests/package/test_deb.sh):
// a server on a free loopback port and a client that comes online on it.
#include <chrono>
#include <cstdio>
#include <lifeline/client.hpp>
#include <lifeline/server.hpp>
#include <thread>

int main() {
  lifeline::ServerOptions so;
  so.listen = {"127.0.0.1:0"};
  so.threads = 1;
  lifeline::Server server(so);
  server.start();
  lifeline::ClientOptions co;
  co.servers = {"127.0.0.1:" + std::to_string(server.ports().at(0))};
  co.id = "consumer";
  lifeline::Client client(co);
  client.start();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (server.online_count() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling a condition with a deadline
  }
  const bool ok = server.online_count() == 1;
  client.stop();
  server.stop();
  std::printf("%s\n", ok ? "consumer online" : "consumer never came online");
  return ok ? 0 : 1;
}
