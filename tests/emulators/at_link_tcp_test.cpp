// firmware_stub/ports/at with cfg.tcp: the driver opens a TCP link (AT+CIPSTART="TCP" / ATPC=0) through the
// emulators' AT engines in memory and carries a byte stream; the firmware core frames it as a serial link,
// so frames split or merged across +IPD / [ATPR] chunks are reassembled; a closed connection is reopened.
// Manual time; no sockets.
#include <gtest/gtest.h>

#include <sodium.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

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

struct TcpBench {
  explicit TcpBench(const std::string& model) {
    AtModuleConfig c;
    c.model = model;
    c.ap.ssid = "lab";
    c.ap.password = "right-pass-1";
    module = make_at_engine(c);
    module->power_on(now);
    iotw_at_link_config lc{};
    lc.family = model.rfind("esp", 0) == 0 ? IOTW_AT_ESP : IOTW_AT_REALTEK;
    lc.ssid = "lab";
    lc.password = "right-pass-1";
    lc.host = "127.0.0.1";
    lc.port = 7100;
    lc.tcp = 1;
    lc.uart_write = [](void* u, const uint8_t* b, size_t n) {
      static_cast<TcpBench*>(u)->to_module.append(reinterpret_cast<const char*>(b), n);
      return 0;
    };
    lc.on_datagram = [](void* u, const uint8_t* b, size_t n) {
      static_cast<TcpBench*>(u)->received.append(reinterpret_cast<const char*>(b), n);
    };
    lc.on_event = [](void* u, const char* e) { static_cast<TcpBench*>(u)->events.emplace_back(e); };
    lc.user = this;
    iotw_at_link_init(&link, &lc, now);
  }

  /// Runs both sides for ms of manual time, 5 ms a step; the engine's TCP opens succeed.
  void run(uint64_t ms) {
    for (uint64_t end = now + ms; now < end; now += 5) {
      module->tick(now);
      iotw_at_link_poll(&link, now);
      for (int round = 0; round < 8; round++) {
        if (!to_module.empty()) module->feed(std::exchange(to_module, {}), now);
        for (const auto& a : module->take_actions()) {
          if (a.type == AtAction::Type::Open) {
            EXPECT_TRUE(a.tcp);
            EXPECT_EQ(a.host, "127.0.0.1");
            EXPECT_EQ(a.port, 7100);
            link_id = a.link;
            opens++;
            module->on_open_result(a.link, true, now);
          } else if (a.type == AtAction::Type::Send) {
            stream += a.data;
            module->on_send_result(a.link, true, now);
          }
        }
        std::string out = module->take_output();
        if (drip) {  // a UART: at most drip bytes reach the driver per step
          pending += out;
          out.clear();
        }
        if (!out.empty()) iotw_at_link_rx(&link, reinterpret_cast<const uint8_t*>(out.data()), out.size(), now);
        if (to_module.empty() && out.empty()) break;
      }
      if (drip && !pending.empty()) {
        const std::string part = pending.substr(0, drip);
        pending.erase(0, part.size());
        iotw_at_link_rx(&link, reinterpret_cast<const uint8_t*>(part.data()), part.size(), now);
      }
    }
  }
  bool saw(const std::string& e) const {
    for (const auto& x : events)
      if (x == e) return true;
    return false;
  }
  int send(const std::string& d) { return iotw_at_link_send(&link, reinterpret_cast<const uint8_t*>(d.data()), d.size()); }
  void from_node(const std::string& bytes) { module->on_receive(link_id, bytes, "127.0.0.1", 7100, now); }

  uint64_t now = 0;
  std::unique_ptr<AtEngine> module;
  iotw_at_link link;
  std::string to_module, stream, received;
  std::vector<std::string> events;
  int link_id = -1, opens = 0;
  size_t drip = 0;  ///< 0: the engine's output reaches the driver at once; else this many bytes per 5 ms step
  std::string pending;
};

std::string frame_of(const iotw_v1_Envelope& env) {
  uint8_t payload[IOTW_FRAME_MAX_PAYLOAD], wire[IOTW_FRAME_MAX_WIRE];
  const size_t n = iotw_msg_encode(&env, payload, sizeof payload);
  const size_t w = iotw_frame_encode(payload, n, wire, sizeof wire);
  return std::string(reinterpret_cast<char*>(wire), w);
}

