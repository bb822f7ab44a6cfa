#include "yeelight_server.hpp"

#include "common/ipv4_endpoint.hpp"

namespace iotw::emu {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;

YeelightServer::YeelightServer(asio::io_context& io, YeelightBulb& bulb, EventLog& log, std::string source,
                               std::function<void()> on_change)
    : io_(io), bulb_(bulb), log_(log), source_(std::move(source)), on_change_(std::move(on_change)) {}

std::string YeelightServer::listen(const std::string& host_port) {
  auto [host, port] = parse_host_port(host_port);
  tcp_ = std::make_unique<StreamServer<tcp>>(io_, kLimits, [this](StreamServer<tcp>::Connection& c) { on_data(c); });
  const auto ep = tcp_->listen(tcp::endpoint(asio::ip::make_address(host), port));
  const std::string bound = host + ":" + std::to_string(ep.port());
  location_ = "yeelight://" + bound;
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
  if (tcp_) tcp_->stop();
  if (udp_) udp_->close(ec);
}

// Every complete line is answered in order; a state change is notified to every client.
void YeelightServer::on_data(StreamServer<tcp>::Connection& c) {
  std::string& in = c.input();
  for (std::size_t eol; c.is_open() && (eol = in.find("\r\n")) != std::string::npos;) {
    const std::string line = in.substr(0, eol);
    in.erase(0, eol + 2);
    const auto reply = bulb_.handle(line);
    c.send(reply.line);
    if (!reply.notification.empty()) {
      log_.emit(source_, "bulb_state", nlohmann::json::parse(reply.notification)["params"]);
      on_change_();
      broadcast(reply.notification);
    }
  }
}

void YeelightServer::broadcast(const std::string& line) {
  tcp_->for_each([&](StreamServer<tcp>::Connection& c) { c.send(line); });
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
