// AtAppliance with trust_node_tcp: the module's link is a real TCP connection on 127.0.0.1 (AT+CIPSTART="TCP"
// / ATPC=0) and the firmware frames it as a serial link (COBS + CRC-32 + 0x00). This test plays the trust
// node on its own TCP listener: Hello, Challenge (split across two writes), Prove, Welcome -> attached; then
// it closes the connection and the appliance connects again.
#include <gtest/gtest.h>
#include <sodium.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "esp_wifi/at_appliance.hpp"

extern "C" {
#include "iotw/frame_codec.h"
#include "iotw/message_codec.h"
#include "iotw/signing.h"
}

using namespace iotw::emu;
namespace ip = boost::asio::ip;

TEST(AtApplianceTcp, FirmwareAttachesOverARealTcpConnectionAndReconnects) {
  ASSERT_GE(sodium_init(), 0);
  for (const char* model : {"esp8266", "rtl8710"}) {
    const auto dir = std::filesystem::temp_directory_path() / ("iotw-at-tcp-app-" + std::to_string(::getpid()) + model);
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    boost::asio::io_context io;
    ip::tcp::acceptor node(io, ip::tcp::endpoint(ip::make_address_v4("127.0.0.1"), 0));
    EventLog log((dir / "events.jsonl").string());
    iotw::SteadyClock clock;
    DeviceSpec spec;
    spec.name = std::string("tcp-") + model;
    spec.model = model;
    spec.mode = "at";
    spec.trust_node_tcp = "127.0.0.1:" + std::to_string(node.local_endpoint().port());
    spec.nvs_dir = (dir / "nvs").string();
    AccessPoint ap;
    ap.ssid = "lab";
    ap.password = "lab-pass-123";
    AtAppliance app(io, spec, ap, log, clock);
    ASSERT_TRUE(app.tcp());
    app.start();

    std::unique_ptr<ip::tcp::socket> conn;
    auto accept = [&] {
      conn = std::make_unique<ip::tcp::socket>(io);
      bool done = false;
      node.async_accept(*conn, [&](boost::system::error_code ec) { done = !ec; });
      for (int i = 0; i < 3000 && !done; i++) io.run_for(std::chrono::milliseconds(5));  // a bound, not a timing check
      return done;
    };
    iotw_frame_decoder dec;
    iotw_frame_decoder_init(&dec);
    auto next_from_device = [&](pb_size_t which, iotw_v1_Envelope& env) {
      for (int i = 0; i < 3000; i++) {
        io.run_for(std::chrono::milliseconds(5));
        boost::system::error_code ec;
        while (conn->available(ec) > 0) {
          uint8_t buf[512];
          const size_t n = conn->read_some(boost::asio::buffer(buf), ec);
          for (size_t k = 0; k < n; k++) {
            const uint8_t* p;
            size_t len;
            if (iotw_frame_decoder_push(&dec, buf[k], &p, &len) == IOTW_FRAME_OK && iotw_msg_decode(p, len, &env) == 0 &&
                env.which_body == which)
              return true;
          }
        }
      }
      return false;
    };
    auto frame_of = [](const iotw_v1_Envelope& env) {
      uint8_t payload[IOTW_FRAME_MAX_PAYLOAD], wire[IOTW_FRAME_MAX_WIRE];
      const size_t n = iotw_msg_encode(&env, payload, sizeof payload);
      return std::string(reinterpret_cast<char*>(wire), iotw_frame_encode(payload, n, wire, sizeof wire));
    };

    ASSERT_TRUE(accept()) << model;
    iotw_v1_Envelope hello;
    ASSERT_TRUE(next_from_device(iotw_v1_Envelope_hello_tag, hello)) << model;
    EXPECT_TRUE(app.link_up()) << model;
    EXPECT_STREQ(hello.body.hello.name, spec.name.c_str());
    iotw_v1_Envelope ch = iotw_v1_Envelope_init_zero;
    ch.which_body = iotw_v1_Envelope_challenge_tag;
    randombytes_buf(ch.body.challenge.nonce, 32);
    const std::string chf = frame_of(ch);
    boost::asio::write(*conn, boost::asio::buffer(chf.substr(0, 10)));  // a frame in two TCP segments
    io.run_for(std::chrono::milliseconds(30));
    boost::asio::write(*conn, boost::asio::buffer(chf.substr(10)));
    iotw_v1_Envelope prove;
    ASSERT_TRUE(next_from_device(iotw_v1_Envelope_prove_tag, prove)) << model;
    uint8_t msg[IOTW_SIG_MSG_MAX];
    const size_t mlen = iotw_sigmsg_register(ch.body.challenge.nonce, hello.body.hello.pubkey, msg);
    EXPECT_EQ(crypto_sign_verify_detached(prove.body.prove.signature, msg, mlen, hello.body.hello.pubkey), 0) << model;
    iotw_v1_Envelope w = iotw_v1_Envelope_init_zero;
    w.which_body = iotw_v1_Envelope_welcome_tag;
    w.body.welcome.heartbeat_interval_ms = 1000;  // silent node: the firmware re-attaches after 6 intervals (6 s)
    boost::asio::write(*conn, boost::asio::buffer(frame_of(w)));
    for (int i = 0; i < 3000 && app.state() != IOTW_FW_ATTACHED; i++) io.run_for(std::chrono::milliseconds(5));
    EXPECT_EQ(app.state(), IOTW_FW_ATTACHED) << model;

    conn->close();  // the node drops the link: the driver sees CLOSED / [ATPR] ERROR:7 and connects again
    ASSERT_TRUE(accept()) << model;
    iotw_frame_decoder_init(&dec);
    iotw_v1_Envelope hb;
    EXPECT_TRUE(next_from_device(iotw_v1_Envelope_heartbeat_tag, hb)) << model;  // the firmware goes on over it
    EXPECT_EQ(app.at_link().reconnects, 1u) << model;
    app.stop();
    std::filesystem::remove_all(dir);
  }
}
