// firmware_stub/ports/at (the firmware's datagram link through an AT-mode module) driving the emulators'
// AT engines in memory: the driver's UART bytes go to the engine, the engine's to the driver, the engine's
// socket actions to a scripted network. Manual time; no sockets.
#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include <sodium.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>

#include "esp_wifi/at_engine.hpp"

extern "C" {
#include "at_link.h"
#include "host_port.h"
#include "iotw/firmware.h"
#include "iotw/frame_codec.h"
#include "iotw/message_codec.h"
#include "iotw/signing.h"
}

using namespace iotw::emu;

namespace {

struct Bench {
  explicit Bench(const std::string& model, const std::string& ap_password = "right-pass-1") {
    AtModuleConfig c;
    c.model = model;
    c.ap.ssid = "lab";
    c.ap.password = ap_password;
    module = make_at_engine(c);
    module->power_on(now);
    iotw_at_link_config lc{};
    lc.family = model.rfind("esp", 0) == 0 ? IOTW_AT_ESP : IOTW_AT_REALTEK;
    lc.ssid = "lab";
    lc.password = "right-pass-1";
    lc.host = "127.0.0.1";
    lc.port = 7000;
    lc.local_port = 7001;
    lc.uart_write = [](void* u, const uint8_t* b, size_t n) {
      static_cast<Bench*>(u)->to_module.append(reinterpret_cast<const char*>(b), n);
      return 0;
    };
    lc.on_datagram = [](void* u, const uint8_t* b, size_t n) {
      static_cast<Bench*>(u)->received.emplace_back(reinterpret_cast<const char*>(b), n);
    };
    lc.on_event = [](void* u, const char* e) { static_cast<Bench*>(u)->events.emplace_back(e); };
    lc.user = this;
    iotw_at_link_init(&link, &lc, now);
  }

  /// Runs both sides for ms of manual time, 5 ms a step.
  void run(uint64_t ms) {
    for (uint64_t end = now + ms; now < end; now += 5) {
      module->tick(now);
      iotw_at_link_poll(&link, now);
      for (int round = 0; round < 8; round++) {
        if (!to_module.empty()) module->feed(std::exchange(to_module, {}), now);
        for (const auto& a : module->take_actions()) {
          if (a.type == AtAction::Type::Open) {
            EXPECT_EQ(a.host, "127.0.0.1");
            EXPECT_EQ(a.port, 7000);
            EXPECT_EQ(a.local_port, 7001);
            EXPECT_FALSE(a.tcp);
            link_id = a.link;
            module->on_open_result(a.link, true, now);
          } else if (a.type == AtAction::Type::Send) {
            sent.push_back(a.data);
            module->on_send_result(a.link, true, now);
          }
        }
        std::string out = module->take_output();
        if (!out.empty()) iotw_at_link_rx(&link, reinterpret_cast<const uint8_t*>(out.data()), out.size(), now);
        if (to_module.empty() && out.empty()) break;
      }
    }
  }
  bool saw(const std::string& e) const {
    for (const auto& x : events)
      if (x == e) return true;
    return false;
  }
  int send(const std::string& d) {
    return iotw_at_link_send(&link, reinterpret_cast<const uint8_t*>(d.data()), d.size());
  }

  uint64_t now = 0;
  std::unique_ptr<AtEngine> module;
  iotw_at_link link;
  std::string to_module;
  std::vector<std::string> events, sent, received;
  int link_id = -1;
};

// A datagram with the bytes a naive parser would trip on.
const char kRaw[] = "\x00\r\nOK\r\n+IPD,3:\r\n\n# [ATPR] OK,1,1:>\xff";
const std::string kNasty(kRaw, sizeof kRaw - 1);

void round_trip(Bench& b) {
  ASSERT_TRUE(iotw_at_link_up(&b.link));
  ASSERT_EQ(b.send(kNasty), 0);
  ASSERT_EQ(b.send("second"), 0);
  b.run(200);
  ASSERT_EQ(b.sent.size(), 2u);
  EXPECT_EQ(b.sent[0], kNasty);
  EXPECT_EQ(b.sent[1], "second");
  EXPECT_EQ(b.link.sent, 2u);
  b.module->on_receive(b.link_id, kNasty, "127.0.0.1", 7000, b.now);
  b.module->on_receive(b.link_id, "reply", "127.0.0.1", 7000, b.now);
  b.run(100);
  ASSERT_EQ(b.received.size(), 2u);
  EXPECT_EQ(b.received[0], kNasty);
  EXPECT_EQ(b.received[1], "reply");
}

}  // namespace

TEST(AtLink, Esp8266JoinsOpensUdpAndCarriesDatagramsBothWays) {
  Bench b("esp8266");
  EXPECT_EQ(b.send("early"), -1);  // not up yet
  b.run(3000);
  EXPECT_TRUE(b.saw("module_ready"));
  EXPECT_TRUE(b.saw("joined"));
  EXPECT_TRUE(b.saw("link_up"));
  round_trip(b);
}

TEST(AtLink, Rtl8710JoinsOpensUdpAndCarriesDatagramsBothWays) {
  Bench b("rtl8710");
  b.run(4000);
  EXPECT_TRUE(b.saw("link_up"));
  EXPECT_EQ(b.link.con_id, 1);
  round_trip(b);
}

