// The console's harness.sock client: a harness that accepts but never answers (stopped, wedged) gives an error
// within the reply timeout instead of freezing the screen; a real reply is returned.
#include "iotw/console/control_client.hpp"

#include <unistd.h>

#include <filesystem>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace iotw::console {
namespace {

namespace asio = boost::asio;
using ::testing::HasSubstr;

TEST(ControlClient, ASilentHarnessIsAnErrorNotAFreeze) {
  const auto path = std::filesystem::temp_directory_path() / ("iotw-cc-" + std::to_string(::getpid()) + ".sock");
  std::filesystem::remove(path);
  asio::io_context io;
  asio::local::stream_protocol::acceptor acceptor(io, asio::local::stream_protocol::endpoint(path.string()));
  ControlClient client(path, std::chrono::milliseconds(200));
  asio::local::stream_protocol::socket peer(io);
  acceptor.accept(peer);  // connected, and it never answers
  try {
    client.request({{"cmd", "status"}});
    ADD_FAILURE() << "a request to a silent harness returned";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("no reply within 200 ms"));
  }
  EXPECT_THROW(client.request({{"cmd", "status"}}), std::runtime_error) << "the connection is closed after a timeout";
  std::filesystem::remove(path);
}

TEST(ControlClient, AReplyIsReturned) {
  const auto path = std::filesystem::temp_directory_path() / ("iotw-cc2-" + std::to_string(::getpid()) + ".sock");
  std::filesystem::remove(path);
  asio::io_context io;
  asio::local::stream_protocol::acceptor acceptor(io, asio::local::stream_protocol::endpoint(path.string()));
  std::thread server([&] {
    asio::local::stream_protocol::socket peer(io);
    acceptor.accept(peer);
    asio::streambuf in;
    asio::read_until(peer, in, '\n');
    asio::write(peer, asio::buffer(std::string("{\"ok\":true,\"state\":\"holding\"}\n")));
  });
  ControlClient client(path, std::chrono::milliseconds(5000));
  const auto reply = client.request({{"cmd", "status"}});
  server.join();
  EXPECT_EQ(reply["state"], "holding");
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace iotw::console
