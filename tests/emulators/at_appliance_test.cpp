// Pool mode of an AT-mode module (AtAppliance): the appliance MCU's firmware core, over the AT-driver port,
// drives an in-process ESP-AT / Realtek AT v2 engine on an in-memory paced UART; the module's socket is a
// real UDP socket on 127.0.0.1. This test plays the trust node on its own UDP socket: Hello, Challenge,
// Prove (signature checked), Welcome -> the firmware is attached.
#include <gtest/gtest.h>
#include <sodium.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>

#include "common/pool_control.hpp"
#include "esp_wifi/at_appliance.hpp"

extern "C" {
#include "iotw/frame_codec.h"
#include "iotw/message_codec.h"
#include "iotw/signing.h"
}

using namespace iotw::emu;
namespace ip = boost::asio::ip;

// The in-memory UART: each byte arrives one byte-time (10 bits) after the one before it; bytes written while the line
// is busy queue behind it; a byte is never released before its stop bit; the line idles in between.
TEST(UartWire, BytesArriveOneByteTimeApartInOrderAndQueueBehindABusyLine) {
  UartWire w(100'000);  // 10 bits per byte: 100,000 ns per byte
  const auto bytes = [](const char* s) { return reinterpret_cast<const uint8_t*>(s); };
  EXPECT_TRUE(w.empty());
  w.write(bytes("abc"), 3, 1'000'000);            // a 1 ms, the line idle: 'a' at 1.1 ms, 'b' 1.2, 'c' 1.3
  EXPECT_EQ(w.next_ns(), 1'100'000u);
  EXPECT_EQ(w.take(1'099'999), "");
  EXPECT_EQ(w.take(1'200'000), "ab");
  EXPECT_EQ(w.next_ns(), 1'300'000u);
  w.write(bytes("de"), 2, 1'250'000);              // the line is still busy with 'c': 'd' at 1.4, 'e' at 1.5
  EXPECT_EQ(w.take(1'450'000), "cd");
  EXPECT_EQ(w.take(1'500'000), "e");
  EXPECT_TRUE(w.empty());
  w.write(bytes("f"), 1, 3'000'000);               // idle again: one byte-time from now
  EXPECT_EQ(w.take(3'099'999), "");
  EXPECT_EQ(w.take(9'000'000), "f");
  EXPECT_TRUE(w.empty());
}

TEST(AtAppliance, FirmwareAttachesThroughEachModuleFamilyOverARealUdpSocket) {
  ASSERT_GE(sodium_init(), 0);
  for (const char* model : {"esp8266", "rtl8710"}) {
    const auto dir = std::filesystem::temp_directory_path() / ("iotw-at-app-" + std::to_string(::getpid()) + model);
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    boost::asio::io_context io;
    ip::udp::socket node(io, ip::udp::endpoint(ip::make_address_v4("127.0.0.1"), 0));
    EventLog log((dir / "events.jsonl").string());
    iotw::SteadyClock clock;
    DeviceSpec spec;
    spec.name = std::string("app-") + model;
    spec.model = model;
    spec.mode = "at";
    spec.trust_node_udp = "127.0.0.1:" + std::to_string(node.local_endpoint().port());
    spec.nvs_dir = (dir / "nvs").string();
    spec.baud = 0;
    AccessPoint ap;
    ap.ssid = "lab";
    ap.password = "lab-pass-123";
    AtAppliance app(io, spec, ap, log, clock);
    EXPECT_EQ(app.baud(), std::string(model) == "esp8266" ? 115200 : 38400);
    app.start();

    ip::udp::endpoint device;
    auto next_from_device = [&](pb_size_t which, iotw_v1_Envelope& env) {
      for (int i = 0; i < 3000; i++) {  // a bound on the loop, not on the time a step may take
        io.run_for(std::chrono::milliseconds(5));
        while (node.available()) {
          uint8_t buf[IOTW_DATAGRAM_MAX + 16];
          const size_t n = node.receive_from(boost::asio::buffer(buf), device);
          const long len = iotw_datagram_check(buf, n);
          if (len > 0 && iotw_msg_decode(buf, static_cast<size_t>(len), &env) == 0 && env.which_body == which) return true;
        }
      }
      return false;
    };
    auto to_device = [&](const iotw_v1_Envelope& env) {
      uint8_t payload[IOTW_FRAME_MAX_PAYLOAD], dgram[IOTW_DATAGRAM_MAX];
      const size_t n = iotw_msg_encode(&env, payload, sizeof payload);
      const size_t w = iotw_datagram_encode(payload, n, dgram, sizeof dgram);
      ASSERT_GT(w, 0u);
      node.send_to(boost::asio::buffer(dgram, w), device);
    };

    iotw_v1_Envelope hello;
    ASSERT_TRUE(next_from_device(iotw_v1_Envelope_hello_tag, hello)) << model;
    EXPECT_TRUE(app.link_up()) << model;
    EXPECT_EQ(device.address().to_string(), "127.0.0.1") << "the module's socket is on loopback";
    EXPECT_STREQ(hello.body.hello.name, spec.name.c_str());
    EXPECT_STREQ(hello.body.hello.model, model);
    iotw_v1_Envelope ch = iotw_v1_Envelope_init_zero;
    ch.which_body = iotw_v1_Envelope_challenge_tag;
    randombytes_buf(ch.body.challenge.nonce, 32);
    to_device(ch);
    iotw_v1_Envelope prove;
    ASSERT_TRUE(next_from_device(iotw_v1_Envelope_prove_tag, prove)) << model;
    uint8_t msg[IOTW_SIG_MSG_MAX];
    const size_t mlen = iotw_sigmsg_register(ch.body.challenge.nonce, hello.body.hello.pubkey, msg);
    EXPECT_EQ(crypto_sign_verify_detached(prove.body.prove.signature, msg, mlen, hello.body.hello.pubkey), 0) << model;
    iotw_v1_Envelope w = iotw_v1_Envelope_init_zero;
    w.which_body = iotw_v1_Envelope_welcome_tag;
    w.body.welcome.heartbeat_interval_ms = 60000;
    to_device(w);
    for (int i = 0; i < 3000 && app.state() != IOTW_FW_ATTACHED; i++) io.run_for(std::chrono::milliseconds(5));
    EXPECT_EQ(app.state(), IOTW_FW_ATTACHED) << model;

    // A person types into the module's UART through the control channel (the console's `u`): the module's
    // answer comes back, and the appliance keeps its link.
    PoolControl control(log);
    control.add(app);
    const bool esp = std::string(model) == "esp8266";
    std::optional<nlohmann::json> reply;
    control.handle(nlohmann::json{{"cmd", "uart"}, {"device", spec.name}, {"data", esp ? "AT+GMR\r\n" : "ATSV\r\n"}}.dump(),
                   [&](nlohmann::json r) { reply = std::move(r); });
    for (int i = 0; i < 3000 && !reply; i++) io.run_for(std::chrono::milliseconds(5));
    ASSERT_TRUE(reply) << model << ": no answer to the typed line";
    EXPECT_EQ((*reply)["ok"], true) << reply->dump();
    EXPECT_EQ((*reply)["complete"], true) << reply->dump();
    const std::string out = reply->value("output", "");
    if (esp) {
      EXPECT_NE(out.find("AT version:"), std::string::npos) << out;
      EXPECT_NE(out.find("\r\nOK\r\n"), std::string::npos) << out;
    } else {
      EXPECT_NE(out.find("[ATSV] OK:v2.2.1"), std::string::npos) << out;
    }
    EXPECT_TRUE(app.link_up()) << model << ": the driver kept its link";
    const auto sync = control.handle(nlohmann::json{{"cmd", "uart"}, {"device", spec.name}, {"data", "AT\r\n"}}.dump());
    EXPECT_EQ(sync["ok"], false) << "the synchronous path cannot wait for the module";
    const auto empty = control.handle(nlohmann::json{{"cmd", "uart"}, {"device", spec.name}, {"data", ""}}.dump());
    EXPECT_EQ(empty["ok"], false);
    app.stop();
    std::filesystem::remove_all(dir);
  }
}
