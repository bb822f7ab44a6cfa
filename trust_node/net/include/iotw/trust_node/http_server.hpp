// The trust node's HTTP/1.1 front (docs/trust-node.md "HTTP limits"): Boost.Beast, asynchronous, on the node's
// io_context thread. It reads, bounds and answers requests; what a request means is the Handler's business.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>

#include <boost/asio.hpp>
#include <boost/beast/http.hpp>

#include "iotw/trust_node/config.hpp"

namespace iotw::tn {

/** One listening socket and its connections. Per connection, requests are read one at a time and each is
 *  answered before the next is read, so pipelined requests are answered in order. The server itself answers,
 *  and then closes the connection:
 *  - 400 malformed HTTP (request line, header, Content-Length, chunking), 431 header over max_header_bytes,
 *  - 411 a POST with neither Content-Length nor chunked Transfer-Encoding (its body length is unknowable),
 *  - 413 a body over body_limit(target) (checked against Content-Length before reading, and while reading a
 *    chunked body), 415 a body with a Content-Encoding other than identity (compressed bodies are refused,
 *    never inflated), 503 a connection over max_connections (answered at once, nothing read).
 *  A header not complete within header_timeout_ms (also the keep-alive idle time), or a body or answer not
 *  transferred within body_timeout_ms, closes the connection without an answer (counted in timeouts). Every
 *  error answer is a JSON object {"error": "..."}. After an error answer the connection's unread input is
 *  drained for a bounded time and size before closing, so that the client can read the answer. */
class HttpServer {
 public:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  /** Answers the request once: HTTP status, body, Content-Type. Callable from any thread; the answer is written
   *  on the io thread. */
  using Respond = std::function<void(unsigned status, std::string body, std::string_view content_type)>;
  /** Called on the io thread with every complete request that passed the limits. */
  using Handler = std::function<void(Request &&req, Respond respond)>;
  /** The body limit in bytes of a request for target (the request-target, path and query), at most
   *  HttpLimits::max_body_bytes. */
  using BodyLimit = std::function<size_t(std::string_view target)>;

  struct Stats {
    size_t connections = 0;       ///< open now
    uint64_t refused = 0;         ///< connections answered 503 (over max_connections)
    uint64_t rejected = 0;        ///< requests answered by the server itself with a 4xx
    uint64_t timeouts = 0;        ///< connections closed by a header, body or write deadline
  };

  /** Binds and listens (throws boost::system::system_error). */
  HttpServer(boost::asio::io_context &io, const ListenConfig &listen, const HttpLimits &limits, Handler handler,
             BodyLimit body_limit);
  ~HttpServer();
  HttpServer(const HttpServer &) = delete;
  HttpServer &operator=(const HttpServer &) = delete;

  uint16_t port() const { return port_; }
  void start() { accept(); }
  /** Stops accepting; idle connections are closed now, a connection whose request is being handled is closed
   *  once its answer is written. */
  void stop();
  Stats stats() const;

 private:
  class Session;
  friend class Session;
  void accept();
  void refuse(boost::asio::ip::tcp::socket &sock);

  boost::asio::io_context &io_;
  HttpLimits limits_;
  Handler handler_;
  BodyLimit body_limit_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_;  ///< accept errors (EMFILE, ...): accept again 100 ms later
  uint16_t port_ = 0;
  bool stopped_ = false;
  struct Shared {
    std::unordered_set<Session *> sessions;
    Stats stats;
  };
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
};

}  // namespace iotw::tn
