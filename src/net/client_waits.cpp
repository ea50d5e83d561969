// Waiting on the client with deadlines: list(timeout) and wait_online().
// Each pending wait is one timer plus a completion, on the client's I/O
// thread; the connection hands over the LIST_REPLY frames of these requests
// (take_list_reply) and the state changes complete or fail them (settle_waits).

#include <algorithm>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <memory>

#include "client_connection.hpp"
#include "client_impl.hpp"

namespace lifeline {
namespace asio = boost::asio;

namespace {
// Request ids of list(timeout): a range of their own, so that they never meet
// the ids an application passes to list(request_id) (and on_list()).
constexpr std::uint32_t kFirstWaitRequest = 0xF000'0000U;
}  // namespace

struct Client::Impl::PendingList {
  std::uint32_t request_id = 0;
  OnlineList list;
  asio::steady_timer timer;
  ListDone done;
};

struct Client::Impl::PendingOnline {
  asio::steady_timer timer;
  OnlineDone done;
};

void Client::list(std::chrono::milliseconds timeout, ListDone done) {
  if (state() != ClientState::online) {
    done(asio::error::not_connected, {});  // not started, or between connections: nothing to ask
    return;
  }
  asio::post(impl_->ex, [impl = impl_, timeout, done = std::move(done)]() mutable {
    if (!impl->current || !impl->current->online()) {
      done(asio::error::not_connected, {});
      return;
    }
    auto p = std::make_shared<Impl::PendingList>(
        Impl::PendingList{impl->next_wait_request, {}, asio::steady_timer(impl->ex), std::move(done)});
    impl->next_wait_request = impl->next_wait_request == 0xFFFF'FFFFU ? kFirstWaitRequest : impl->next_wait_request + 1;
    impl->pending_lists.push_back(p);
    p->timer.expires_after(timeout);
    // A weak reference: a pending wait must not keep the client alive.
    p->timer.async_wait([weak = std::weak_ptr<Impl>(impl), p](boost::system::error_code ec) {
      if (const auto self = weak.lock(); self && !ec) {
        self->finish_list(p, asio::error::timed_out);
      }
    });
    std::string frame;
    proto::encode_list(p->request_id, frame);
    impl->current->send(frame);
  });
}

void Client::wait_online(std::chrono::milliseconds timeout, OnlineDone done) {
  asio::post(impl_->ex, [impl = impl_, timeout, done = std::move(done)]() mutable {
    if (impl->current && impl->current->online()) {
      done({});
      return;
    }
    if (impl->state == ClientState::stopped) {
      done(asio::error::operation_aborted);
      return;
    }
    auto w = std::make_shared<Impl::PendingOnline>(Impl::PendingOnline{asio::steady_timer(impl->ex), std::move(done)});
    impl->online_waiters.push_back(w);
    w->timer.expires_after(timeout);
    w->timer.async_wait([weak = std::weak_ptr<Impl>(impl), w](boost::system::error_code ec) {
      if (const auto self = weak.lock(); self && !ec) {
        self->finish_online(w, asio::error::timed_out);
      }
    });
  });
}

bool Client::Impl::take_list_reply(const proto::ListReply& r) {
  for (const auto& p : pending_lists) {
    if (p->request_id == r.request_id) {
      p->list.entries.insert(p->list.entries.end(), r.entries.begin(), r.entries.end());
      p->list.online = r.online;
      p->list.seq = r.seq;
      p->list.instance = r.instance;
      p->list.node = r.node;
      p->list.degraded = r.degraded;
      if (r.last) {
        finish_list(p, {});
      }
      return true;
    }
  }
  return r.request_id >= kFirstWaitRequest;  // a late reply to a request that timed out: nobody's
}

void Client::Impl::finish_list(const std::shared_ptr<PendingList>& p, boost::system::error_code ec) {
  const auto it = std::find(pending_lists.begin(), pending_lists.end(), p);
  if (it == pending_lists.end()) {
    return;  // already completed
  }
  pending_lists.erase(it);
  p->timer.cancel();
  p->done(ec, ec ? OnlineList{} : std::move(p->list));
}

void Client::Impl::finish_online(const std::shared_ptr<PendingOnline>& w, boost::system::error_code ec) {
  const auto it = std::find(online_waiters.begin(), online_waiters.end(), w);
  if (it == online_waiters.end()) {
    return;
  }
  online_waiters.erase(it);
  w->timer.cancel();
  w->done(ec);
}

void Client::Impl::settle_waits(ClientState to) {
  if (to == ClientState::online) {
    for (auto waiters = online_waiters; const auto& w : waiters) {
      finish_online(w, {});
    }
  } else if (to == ClientState::reconnecting || to == ClientState::stopped) {
    // A LIST sent on the lost connection will never be answered.
    const auto ec = to == ClientState::stopped ? asio::error::operation_aborted : asio::error::connection_aborted;
    for (auto lists = pending_lists; const auto& p : lists) {
      finish_list(p, ec);
    }
  }
  if (to == ClientState::stopped) {
    for (auto waiters = online_waiters; const auto& w : waiters) {
      finish_online(w, asio::error::operation_aborted);
    }
  }
}

}  // namespace lifeline
