#include "iotw/console/control_client.hpp"

#include <istream>
#include <stdexcept>
#include <string>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

namespace iotw::console {

namespace asio = boost::asio;

struct ControlClient::Impl {
  asio::io_context io;
  asio::local::stream_protocol::socket socket{io};
  asio::streambuf in;
};

ControlClient::ControlClient(const std::filesystem::path& path) : impl_(std::make_unique<Impl>()) {
  // A socket address holds 107 bytes of path: a longer path to harness.sock is followed to its link's target
  // (the harness then binds /tmp/iotw-harness-<hash>.sock, docs/console.md).
  std::filesystem::path target = path;
  std::error_code link_ec;
  if (path.string().size() > 107 && std::filesystem::is_symlink(path, link_ec)) target = std::filesystem::read_symlink(path, link_ec);
  boost::system::error_code ec;
  impl_->socket.connect(asio::local::stream_protocol::endpoint(target.string()), ec);
  if (ec) throw std::runtime_error(path.string() + ": " + ec.message());
}

ControlClient::~ControlClient() = default;

nlohmann::json ControlClient::request(const nlohmann::json& req) {
  boost::system::error_code ec;
  const std::string line = req.dump() + '\n';
  asio::write(impl_->socket, asio::buffer(line), ec);
  if (ec) throw std::runtime_error("harness.sock: " + ec.message());
  asio::read_until(impl_->socket, impl_->in, '\n', ec);
  if (ec) throw std::runtime_error("harness.sock: " + ec.message());
  std::istream stream(&impl_->in);
  std::string reply;
  std::getline(stream, reply);
  auto parsed = nlohmann::json::parse(reply, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) throw std::runtime_error("harness.sock: a reply that is not a JSON object");
  return parsed;
}

}  // namespace iotw::console