TEST(AtLink, WrongPasswordIsRetriedUntilTheApAcceptsIt) {
  for (const char* model : {"esp32", "rtl8195"}) {
    Bench b(model, "the-ap-changed");
    b.run(5000);
    EXPECT_TRUE(b.saw("join_failed")) << model;
    EXPECT_FALSE(iotw_at_link_up(&b.link)) << model;
    EXPECT_GE(b.link.join_failures, 2u) << model;
    AccessPoint ap;
    ap.ssid = "lab";
    ap.password = "right-pass-1";
    b.module->set_access_point(ap, b.now);
    b.run(5000);
    EXPECT_TRUE(iotw_at_link_up(&b.link)) << model;
    round_trip(b);
  }
}

TEST(AtLink, EspLinkLossRejoinsAndReopens) {
  Bench b("esp8266");
  b.run(3000);
  ASSERT_TRUE(iotw_at_link_up(&b.link));
  AccessPoint ap;
  ap.ssid = "lab";
  ap.password = "right-pass-1";
  ap.up = false;
  b.module->set_access_point(ap, b.now);
  b.run(100);
  EXPECT_TRUE(b.saw("link_lost"));
  EXPECT_FALSE(iotw_at_link_up(&b.link));
  b.run(3000);
  EXPECT_FALSE(iotw_at_link_up(&b.link));
  ap.up = true;
  b.module->set_access_point(ap, b.now);
  b.run(5000);
  EXPECT_TRUE(iotw_at_link_up(&b.link));
  round_trip(b);
}

// The firmware core itself on the appliance MCU, its datagrams carried by the AT link: Hello, Challenge,
// Prove (signature checked), Welcome -> ATTACHED, with this test playing the trust node behind the module.
TEST(AtLink, FirmwareCoreAttachesThroughEachModuleFamily) {
  ASSERT_GE(sodium_init(), 0);
  for (const char* model : {"esp8266", "rtl8710"}) {
    const auto dir = std::filesystem::temp_directory_path() / ("iotw-at-fw-" + std::to_string(::getpid()) + model);
    std::filesystem::remove_all(dir);
    Bench b(model);
    static iotw_fw fw;  // static RAM, as on the MCU
    iotw_host_port_ctx ctx{};
    std::snprintf(ctx.nvs_dir, sizeof ctx.nvs_dir, "%s", dir.c_str());
    ctx.kind = IOTW_LINK_DATAGRAM;
    ctx.user = &b.link;
    ctx.send = [](void* link, const uint8_t* bytes, size_t len) { return iotw_at_link_send(link, bytes, len); };
    ctx.log = [](void*, iotw_log_level, const char*, const char*) {};
    iotw_port port{};
    ASSERT_EQ(iotw_host_port_init(&port, &ctx), 0);
    b.run(4000);
    ASSERT_TRUE(iotw_at_link_up(&b.link)) << model;
    iotw_fw_config cfg{"appliance-1", model, "0.1.0", 1, {}, nullptr, nullptr};  // no node key: light verification off
    ASSERT_EQ(iotw_fw_boot(&fw, &cfg, &port), 0);

    auto next_from_device = [&](pb_size_t which, iotw_v1_Envelope& env) {
      for (int i = 0; i < 100; i++) {
        b.run(20);
        while (!b.sent.empty()) {
          std::string d = b.sent.front();
          b.sent.erase(b.sent.begin());
          long n = iotw_datagram_check(reinterpret_cast<const uint8_t*>(d.data()), d.size());
          if (n > 0 && iotw_msg_decode(reinterpret_cast<const uint8_t*>(d.data()), static_cast<size_t>(n), &env) == 0 &&
              env.which_body == which)
            return true;
        }
      }
      return false;
    };
    auto to_device = [&](const iotw_v1_Envelope& env) {
      uint8_t payload[IOTW_FRAME_MAX_PAYLOAD], dgram[IOTW_DATAGRAM_MAX];
      size_t n = iotw_msg_encode(&env, payload, sizeof payload);
      size_t w = iotw_datagram_encode(payload, n, dgram, sizeof dgram);
      ASSERT_GT(w, 0u);
      b.module->on_receive(b.link_id, std::string(reinterpret_cast<char*>(dgram), w), "127.0.0.1", 7000, b.now);
      b.run(50);
      for (const auto& r : b.received) iotw_fw_on_rx(&fw, reinterpret_cast<const uint8_t*>(r.data()), r.size());
      b.received.clear();
    };

    iotw_v1_Envelope hello;
    ASSERT_TRUE(next_from_device(iotw_v1_Envelope_hello_tag, hello)) << model;
    EXPECT_EQ(0, memcmp(hello.body.hello.pubkey, fw.pk, 32));
    iotw_v1_Envelope ch = iotw_v1_Envelope_init_zero;
    ch.which_body = iotw_v1_Envelope_challenge_tag;
    randombytes_buf(ch.body.challenge.nonce, 32);
    to_device(ch);
    iotw_v1_Envelope prove;
    ASSERT_TRUE(next_from_device(iotw_v1_Envelope_prove_tag, prove)) << model;
    uint8_t msg[IOTW_SIG_MSG_MAX];
    size_t mlen = iotw_sigmsg_register(ch.body.challenge.nonce, hello.body.hello.pubkey, msg);
    EXPECT_EQ(crypto_sign_verify_detached(prove.body.prove.signature, msg, mlen, hello.body.hello.pubkey), 0);
    iotw_v1_Envelope w = iotw_v1_Envelope_init_zero;
    w.which_body = iotw_v1_Envelope_welcome_tag;
    w.body.welcome.heartbeat_interval_ms = 60000;
    to_device(w);
    EXPECT_EQ(iotw_fw_get_state(&fw), IOTW_FW_ATTACHED) << model;
    std::filesystem::remove_all(dir);
  }
}
