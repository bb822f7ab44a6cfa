#include "yeelight_server.hpp"

#include "common/ipv4_endpoint.hpp"

namespace iotw::emu {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;

struct YeelightServer::Client {
  explicit Client(tcp::socket s) : sock(std::move(s)) {}
  tcp::socket sock;
  asio::streambuf buf{1024};
};

YeelightServer::YeelightServer(asio::io_context& io, YeelightBulb& bulb, EventLog& log, std::string source,
                               std::function<void()> on_change)
    : io_(io), bulb_(bulb), log_(log), source_(std::move(source)), on_change_(std::move(on_change)) {}

std::string YeelightServer::listen(const std::string& host_port) {
  auto [host, port] = parse_host_port(host_port);
  acceptor_ = std::make_unique<tcp::acceptor>(io_, tcp::endpoint(asio::ip::make_address(host), port));
  const auto ep = acceptor_->local_endpoint();
  const std::string bound = host + ":" + std::to_string(ep.port());
  location_ = "yeelight://" + bound;
  accept_next();
  return bound;
}

std::string YeelightServer::serve_discovery(const std::string& host_port) {
  auto [host, port] = parse_host_port(host_port);
  udp_ = std::make_unique<udp::socket>(io_, udp::endpoint(asio::ip::make_address(host), port));
  receive_search();
  return host + ":" + std::to_string(udp_->local_endpoint().port());
}

void YeelightServer::stop() {
  boost::system::error_code ec;
  if (acceptor_) acceptor_->close(ec);
  if (udp_) udp_->close(ec);
  for (auto& c : clients_) c->sock.close(ec);
  clients_.clear();
}

void YeelightServer::accept_next() {
  acceptor_->async_accept([this](boost::system::error_code ec, tcp::socket s) {
    if (ec) return;  // closed
    if (clients_.size() >= kMaxClients) {
      log_.emit(source_, "yeelight_rejected", {{"reason", "too many connections"}});
      s.close(ec);
    } else {
      auto c = std::make_shared<Client>(std::move(s));
      clients_.push_back(c);
      read_next(c);
    }
    accept_next();
  });
}

void YeelightServer::read_next(const std::shared_ptr<Client>& c) {
  asio::async_read_until(c->sock, c->buf, "\r\n", [this, c](boost::system::error_code ec, size_t n) {
    if (ec) {  // closed by the peer, or a line longer than the buffer
      boost::system::error_code ignore;
      c->sock.close(ignore);
      clients_.remove(c);
      return;
    }
    std::string line(asio::buffers_begin(c->buf.data()), asio::buffers_begin(c->buf.data()) + n - 2);
    c->buf.consume(n);
    const auto reply = bulb_.handle(line);
    boost::system::error_code wec;
    asio::write(c->sock, asio::buffer(reply.line), wec);
    if (!reply.notification.empty()) {
      log_.emit(source_, "bulb_state", nlohmann::json::parse(reply.notification)["params"]);
      on_change_();
      broadcast(reply.notification);
    }
    read_next(c);
  });
}

void YeelightServer::broadcast(const std::string& line) {
  for (auto& c : clients_) {
    boost::system::error_code ec;
    asio::write(c->sock, asio::buffer(line), ec);
  }
}

void YeelightServer::receive_search() {
  udp_->async_receive_from(asio::buffer(dgram_), peer_, [this](boost::system::error_code ec, size_t n) {
    if (ec == asio::error::operation_aborted || !udp_ || !udp_->is_open()) return;
    if (!ec) {
      const std::string reply = bulb_.discovery_reply(std::string(dgram_.data(), n), location_);
      if (!reply.empty()) udp_->send_to(asio::buffer(reply), peer_, 0, ec);
    }
    receive_search();
  });
}

}  // namespace iotw::emu