// Splits a byte stream at every 0x00 and decodes each frame.
std::vector<iotw_v1_Envelope> frames_in(std::string& stream) {
  std::vector<iotw_v1_Envelope> out;
  iotw_frame_decoder dec;
  iotw_frame_decoder_init(&dec);
  size_t used = 0;
  for (size_t i = 0; i < stream.size(); i++) {
    const uint8_t* p;
    size_t len;
    if (iotw_frame_decoder_push(&dec, static_cast<uint8_t>(stream[i]), &p, &len) == IOTW_FRAME_OK) {
      iotw_v1_Envelope env;
      if (iotw_msg_decode(p, len, &env) == 0) out.push_back(env);
      used = i + 1;
    }
  }
  stream.erase(0, used);
  return out;
}

}  // namespace

TEST(AtLinkTcp, EachFamilyOpensTcpAndCarriesAByteStream) {
  for (const char* model : {"esp8266", "rtl8710"}) {
    TcpBench b(model);
    b.run(4000);
    ASSERT_TRUE(iotw_at_link_up(&b.link)) << model;
    EXPECT_EQ(b.opens, 1) << model;
    ASSERT_EQ(b.send("abc"), 0);
    ASSERT_EQ(b.send(std::string(520, 'x')), 0);  // a full-size frame fits in tcp mode (> a datagram)
    b.run(300);
    EXPECT_EQ(b.stream, "abc" + std::string(520, 'x')) << model;
    b.from_node("part one,");
    b.from_node("part two");
    b.run(100);
    EXPECT_EQ(b.received, "part one,part two") << model;  // chunks in order, nothing lost
  }
}

TEST(AtLinkTcp, PeerCloseReopensTheConnection) {
  for (const char* model : {"esp32", "rtl8195"}) {
    TcpBench b(model);
    b.run(4000);
    ASSERT_TRUE(iotw_at_link_up(&b.link)) << model;
    b.module->on_remote_closed(b.link_id, b.now);
    b.run(100);
    EXPECT_TRUE(b.saw("link_lost")) << model;
    b.run(4000);
    EXPECT_TRUE(iotw_at_link_up(&b.link)) << model;
    EXPECT_EQ(b.opens, 2) << model;
    EXPECT_EQ(b.link.reconnects, 1u) << model;
    ASSERT_EQ(b.send("after"), 0);
    b.run(300);
    EXPECT_EQ(b.stream, "after") << model;
  }
}

