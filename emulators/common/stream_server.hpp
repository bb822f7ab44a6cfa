// The pool's stream servers' transport (Modbus TCP, Yeelight control, the control socket; docs/emulators.md
// "Server limits"): one Boost.Asio acceptor and any number of connections, each with its own input buffer,
// output queue and deadline, all on the pool's single thread and never blocking it. A client is served as its
// bytes arrive, so a slow, silent or non-reading client holds only its own connection:
//   - input: every chunk read is appended to the connection's buffer and the protocol's handler is called; the
//     handler consumes whole messages from the front of input() and leaves a partial one there;
//   - a partial message must complete within Limits::partial_timeout, and input may hold at most
//     Limits::max_input bytes; otherwise the connection is closed;
//   - output: send() queues bytes and writes them asynchronously; what the handler sends while it handles one
//     read (e.g. the replies to several pipelined requests) goes out in one write after it returns; a client
//     with more than Limits::max_output bytes queued (it does not read) is closed;
//   - at Limits::max_connections, a new connection closes the one idle the longest (no bytes either way);
//   - accept errors for lack of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) back off 10 ms
//     doubling to 1 s instead of retrying at once.
#pragma once
#include <algorithm>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>

namespace iotw::emu {

/// Per-server limits (docs/emulators.md "Server limits").
struct StreamLimits {
  std::size_t max_connections = 64;  ///< open connections; one more closes the idlest
  std::size_t max_input = 4096;      ///< bytes of one unfinished message; more closes the connection
  std::size_t max_output = 65536;    ///< bytes queued to a client that does not read; more closes it
  std::chrono::milliseconds partial_timeout{10000};  ///< a started message must complete within this
};

template <class Protocol>
class StreamServer {
 public:
  class Connection : public std::enable_shared_from_this<Connection> {
   public:
    Connection(StreamServer& server, typename Protocol::socket s)
        : server_(server), sock_(std::move(s)), deadline_(sock_.get_executor()) {}
    /// Bytes received and not yet consumed by the handler.
    std::string& input() { return in_; }
    /// Queue bytes for the client (no-op once closed). Closes the connection past Limits::max_output. Inside the
    /// handler the write starts when it returns (one write for all its replies), elsewhere at once.
    void send(std::string_view bytes) {
      if (!open_) return;
      out_.append(bytes);
      if (out_.size() - written_ > server_.limits_.max_output) {
        server_.output_overflows_++;
        shut(false);
        return;
      }
      if (!in_handler_) flush();
    }
    /// Close once everything queued so far is written (e.g. after an error reply); reads stop now.
    void close_after_send() {
      closing_ = true;
      if (out_.empty()) close();
    }
    /// Close now. Inside the handler, what it sent before (replies to earlier requests of the same read) is
    /// written first as far as the socket takes it without waiting.
    void close() { shut(true); }
    bool is_open() const { return open_; }
    /// While held (the handler answers the current message later), new input is buffered, not handed over.
    void hold() { held_ = true; }
    /// Hand the buffered input to the handler again (once the held answer was sent).
    void release() {
      held_ = false;
      if (open_ && !closing_ && !in_.empty()) {
        handle();
        after_data();
      }
    }

   private:
    friend class StreamServer;
    void shut(bool deliver_queued) {
      if (!open_) return;
      if (deliver_queued && in_handler_ && !writing_ && written_ < out_.size()) {
        boost::system::error_code ec;
        sock_.non_blocking(true, ec);
        if (!ec) sock_.write_some(boost::asio::buffer(out_.data() + written_, out_.size() - written_), ec);
      }
      const auto keep = this->shared_from_this();  // forget() drops the server's reference
      open_ = false;
      boost::system::error_code ec;
      sock_.close(ec);
      deadline_.cancel();
      server_.forget(this);
    }
    void start() { read(); }
    void read() {
      if (!open_ || closing_) return;
      sock_.async_read_some(boost::asio::buffer(chunk_), [self = this->shared_from_this()](
                                                             boost::system::error_code ec, std::size_t n) {
        if (!self->open_ || self->closing_) return;
        if (ec) {
          self->close();
          return;
        }
        self->last_active_ = std::chrono::steady_clock::now();
        self->in_.append(self->chunk_.data(), n);
        const std::size_t before = self->in_.size();
        if (!self->held_) self->handle();
        if (self->in_.size() < before) self->partial_ = false;  // a message completed: the next one gets its own clock
        self->after_data();
        self->read();
      });
    }
    // The protocol's handler on the input; what it sends is written once it returns.
    void handle() {
      const bool outer = in_handler_;  // release() called from within the handler
      in_handler_ = true;
      server_.on_data_(*this);
      in_handler_ = outer;
      if (!outer) flush();
    }
    void after_data() {
      if (!open_ || closing_) return;
      if (in_.size() > server_.limits_.max_input) {
        server_.input_overflows_++;
        close();
        return;
      }
      arm_deadline();
    }
    // A partial message starts the clock; a consumed one stops it. Each clock has its own generation, so a wait
    // that already expired for an earlier message never closes the connection.
    void arm_deadline() {
      if (in_.empty() || held_) {
        if (partial_) deadline_.cancel();
        partial_ = false;
        return;
      }
      if (partial_) return;
      partial_ = true;
      const uint64_t generation = ++deadline_generation_;
      deadline_.expires_after(server_.limits_.partial_timeout);
      deadline_.async_wait([self = this->shared_from_this(), generation](boost::system::error_code ec) {
        if (ec || !self->partial_ || !self->open_ || generation != self->deadline_generation_) return;
        self->server_.timeouts_++;
        self->close();
      });
    }
    void flush() {
      if (writing_ || !open_ || written_ == out_.size()) return;
      writing_ = true;
      sock_.async_write_some(boost::asio::buffer(out_.data() + written_, out_.size() - written_),
                             [self = this->shared_from_this()](boost::system::error_code ec, std::size_t n) {
                               self->writing_ = false;
                               if (!self->open_) return;
                               if (ec) {
                                 self->close();
                                 return;
                               }
                               self->last_active_ = std::chrono::steady_clock::now();
                               self->written_ += n;
                               if (self->written_ == self->out_.size()) {
                                 self->out_.clear();
                                 self->written_ = 0;
                                 if (self->closing_) {
                                   self->close();
                                   return;
                                 }
                               }
                               self->flush();
                             });
    }

