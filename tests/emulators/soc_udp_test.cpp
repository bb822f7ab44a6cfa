// SoC modules over UDP (docs/emulators.md "SoC modules over UDP"): the pool entry, and a few hundred devices of
// one pool attaching to a trust-node double over their own sockets (issue 17: a pool of 10,000 such devices).
#include <gtest/gtest.h>
#include <sodium.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include "clock.hpp"
#include "device_factory.hpp"
#include "esp_wifi/soc_module.hpp"
#include "pool_config.hpp"
#include "pool_config_error.hpp"

extern "C" {
#include "iotw/firmware.h"
#include "iotw/frame_codec.h"
#include "iotw/message_codec.h"
#include "iotw/signing.h"
}

using namespace iotw::emu;
namespace ip = boost::asio::ip;

namespace {

std::filesystem::path temp_dir(const std::string& tag) {
  auto dir = std::filesystem::temp_directory_path() / ("iotw-soc-udp-" + tag + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::string load_error(const std::filesystem::path& file, const std::string& text) {
  return test::pool_config_error(file, text);
}

}  // namespace

TEST(SocUdp, APoolEntryWithTrustNodeUdpIsASocModuleOnADatagramLink) {
  const auto dir = temp_dir("cfg");
  const auto file = dir / "pool.toml";
  std::ofstream(file) << "[[device]]\nname = \"m1\"\nmodel = \"esp32\"\ntrust_node_udp = \"127.0.0.1:40123\"\n"
                         "nvs_dir = \"nvs/m1\"\n";
  const PoolConfig cfg = load_pool_config(file);
  ASSERT_EQ(cfg.devices.size(), 1u);
  EXPECT_EQ(cfg.devices[0].trust_node_udp, "127.0.0.1:40123");
  EXPECT_TRUE(cfg.devices[0].link.empty());
  EXPECT_EQ(device_kind(cfg.devices[0]), DeviceKind::soc_module);

  const std::string both = load_error(file, "[[device]]\nname = \"m1\"\nmodel = \"esp32\"\nlink = \"/dev/pts/9\"\n"
                                            "trust_node_udp = \"127.0.0.1:40123\"\nnvs_dir = \"n\"\n");
  EXPECT_NE(both.find("pool.toml:4:"), std::string::npos) << both;  // at `link`
  EXPECT_NE(both.find("exclude each other"), std::string::npos) << both;
  const std::string dps = load_error(file, "[[device]]\nname = \"d1\"\nmodel = \"dps\"\n"
                                           "trust_node_udp = \"127.0.0.1:40123\"\nnvs_dir = \"n\"\n");
  EXPECT_NE(dps.find("pool.toml:4:"), std::string::npos) << dps;
  EXPECT_NE(dps.find("not to model 'dps'"), std::string::npos) << dps;
  const std::string port0 = load_error(file, "[[device]]\nname = \"m1\"\nmodel = \"esp8266\"\n"
                                             "trust_node_udp = \"127.0.0.1:0\"\nnvs_dir = \"n\"\n");
  EXPECT_NE(port0.find("port must be 1..65535"), std::string::npos) << port0;
  std::ofstream(file) << "start_spread_ms = 50000\n[[device]]\nname = \"m1\"\nmodel = \"esp32\"\n"
                         "trust_node_udp = \"127.0.0.1:40123\"\nnvs_dir = \"n\"\n";
  EXPECT_EQ(load_pool_config(file).start_spread_ms, 50000u);
  const std::string spread = load_error(file, "start_spread_ms = 600001\n[[device]]\nname = \"m1\"\nmodel = \"esp32\"\n"
                                              "trust_node_udp = \"127.0.0.1:40123\"\nnvs_dir = \"n\"\n");
  EXPECT_NE(spread.find("pool.toml:1:"), std::string::npos) << spread;
  const std::string tcp = load_error(file, "[[device]]\nname = \"m1\"\nmodel = \"esp8266\"\n"
                                           "trust_node_tcp = \"127.0.0.1:5\"\nnvs_dir = \"n\"\n");
  EXPECT_NE(tcp.find("applies only to mode = \"at\""), std::string::npos) << tcp;
  std::filesystem::remove_all(dir);
}

// 300 devices of one pool, each with its own key and its own UDP socket, register with a trust-node double (Hello,
// Challenge, Prove checked against the Hello's key, Welcome) and then heartbeat: every one attaches, none is heard
// on another's socket, and every Prove verifies (the pool's one receive buffer never hands a device another's bytes).
TEST(SocUdp, HundredsOfDevicesOfOnePoolAttachOverTheirOwnSockets) {
  ASSERT_GE(sodium_init(), 0);
  constexpr int kDevices = 300;
  const auto dir = temp_dir("pool");
  boost::asio::io_context io;
  ip::udp::socket node(io, ip::udp::endpoint(ip::make_address_v4("127.0.0.1"), 0));
  EventLog log((dir / "events.jsonl").string());
  iotw::SteadyClock clock;
  PoolContext pool{io, log, clock, AccessPoint{}, "", ""};
  std::vector<std::unique_ptr<Device>> devices;
  for (int i = 0; i < kDevices; i++) {
    DeviceSpec spec;
    spec.name = "m" + std::to_string(i);
    spec.model = i % 2 ? "esp32" : "esp8266";
    spec.trust_node_udp = "127.0.0.1:" + std::to_string(node.local_endpoint().port());
    spec.nvs_dir = (dir / spec.name).string();
    devices.push_back(make_device(spec, pool));
    ASSERT_EQ(devices.back()->kind(), DeviceKind::soc_module);
  }
  for (auto& d : devices) d->start();

  struct Peer {
    std::string name;
    uint8_t pubkey[32];
    uint8_t nonce[32];
    bool challenged = false, welcomed = false;
    int heartbeats = 0;
  };
  std::map<uint16_t, Peer> peers;  // by the device's source port
  std::set<std::string> bad;
  auto send = [&](const iotw_v1_Envelope& env, const ip::udp::endpoint& to) {
    uint8_t payload[IOTW_FRAME_MAX_PAYLOAD], dgram[IOTW_DATAGRAM_MAX];
    const size_t n = iotw_msg_encode(&env, payload, sizeof payload);
    const size_t w = iotw_datagram_encode(payload, n, dgram, sizeof dgram);
    node.send_to(boost::asio::buffer(dgram, w), to);
  };
  auto serve = [&] {
    while (node.available()) {
      uint8_t buf[IOTW_DATAGRAM_MAX + 16];
      ip::udp::endpoint from;
      const size_t n = node.receive_from(boost::asio::buffer(buf), from);
      iotw_v1_Envelope env;
      const long len = iotw_datagram_check(buf, n);
      if (len <= 0 || iotw_msg_decode(buf, static_cast<size_t>(len), &env) != 0) continue;
      Peer& p = peers[from.port()];
      if (env.which_body == iotw_v1_Envelope_hello_tag) {
        if (!p.name.empty() && p.name != env.body.hello.name) bad.insert("two names on port " + std::to_string(from.port()));
        p.name = env.body.hello.name;
        std::memcpy(p.pubkey, env.body.hello.pubkey, 32);
        iotw_v1_Envelope ch = iotw_v1_Envelope_init_zero;
        ch.which_body = iotw_v1_Envelope_challenge_tag;
        if (!p.challenged) randombytes_buf(p.nonce, 32);  // a repeated Hello gets the same challenge
        p.challenged = true;
        std::memcpy(ch.body.challenge.nonce, p.nonce, 32);
        send(ch, from);
      } else if (env.which_body == iotw_v1_Envelope_prove_tag) {
        uint8_t msg[IOTW_SIG_MSG_MAX];
        const size_t mlen = iotw_sigmsg_register(p.nonce, p.pubkey, msg);
        if (crypto_sign_verify_detached(env.body.prove.signature, msg, mlen, p.pubkey) != 0) {
          bad.insert("a Prove that does not verify from " + p.name);
          continue;
        }
        iotw_v1_Envelope w = iotw_v1_Envelope_init_zero;
        w.which_body = iotw_v1_Envelope_welcome_tag;
        w.body.welcome.heartbeat_interval_ms = 500;
        send(w, from);
        p.welcomed = true;
      } else if (env.which_body == iotw_v1_Envelope_heartbeat_tag && p.welcomed) {
        p.heartbeats++;
      }
    }
  };
  auto all = [&](auto pred) {
    for (const auto& d : devices)
      if (!pred(static_cast<SocModule&>(*d))) return false;
    return true;
  };
  auto heartbeating = [&] {
    int n = 0;
    for (const auto& [port, p] : peers) n += p.heartbeats >= 2;
    return n;
  };
  // A bound on the loop, not on the time: the devices boot (~300 ms of chip time), derive keys, sign.
  for (int i = 0; i < 6000 && !(all([](SocModule& m) { return m.runtime().state() == IOTW_FW_ATTACHED; }) &&
                                heartbeating() == kDevices);
       i++) {
    io.run_for(std::chrono::milliseconds(5));
    serve();
  }
  EXPECT_TRUE(bad.empty()) << *bad.begin();
  int attached = 0;
  for (const auto& d : devices) attached += static_cast<SocModule&>(*d).runtime().state() == IOTW_FW_ATTACHED;
  EXPECT_EQ(attached, kDevices);
  EXPECT_EQ(peers.size(), static_cast<size_t>(kDevices)) << "one source port per device";
  EXPECT_EQ(heartbeating(), kDevices) << "every device heartbeats on its own socket";
  std::set<std::string> names;
  for (const auto& [port, p] : peers) names.insert(p.name);
  EXPECT_EQ(names.size(), static_cast<size_t>(kDevices));
  for (auto& d : devices) d->stop();
  std::filesystem::remove_all(dir);
}