// The firmware core with kind IOTW_LINK_SERIAL over the TCP link: Hello, Challenge, Prove, Welcome, with the
// node's frames split across chunks and merged into one chunk.
TEST(AtLinkTcp, FirmwareCoreAttachesWithFramesSplitAndMerged) {
  ASSERT_GE(sodium_init(), 0);
  for (const char* model : {"esp8266", "rtl8710"}) {
    const auto dir = std::filesystem::temp_directory_path() / ("iotw-at-tcp-" + std::to_string(::getpid()) + model);
    std::filesystem::remove_all(dir);
    TcpBench b(model);
    static iotw_fw fw;
    iotw_host_port_ctx ctx{};
    std::snprintf(ctx.nvs_dir, sizeof ctx.nvs_dir, "%s", dir.c_str());
    ctx.kind = IOTW_LINK_SERIAL;
    ctx.user = &b.link;
    ctx.send = [](void* link, const uint8_t* bytes, size_t len) { return iotw_at_link_send(link, bytes, len); };
    ctx.log = [](void*, iotw_log_level, const char*, const char*) {};
    iotw_port port{};
    ASSERT_EQ(iotw_host_port_init(&port, &ctx), 0);
    b.run(4000);
    ASSERT_TRUE(iotw_at_link_up(&b.link)) << model;
    iotw_fw_config cfg{"appliance-t", model, "0.1.0", 1, {}, nullptr, nullptr};
    ASSERT_EQ(iotw_fw_boot(&fw, &cfg, &port), 0);

    auto next_from_device = [&](pb_size_t which, iotw_v1_Envelope& env) {
      for (int i = 0; i < 100; i++) {
        b.run(20);
        for (const auto& e : frames_in(b.stream))
          if (e.which_body == which) {
            env = e;
            return true;
          }
      }
      return false;
    };
    auto deliver = [&] {
      b.run(50);
      iotw_fw_on_rx(&fw, reinterpret_cast<const uint8_t*>(b.received.data()), b.received.size());
      b.received.clear();
    };

    iotw_v1_Envelope hello;
    ASSERT_TRUE(next_from_device(iotw_v1_Envelope_hello_tag, hello)) << model;
    iotw_v1_Envelope ch = iotw_v1_Envelope_init_zero;
    ch.which_body = iotw_v1_Envelope_challenge_tag;
    randombytes_buf(ch.body.challenge.nonce, 32);
    const std::string chf = frame_of(ch);
    b.from_node(std::string("\0", 1) + chf.substr(0, 7));  // split across two chunks (and a leading 0x00)
    b.run(20);
    b.from_node(chf.substr(7));
    deliver();
    iotw_v1_Envelope prove;
    ASSERT_TRUE(next_from_device(iotw_v1_Envelope_prove_tag, prove)) << model;
    uint8_t msg[IOTW_SIG_MSG_MAX];
    const size_t mlen = iotw_sigmsg_register(ch.body.challenge.nonce, hello.body.hello.pubkey, msg);
    EXPECT_EQ(crypto_sign_verify_detached(prove.body.prove.signature, msg, mlen, hello.body.hello.pubkey), 0);
    iotw_v1_Envelope w = iotw_v1_Envelope_init_zero;
    w.which_body = iotw_v1_Envelope_welcome_tag;
    w.body.welcome.heartbeat_interval_ms = 60000;
    iotw_v1_Envelope ack = iotw_v1_Envelope_init_zero;
    ack.which_body = iotw_v1_Envelope_heartbeat_ack_tag;
    b.from_node(std::string("garbage\0", 8) + frame_of(w) + frame_of(ack));  // noise, then two frames in one chunk
    deliver();
    EXPECT_EQ(iotw_fw_get_state(&fw), IOTW_FW_ATTACHED) << model;
    std::filesystem::remove_all(dir);
  }
}

// The peer closes while the driver is anywhere in a send (prompt, data, verdict): the driver still sees the
// close and reconnects.
TEST(AtLinkTcp, PeerCloseInTheMiddleOfSendsReopens) {
  for (const char* model : {"esp8266", "rtl8710"}) {
    for (int offset = 0; offset < 40; offset++) {
      TcpBench b(model);
      b.run(4000);
      ASSERT_TRUE(iotw_at_link_up(&b.link)) << model;
      ASSERT_EQ(b.send(std::string(100, 'a')), 0);
      ASSERT_EQ(b.send(std::string(100, 'b')), 0);
      b.run(static_cast<uint64_t>(offset) * 5);
      b.module->on_remote_closed(b.link_id, b.now);
      b.run(4000);
      EXPECT_TRUE(iotw_at_link_up(&b.link)) << model << " offset " << offset;
      EXPECT_EQ(b.opens, 2) << model << " offset " << offset;
    }
  }
}

// Data and the peer's close arrive together, and the receiver answers at once (as the firmware does on a
// WitnessRequest): the answer cannot go out, and the driver still reconnects.
TEST(AtLinkTcp, DataThenCloseWhileAnsweringReopens) {
  for (const char* model : {"esp8266", "esp32", "rtl8710"}) {
    TcpBench b(model);
    b.link.cfg.on_datagram = [](void* u, const uint8_t*, size_t) {
      auto* self = static_cast<TcpBench*>(u);
      self->send(std::string(150, 'r'));
      self->send(std::string(20, 'c'));
    };
    b.drip = 7;  // "CLOSED\r\n" crosses the UART in pieces while the driver starts its answer
    b.run(4000);
    ASSERT_TRUE(iotw_at_link_up(&b.link)) << model;
    b.from_node(std::string(300, 'w'));
    b.module->on_remote_closed(b.link_id, b.now);
    b.run(4000);
    EXPECT_TRUE(b.saw("link_lost")) << model;
    EXPECT_TRUE(iotw_at_link_up(&b.link)) << model;
    EXPECT_EQ(b.opens, 2) << model;
  }
}