    StreamServer& server_;
    typename Protocol::socket sock_;
    boost::asio::steady_timer deadline_;
    std::array<char, 4096> chunk_{};
    std::string in_, out_;
    std::size_t written_ = 0;
    uint64_t deadline_generation_ = 0;
    bool open_ = true, closing_ = false, writing_ = false, partial_ = false, held_ = false, in_handler_ = false;
    std::chrono::steady_clock::time_point last_active_ = std::chrono::steady_clock::now();
  };

  /// on_data runs on the io_context's thread after every read, with the connection whose input grew.
  /// on_open (optional) runs for every accepted connection before its first read.
  StreamServer(boost::asio::io_context& io, StreamLimits limits, std::function<void(Connection&)> on_data,
               std::function<void(Connection&)> on_open = {})
      : io_(io), limits_(limits), on_data_(std::move(on_data)), on_open_(std::move(on_open)), acceptor_(io),
        backoff_timer_(io) {}
  ~StreamServer() { stop(); }
  StreamServer(const StreamServer&) = delete;
  StreamServer& operator=(const StreamServer&) = delete;

  /// Open, bind and listen on ep, then accept. Returns the bound endpoint. Throws boost::system::system_error.
  typename Protocol::endpoint listen(const typename Protocol::endpoint& ep, bool reuse_address = true) {
    acceptor_.open(ep.protocol());
    if (reuse_address) acceptor_.set_option(boost::asio::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen(boost::asio::socket_base::max_listen_connections);
    running_ = true;
    accept();
    return acceptor_.local_endpoint();
  }
  /// Close the acceptor and every connection.
  void stop() {
    running_ = false;
    boost::system::error_code ec;
    acceptor_.close(ec);
    backoff_timer_.cancel();
    auto conns = conns_;
    for (auto& c : conns) c->close();
    conns_.clear();
  }
  /// Apply f to every open connection (e.g. a broadcast).
  void for_each(const std::function<void(Connection&)>& f) {
    auto conns = conns_;
    for (auto& c : conns)
      if (c->is_open()) f(*c);
  }
  const StreamLimits& limits() const { return limits_; }
  std::size_t connections() const { return conns_.size(); }
  // Counters since start: connections closed for each limit, and accept back-offs.
  uint64_t evictions() const { return evictions_; }
  uint64_t timeouts() const { return timeouts_; }
  uint64_t input_overflows() const { return input_overflows_; }
  uint64_t output_overflows() const { return output_overflows_; }
  uint64_t accept_backoffs() const { return accept_backoffs_; }

 private:
  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, typename Protocol::socket s) {
      if (!running_ || ec == boost::asio::error::operation_aborted) return;
      if (ec) {
        const int e = ec.value();
        if (ec == boost::asio::error::no_descriptors || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
          accept_backoffs_++;
          backoff_ = std::min(backoff_ == std::chrono::milliseconds(0) ? std::chrono::milliseconds(10) : backoff_ * 2,
                              std::chrono::milliseconds(1000));
          backoff_timer_.expires_after(backoff_);
          backoff_timer_.async_wait([this](boost::system::error_code tec) {
            if (!tec && running_) accept();
          });
          return;
        }
        accept();  // e.g. the peer reset before accept: the next one
        return;
      }
      backoff_ = std::chrono::milliseconds(0);
      if (conns_.size() >= limits_.max_connections) {
        auto idlest = std::min_element(conns_.begin(), conns_.end(), [](const auto& a, const auto& b) {
          return a->last_active_ < b->last_active_;
        });
        evictions_++;
        (*idlest)->close();
      }
      auto c = std::make_shared<Connection>(*this, std::move(s));
      conns_.push_back(c);
      if (on_open_) on_open_(*c);
      c->start();
      accept();
    });
  }
  void forget(Connection* c) {
    conns_.remove_if([c](const std::shared_ptr<Connection>& p) { return p.get() == c; });
  }

  boost::asio::io_context& io_;
  StreamLimits limits_;
  std::function<void(Connection&)> on_data_, on_open_;
  typename Protocol::acceptor acceptor_;
  boost::asio::steady_timer backoff_timer_;
  std::chrono::milliseconds backoff_{0};
  std::list<std::shared_ptr<Connection>> conns_;
  bool running_ = false;
  uint64_t evictions_ = 0, timeouts_ = 0, input_overflows_ = 0, output_overflows_ = 0, accept_backoffs_ = 0;
};

}  // namespace iotw::emu
