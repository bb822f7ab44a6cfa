// The command lines of iotw-trust-node and iotw-emu against docs/cli.md: --version, usage errors (exit 2)
// naming the argument, infrastructure failures (exit 3: a port already in use), spdlog lines on stderr.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <regex>

#include "iotw_process.hpp"

namespace iotw::test {
namespace {

/// "<name> X.Y.Z (git REV)\n" with nothing on stderr; returns the part after the name.
std::string expect_version(const std::string& exe, const std::string& name, const std::filesystem::path& dir) {
  const auto r = run_program(exe, {"--version"}, dir);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_TRUE(std::regex_match(r.out, std::regex(name + R"( [0-9]+\.[0-9]+\.[0-9]+ \(git [0-9A-Za-z.+_-]+\)\n)")))
      << r.out;
  return r.out.substr(std::min(r.out.size(), name.size()));
}

TEST(DaemonCli, VersionOnAllThreeBinariesIsTheSameBuild) {
  const auto dir = scratch_dir();
  const std::string iotw = expect_version(IOTW_EXE, "iotw", dir);
  EXPECT_EQ(expect_version(IOTW_TRUST_NODE_BIN, "iotw-trust-node", dir), iotw);  // no --config needed
  EXPECT_EQ(expect_version(IOTW_EMU_EXE, "iotw-emu", dir), iotw);
  std::filesystem::remove_all(dir);
}

TEST(DaemonCli, UnknownOptionsAreUsageErrorsNamingThem) {
  const auto dir = scratch_dir();
  const auto emu = run_program(IOTW_EMU_EXE, {"--bogus"}, dir);
  EXPECT_EQ(emu.code, 2);  // not CLI11's own 109
  EXPECT_NE(emu.err.find("iotw-emu: error: unknown option '--bogus'"), std::string::npos) << emu.err;
  const auto sub = run_program(IOTW_EMU_EXE, {"dps", "--modbus-tpc", "127.0.0.1:0"}, dir);
  EXPECT_EQ(sub.code, 2);
  EXPECT_NE(sub.err.find("unknown option '--modbus-tpc' for 'iotw-emu dps'"), std::string::npos) << sub.err;
  const auto model = run_program(IOTW_EMU_EXE, {"esp33"}, dir);
  EXPECT_EQ(model.code, 2);
  EXPECT_NE(model.err.find("unknown subcommand 'esp33' of 'iotw-emu'; expected one of: dps, bulb, "),
            std::string::npos)
      << model.err;
  const auto node = run_program(IOTW_TRUST_NODE_BIN, {"--config", "x.toml", "--bogus"}, dir);
  EXPECT_EQ(node.code, 2);
  EXPECT_NE(node.err.find("iotw-trust-node: error: unknown option '--bogus'"), std::string::npos) << node.err;
  const auto level = run_program(IOTW_TRUST_NODE_BIN, {"--config", "x.toml", "--log-level", "chatty"}, dir);
  EXPECT_EQ(level.code, 2);
  EXPECT_NE(level.err.find("--log-level"), std::string::npos) << level.err;
  std::filesystem::remove_all(dir);
}

TEST(DaemonCli, UnreadableConfigGivesTheOsReason) {
  const auto dir = scratch_dir();
  const std::string missing = (dir / "missing.toml").string();
  const auto node = run_program(IOTW_TRUST_NODE_BIN, {"--config", missing}, dir);
  EXPECT_EQ(node.code, 2);
  EXPECT_NE(node.err.find(missing + ": cannot read the config file: No such file or directory"), std::string::npos)
      << node.err;
  const auto emu = run_program(IOTW_EMU_EXE, {"--config", missing}, dir);
  EXPECT_EQ(emu.code, 2);
  EXPECT_NE(emu.err.find(missing + ": cannot read the pool file: No such file or directory"), std::string::npos)
      << emu.err;
  std::filesystem::remove_all(dir);
}

/// A loopback TCP port held (listening) for the object's lifetime.
struct HeldPort {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor{io, {boost::asio::ip::make_address("127.0.0.1"), 0}};
  int port() const { return acceptor.local_endpoint().port(); }
};

TEST(DaemonCli, APortInUseCouldNotRun) {
  const auto dir = scratch_dir();
  HeldPort held;
  const std::string at = "127.0.0.1:" + std::to_string(held.port());
  std::ofstream(dir / "tn.toml") << "[node]\ndb = \"l.sqlite\"\nseed = 1\nevents = \"events.jsonl\"\n[http]\nlisten = \""
                                 << at << "\"\n";
  const auto node = run_program(IOTW_TRUST_NODE_BIN, {"--config", (dir / "tn.toml").string()}, dir);
  EXPECT_EQ(node.code, 3) << node.err;
  EXPECT_NE(node.err.find("[iotw-trust-node] [critical] could not run: http: cannot bind " + at), std::string::npos)
      << node.err;

  const auto emu = run_program(IOTW_EMU_EXE, {"dps", "--modbus-tcp", at, "--nvs-dir", (dir / "nvs").string(),
                                              "--events", (dir / "emu.events").string()},
                               dir);
  EXPECT_EQ(emu.code, 3) << emu.err;
  EXPECT_NE(emu.err.find("[iotw-emu] [error] could not run: "), std::string::npos) << emu.err;
  EXPECT_NE(emu.err.find("cannot listen on " + at), std::string::npos) << emu.err;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace iotw::test
