#include "helpers.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <cstdlib>

#include "bytes.hpp"
#include "lifeline/log.hpp"
#include "lifeline/protocol.hpp"

namespace lifeline::test {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
// Quiet by default (the tests provoke many closes); LIFELINE_TEST_LOG=debug shows them.
class QuietLogs : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* level = std::getenv("LIFELINE_TEST_LOG");
    configure_logging(LogFormat::text, level != nullptr ? level : "error");
  }
};
[[maybe_unused]] auto* const quiet_logs = ::testing::AddGlobalTestEnvironment(new QuietLogs);
}  // namespace

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds deadline) {
  const auto end = Clock::now() + deadline;
  for (;;) {
    if (pred()) {
      return true;
    }
    if (Clock::now() >= end) {
      return false;
    }
    std::this_thread::sleep_for(1ms);  // polling interval, not synchronization
  }
}

ServerOptions fast_server_options(unsigned threads) {
  ServerOptions o;
  o.listen = {"127.0.0.1:0"};
  o.threads = threads;
  o.heartbeat.min_interval = 20ms;
  o.heartbeat.min_timeout = 60ms;
  o.heartbeat.default_interval = 50ms;
  o.heartbeat.default_timeout = 300ms;
  o.tick = 5ms;
  o.handshake_timeout = 2000ms;
  return o;
}

std::string local(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

ClientOptions fast_client_options(std::uint16_t port, std::string id) {
  ClientOptions o;
  o.servers = {local(port)};
  o.id = std::move(id);
  o.interval = 50ms;
  o.timeout = 300ms;
  o.backoff = BackoffPolicy{20ms, 100ms, 2.0};
  o.connect_timeout = 1000ms;
  return o;
}

std::uint16_t closed_port() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = a.local_endpoint().port();
  a.close();
  return port;
}

void ClientProbe::attach(Client& c) {
  c.on_state([this](const StateChange& s) {
    times.push({s.to, Clock::now()});  // first: a change seen in `states` has its time
    states.push(s);
  });
  c.on_data([this](std::string_view p) { data.push(std::string(p)); });
}

struct RawServer::Conn : std::enable_shared_from_this<RawServer::Conn> {
  Conn(tcp::socket s, RawServer& o) : socket(std::move(s)), owner(o) {}
  tcp::socket socket;
  RawServer& owner;
  std::array<std::uint8_t, 5> header{};
  std::string body;
  std::string out;
  std::array<char, 4096> sink{};

  void read_hello() {
    asio::async_read(socket, asio::buffer(header), [self = shared_from_this()](auto ec, std::size_t) {
      if (ec) {
        return;
      }
      const auto len = proto::read_u32(proto::Bytes(self->header.data(), 4));
      self->body.resize(len);
      asio::async_read(self->socket, asio::buffer(self->body), [self](auto ec2, std::size_t) {
        if (ec2 || self->header[4] != static_cast<std::uint8_t>(proto::FrameType::hello)) {
          return;
        }
        proto::ParseError err;
        const auto hello = proto::parse_hello(
            proto::Bytes(reinterpret_cast<const std::uint8_t*>(self->body.data()), self->body.size()), err);
        if (!hello) {
          return;
        }
        self->owner.hellos_++;
        if (self->owner.mode_ == Mode::version1_only && hello->version != 1) {
          proto::encode(
              proto::Error{proto::ErrorCode::unsupported_version, "protocol version " + std::to_string(hello->version) +
                                                                      " is not supported (this server speaks 1)"},
              self->out);
          asio::async_write(self->socket, asio::buffer(self->out), [self](auto, std::size_t) {
            boost::system::error_code ignored;
            self->socket.close(ignored);
          });
          return;
        }
        proto::Welcome w;
        w.version = self->owner.mode_ == Mode::version1_only ? 1 : hello->version;
        w.interval = self->owner.welcome_.interval;
        w.timeout = self->owner.welcome_.timeout;
        w.session = 1;
        w.id = hello->id.empty() ? "anon-raw" : hello->id;
        proto::encode(w, self->out);
        asio::async_write(self->socket, asio::buffer(self->out), [self](auto ec3, std::size_t) {
          if (!ec3) {
            self->discard();
          }
        });
      });
    });
  }
  // Reads and drops everything (the client's PINGs) without ever answering.
  void discard() {
    socket.async_read_some(asio::buffer(sink), [self = shared_from_this()](auto ec, std::size_t) {
      if (!ec) {
        self->discard();
      }
    });
  }
};

RawServer::RawServer(Mode mode, std::uint16_t port, Welcome welcome) : mode_(mode), welcome_(welcome), acceptor_(io_) {
  const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
  acceptor_.open(ep.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen();
  port_ = acceptor_.local_endpoint().port();
  accept_next();
  thread_ = std::thread([this] { io_.run(); });
}

RawServer::~RawServer() {
  try {
    close();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "closing the raw server failed: " << e.what();  // a destructor must not throw
  }
}

void RawServer::accept_next() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket s) {
    if (ec) {
      return;
    }
    ++accepted_;
    on_accepted(std::move(s));
    accept_next();
  });
}

void RawServer::on_accepted(tcp::socket socket) {
  switch (mode_) {
    case Mode::close_at_once: {
      boost::system::error_code ec;
      socket.close(ec);
      return;
    }
    case Mode::hold: conns_.push_back(std::make_shared<Conn>(std::move(socket), *this)); return;
    case Mode::welcome_then_silent:
    case Mode::version1_only: {
      auto c = std::make_shared<Conn>(std::move(socket), *this);
      conns_.push_back(c);
      c->read_hello();
      return;
    }
  }
}

void RawServer::close() {
  if (!thread_.joinable()) {
    return;
  }
  asio::post(io_, [this] {
    boost::system::error_code ec;
    acceptor_.close(ec);
    for (auto& c : conns_) {
      c->socket.close(ec);
    }
    conns_.clear();
    io_.stop();
  });
  thread_.join();
}

}  // namespace lifeline::test
