#include "iotw/trust_node/http_server.hpp"

#include <array>
#include <chrono>
#include <optional>
#include <vector>

#include <boost/beast/core.hpp>
#include <nlohmann/json.hpp>

namespace iotw::tn {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

std::string error_body(std::string_view what) {
  return nlohmann::json{{"error", what}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/** Unread input drained after an error answer (so the peer reads the answer rather than a reset): bounded. */
constexpr size_t kDrainBytes = 1 << 20;
constexpr auto kDrainTime = std::chrono::seconds(2);
/** Read buffer capacity of a connection while it receives a body larger than 4 KiB. */
constexpr size_t kBodyReadBytes = 64 * 1024;

}  // namespace

class HttpServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(HttpServer &server, asio::ip::tcp::socket sock)
      : server_(server), shared_(server.shared_), stream_(std::move(sock)) {
    shared_->sessions.insert(this);
  }
  // Touches only the shared registry: a session may outlive the server inside the io_context's queue.
  ~Session() { shared_->sessions.erase(this); }

  void start() { read_header(); }

  /** Server stop: close now if waiting for input, else after the answer in progress. */
  void stop() {
    stopping_ = true;
    if (!busy_) close();
  }

 private:
  void read_header() {
    if (stopping_) return close();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_.limits_.max_header_bytes));
    parser_->body_limit(server_.limits_.max_body_bytes);
    stream_.expires_after(std::chrono::milliseconds(server_.limits_.header_timeout_ms));
    http::async_read_header(stream_, buf_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec) return read_failed(ec);
    const Request &req = parser_->get();
    const size_t limit = std::min(server_.body_limit_(req.target()), server_.limits_.max_body_bytes);
    const auto encoding = req.find(http::field::content_encoding);
    if (encoding != req.end() && !beast::iequals(encoding->value(), "identity"))
      return fail(415, "compressed request bodies are not accepted (Content-Encoding must be identity)");
    if (req.method() == http::verb::post && !parser_->chunked() && !parser_->content_length())
      return fail(411, "a POST needs Content-Length or Transfer-Encoding: chunked");
    if (parser_->content_length() && *parser_->content_length() > limit)
      return fail(413, "body larger than " + std::to_string(limit) + " bytes");
    parser_->body_limit(limit);  // no body octet parsed yet: also bounds a chunked body
    // Beast reads at most the buffer's free capacity (at least 512 bytes): room for large reads while a body
    // comes, so a 100 KB batch is a few reads, not two hundred. Bounded by kBodyReadBytes per connection.
    if (buf_.capacity() < kBodyReadBytes && (parser_->chunked() || parser_->content_length().value_or(0) > 4096))
      buf_.reserve(kBodyReadBytes);
    if (beast::iequals(req[http::field::expect], "100-continue") && !parser_->is_done()) {
      static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
      stream_.expires_after(std::chrono::milliseconds(server_.limits_.body_timeout_ms));
      return asio::async_write(stream_, asio::buffer(cont.data(), cont.size()),
                               [self = shared_from_this()](beast::error_code e, size_t) {
                                 if (e) return self->read_failed(e);
                                 if (self->stopping_) return self->close();
                                 self->read_body();
                               });
    }
    read_body();
  }

  void read_body() {
    stream_.expires_after(std::chrono::milliseconds(server_.limits_.body_timeout_ms));
    http::async_read(stream_, buf_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_body(ec); });
  }

  void on_body(beast::error_code ec) {
    if (ec) return read_failed(ec);
    Request req = parser_->release();
    parser_.reset();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    busy_ = true;
    stream_.expires_never();  // the handler may take its time (a group commit); the peer is not waited for
    auto self = shared_from_this();
    server_.handler_(std::move(req), [self](unsigned status, std::string body, std::string_view type) {
      asio::post(self->stream_.get_executor(), [self, status, body = std::move(body), type = std::string(type)]() mutable {
        self->answer(status, std::move(body), type, false);
      });
    });
  }

  /** A read ended in an error: time-outs and closed connections end quietly, malformed requests get an answer. */
  void read_failed(beast::error_code ec) {
    if (ec == beast::error::timeout) {
      ++server_.shared_->stats.timeouts;
      return close();
    }
    if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset || ec == asio::error::bad_descriptor || stopping_)
      return close();
    if (ec == http::error::header_limit)
      return fail(431, "request header larger than " + std::to_string(server_.limits_.max_header_bytes) + " bytes");
    if (ec == http::error::body_limit)
      return fail(413, "body larger than " +
                           std::to_string(parser_ && parser_->is_header_done()
                                              ? std::min(server_.body_limit_(parser_->get().target()),
                                                         server_.limits_.max_body_bytes)
                                              : server_.limits_.max_body_bytes) +
                           " bytes");
    if (ec.category() == beast::error_code(http::error::bad_method).category()) return fail(400, "malformed HTTP request: " + ec.message());
    close();  // a socket error
  }

  /** An error answered by the server itself; the connection is closed after it. */
  void fail(unsigned status, const std::string &what) {
    ++server_.shared_->stats.rejected;
    if (parser_ && parser_->is_header_done()) version_ = parser_->get().version();
    answer(status, error_body(what), "application/json", true);
  }

  void answer(unsigned status, std::string body, std::string_view type, bool close_after) {
    busy_ = true;
    if (close_after) keep_alive_ = false;
    res_.emplace(static_cast<http::status>(status), version_ ? version_ : 11);
    res_->set(http::field::content_type, type);
    res_->keep_alive(keep_alive_ && !stopping_);
    res_->body() = std::move(body);
    res_->prepare_payload();
    stream_.expires_after(std::chrono::milliseconds(server_.limits_.body_timeout_ms));
    http::async_write(stream_, *res_, [self = shared_from_this(), close_after](beast::error_code ec, size_t) {
      self->busy_ = false;
      self->res_.reset();
      if (ec) {
        if (ec == beast::error::timeout) ++self->server_.shared_->stats.timeouts;
        return self->close();
      }
      if (close_after) return self->linger();
      if (!self->keep_alive_ || self->stopping_) return self->close();
      self->read_header();
    });
  }

  /** After an error answer: stop sending, read and drop what the peer still sends (bounded), then close. */
  void linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kDrainTime);
    drain();
  }
  void drain() {
    stream_.async_read_some(asio::buffer(sink_), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ >= kDrainBytes) return self->close();
      self->drain();
    });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  HttpServer &server_;
  std::shared_ptr<Shared> shared_;
  beast::tcp_stream stream_;
  beast::flat_buffer buf_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> res_;
  std::array<char, 4096> sink_{};
  size_t drained_ = 0;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool busy_ = false;      ///< a request is being handled or answered
  bool stopping_ = false;
};

HttpServer::HttpServer(asio::io_context &io, const ListenConfig &listen, const HttpLimits &limits, Handler handler,
                       BodyLimit body_limit)
    : io_(io), limits_(limits), handler_(std::move(handler)), body_limit_(std::move(body_limit)), acceptor_(io),
      retry_(io) {
  try {
    const asio::ip::tcp::endpoint ep(
        asio::ip::make_address(listen.host == "localhost" ? std::string("127.0.0.1") : listen.host), listen.port);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  } catch (const boost::system::system_error &e) {  // docs/cli.md: exit 3 with the address and the OS's reason
    throw std::runtime_error("http: cannot bind " + listen.host + ":" + std::to_string(listen.port) + ": " +
                             e.code().message());
  }
  port_ = acceptor_.local_endpoint().port();
}

HttpServer::~HttpServer() { stop(); }

HttpServer::Stats HttpServer::stats() const {
  Stats s = shared_->stats;
  s.connections = shared_->sessions.size();
  return s;
}

void HttpServer::accept() {
  acceptor_.async_accept([this](beast::error_code ec, asio::ip::tcp::socket sock) {
    if (stopped_ || ec == asio::error::operation_aborted) return;
    if (ec) {  // EMFILE and the like: try again shortly instead of spinning
      retry_.expires_after(std::chrono::milliseconds(100));
      retry_.async_wait([this](beast::error_code e) {
        if (!e && !stopped_) accept();
      });
      return;
    }
    beast::error_code ignored;
    sock.set_option(asio::ip::tcp::no_delay(true), ignored);
    if (shared_->sessions.size() >= limits_.max_connections) {
      refuse(sock);
    } else {
      std::make_shared<Session>(*this, std::move(sock))->start();
    }
    accept();
  });
}

void HttpServer::refuse(asio::ip::tcp::socket &sock) {
  ++shared_->stats.refused;
  static const std::string answer = [] {
    const std::string body = error_body("too many connections");
    return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  }();
  // A fresh socket's send buffer holds this small answer: one non-blocking write, then close.
  beast::error_code ignored;
  sock.non_blocking(true, ignored);
  sock.write_some(asio::buffer(answer), ignored);
  sock.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  sock.close(ignored);
}

void HttpServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  beast::error_code ignored;
  retry_.cancel();
  acceptor_.close(ignored);
  const std::vector<Session *> open(shared_->sessions.begin(), shared_->sessions.end());
  for (Session *s : open) s->stop();
}

}  // namespace iotw::tn
