// The iotw-trust-node binary end to end: UDP devices register and mine, HTTP submits and reads, SIGTERM exits 0.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <httplib.h>

#include "iotw/frame_codec.h"
#include "iotw/harness/ledger_verifier.hpp"
#include "node_process.hpp"

namespace iotw::tn::test {
namespace {
TEST(TrustNodeDaemon, UdpDevicesMineABlockSubmittedOverHttp) {
  Node node(R"(
[node]
db = "ledger.sqlite"
seed = 7
events = "events.jsonl"
[http]
listen = "127.0.0.1:0"
port_file = "http.port"
[udp]
listen = "127.0.0.1:0"
port_file = "udp.port"
[consensus]
witnesses = 3
block_interval_ms = 0
)");
  const int http_port = node.port("http.port"), udp_port = node.port("udp.port");
  ASSERT_GT(http_port, 0);
  ASSERT_GT(udp_port, 0);
  std::vector<std::unique_ptr<UdpDevice>> devs;
  for (uint32_t i = 1; i <= 4; ++i) {
    devs.push_back(std::make_unique<UdpDevice>(i, udp_port));
    devs.back()->send(devs.back()->dev.hello());
  }
  httplib::Client http("127.0.0.1", http_port);
  auto posted = http.Post("/v1/transactions", R"({"payload":"meter 42 kWh"})", "application/json");
  ASSERT_TRUE(posted);
  EXPECT_EQ(posted->status, 202);
  EXPECT_EQ(nlohmann::json::parse(posted->body)["status"], "pending");
  auto dup = http.Post("/v1/transactions", R"({"payload":"meter 42 kWh"})", "application/json");
  ASSERT_TRUE(dup);
  EXPECT_EQ(dup->status, 409);

  nlohmann::json health;
  for (int i = 0; i < 300; ++i) {  // bounded: serve the devices until the block is in
    std::vector<pollfd> fds;
    for (auto &d : devs) fds.push_back(pollfd{d->fd, POLLIN, 0});
    poll(fds.data(), fds.size(), 10);
    for (size_t k = 0; k < fds.size(); ++k)
      if (fds[k].revents & POLLIN) devs[k]->on_readable();
    auto h = http.Get("/v1/health");
    ASSERT_TRUE(h);
    health = nlohmann::json::parse(h->body);
    if (health["height"] == 1) break;
  }
  EXPECT_EQ(health["status"], "ok");
  EXPECT_EQ(health["height"], 1);
  EXPECT_EQ(health["devices_attached"], 4);
  EXPECT_EQ(health["pending_txs"], 0);
  EXPECT_EQ(health["rounds"], 1);

  auto devices = http.Get("/v1/devices");
  ASSERT_TRUE(devices);
  const auto list = nlohmann::json::parse(devices->body)["devices"];
  ASSERT_EQ(list.size(), 4u);
  EXPECT_EQ(list[0]["attached"], true);
  EXPECT_EQ(list[0]["link"].get<std::string>().substr(0, 14), "udp:127.0.0.1:");

  auto blocks = http.Get("/v1/blocks?from=1&limit=5");
  ASSERT_TRUE(blocks);
  const auto b = nlohmann::json::parse(blocks->body)["blocks"];
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0]["attestations"].size(), 3u);
  EXPECT_EQ(b[0]["transactions"][0]["payload_hex"], to_hex(Bytes{'m', 'e', 't', 'e', 'r', ' ', '4', '2', ' ', 'k', 'W', 'h'}));
  // The block is bound by the node key and the signed tip ends an export (docs/protocol.md §8): the whole
  // export verifies, pinned to the key /v1/health names.
  EXPECT_EQ(b[0]["finalization"]["policy"], "strict");
  EXPECT_EQ(b[0]["finalization"]["n"], 3);
  auto tip = http.Get("/v1/tip");
  ASSERT_TRUE(tip);
  ASSERT_EQ(tip->status, 200);
  const auto t = nlohmann::json::parse(tip->body);
  EXPECT_EQ(t["tip"]["height"], 1);
  EXPECT_EQ(t["tip"]["hash"], b[0]["hash"]);
  EXPECT_EQ(t["tip"]["node_key"], health["node_pubkey"]);
  std::vector<nlohmann::json> exported = nlohmann::json::parse(http.Get("/v1/blocks")->body)["blocks"];
  exported.push_back(t);
  const auto verdict = harness::verify_ledger(exported, {from_hex<32>(health["node_pubkey"].get<std::string>())});
  EXPECT_TRUE(verdict.valid) << (verdict.errors.empty() ? "" : verdict.errors.front());

  EXPECT_EQ(node.stop(), 0);
  const std::string events = node.read("events.jsonl");
  EXPECT_NE(events.find(R"("kind":"block_finalized")"), std::string::npos);
  EXPECT_NE(events.find(R"("kind":"node_stopping")"), std::string::npos);
  std::istringstream lines(events);
  for (std::string line; std::getline(lines, line);) {
    const auto e = nlohmann::json::parse(line);
    EXPECT_EQ(e["source"], "trust-node");
    EXPECT_TRUE(e["time_ms"].is_number_unsigned());
    EXPECT_TRUE(e["fields"].is_object());
  }
}

/** A SimDevice on the master side of a PTY; the node opens the slave path (COBS + CRC frames). */
struct PtyDevice {
  explicit PtyDevice(uint32_t i) : dev(i, "pty-" + std::to_string(i), Behaviour::honest) {
    int slave = -1;
    char name[128];
    EXPECT_EQ(openpty(&fd, &slave, name, nullptr, nullptr), 0);
    path = name;
    termios tio{};
    tcgetattr(slave, &tio);
    cfmakeraw(&tio);
    tcsetattr(slave, TCSANOW, &tio);
    close(slave);  // the node opens it by path
    iotw_frame_decoder_init(&dec);
  }
  ~PtyDevice() { close(fd); }
  void send(const iotw_v1_Envelope &e) {
    uint8_t p[512], w[IOTW_FRAME_MAX_WIRE];
    const size_t n = iotw_msg_encode(&e, p, sizeof p);
    const uint8_t noise[] = "ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n\0";  // banner, then a delimiter
    EXPECT_GT(::write(fd, noise, sizeof noise), 0);  // the node skips it at the next 0x00
    const size_t k = iotw_frame_encode(p, n, w, sizeof w);
    EXPECT_EQ(::write(fd, w, k), static_cast<ssize_t>(k));
  }
  void on_readable() {
    uint8_t buf[256];
    const ssize_t n = read(fd, buf, sizeof buf);
    for (ssize_t i = 0; i < n; ++i) {
      const uint8_t *p;
      size_t len;
      iotw_v1_Envelope in;
      if (iotw_frame_decoder_push(&dec, buf[i], &p, &len) == IOTW_FRAME_OK && iotw_msg_decode(p, len, &in) == 0)
        if (auto out = dev.respond(in)) send(*out);
    }
  }
  SimDevice dev;
  int fd = -1;
  std::string path;
  iotw_frame_decoder dec;
};

TEST(TrustNodeDaemon, PtyDevicesRegisterAndMine) {
  PtyDevice a(1), b(2);
  Node node("[node]\ndb = \"l.sqlite\"\nseed = 3\nevents = \"events.jsonl\"\n"
            "[http]\nlisten = \"127.0.0.1:0\"\nport_file = \"http.port\"\n"
            "[[serial]]\npath = \"" + a.path + "\"\n[[serial]]\npath = \"" + b.path + "\"\nbaud = 921600\n"
            "[consensus]\nwitnesses = 1\nblock_interval_ms = 0\n");
  const int http_port = node.port("http.port");
  ASSERT_GT(http_port, 0);
  httplib::Client http("127.0.0.1", http_port);
  ASSERT_TRUE(http.Post("/v1/transactions", R"({"payload":"over serial"})", "application/json"));
  a.send(a.dev.hello());
  b.send(b.dev.hello());
  int height = 0;
  for (int i = 0; i < 300 && height < 1; ++i) {
    pollfd fds[] = {{a.fd, POLLIN, 0}, {b.fd, POLLIN, 0}};
    poll(fds, 2, 10);
    if (fds[0].revents & POLLIN) a.on_readable();
    if (fds[1].revents & POLLIN) b.on_readable();
    auto h = http.Get("/v1/health");
    ASSERT_TRUE(h);
    height = nlohmann::json::parse(h->body)["height"];
  }
  EXPECT_EQ(height, 1) << node.read("events.jsonl");
  EXPECT_TRUE(a.dev.attached);
  EXPECT_TRUE(b.dev.attached);
  EXPECT_EQ(node.stop(), 0);
  EXPECT_NE(node.read("events.jsonl").find("\"link\":\"serial:" + a.path + "\""), std::string::npos);
}

TEST(TrustNodeDaemon, BadConfigExitsTwoNamingFileAndLine) {
  Node node("[node]\ndb = \"l.sqlite\"\nseed = 1\n[consensus]\nwitnesses = 3\nblock_ms = 5\n");
  EXPECT_EQ(node.wait_exit(), 2);
  const std::string err = node.read("stderr.txt");
  EXPECT_NE(err.find("tn.toml:6: unknown key 'block_ms' in [consensus]; allowed: witnesses"), std::string::npos) << err;
}

/** `iotw-trust-node --config DIR/tn.toml --print-node-pubkey` stdout (trimmed) and exit code. */
std::pair<std::string, int> print_node_pubkey(const Node &node) {
  auto r = run_captured(IOTW_TRUST_NODE_BIN, {"--config", (node.dir / "tn.toml").string(), "--print-node-pubkey"},
                        Stderr::discard);
  while (!r.output.empty() && (r.output.back() == '\n' || r.output.back() == '\r')) r.output.pop_back();
  return {r.output, r.code};
}

TEST(TrustNodeDaemon, NodeKeyPersistsAndSignsCheckpointsOverUdp) {
  const std::string toml = R"(
[node]
db = "ledger.sqlite"
seed = 3
events = "events.jsonl"
[http]
listen = "127.0.0.1:0"
port_file = "http.port"
[udp]
listen = "127.0.0.1:0"
port_file = "udp.port"
)";
  Node node(toml);
  const int http_port = node.port("http.port"), udp_port = node.port("udp.port");
  ASSERT_GT(udp_port, 0);
  // The key file: 32 raw bytes, owner-only, next to the db.
  const auto key_file = node.dir / "ledger.sqlite.key";
  ASSERT_TRUE(fs::exists(key_file));
  EXPECT_EQ(fs::file_size(key_file), 32u);
  EXPECT_EQ(fs::status(key_file).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  httplib::Client http("127.0.0.1", http_port);
  auto h = http.Get("/v1/health");
  ASSERT_TRUE(h);
  const std::string pub_hex = nlohmann::json::parse(h->body)["node_pubkey"];
  const auto [printed, rc] = print_node_pubkey(node);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(printed, pub_hex);
  const auto pub = from_hex<32>(pub_hex);
  ASSERT_TRUE(pub);

  // A device registers and asks for a checkpoint: genesis, signed by the node key over CHECKPOINT.
  std::vector<std::unique_ptr<UdpDevice>> devs;
  devs.push_back(std::make_unique<UdpDevice>(1, udp_port));
  devs[0]->send(devs[0]->dev.hello());
  for (int i = 0; i < 200 && !devs[0]->dev.attached; ++i) serve(devs, 10);
  ASSERT_TRUE(devs[0]->dev.attached);
  iotw_v1_Envelope req = iotw_v1_Envelope_init_zero;
  req.which_body = iotw_v1_Envelope_checkpoint_request_tag;
  devs[0]->send(req);
  const iotw_v1_Envelope *got = nullptr;
  for (int i = 0; i < 200 && !got; ++i) {
    serve(devs, 10);
    for (const auto &e : devs[0]->dev.received)
      if (e.which_body == iotw_v1_Envelope_checkpoint_tag) got = &e;
  }
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->body.checkpoint.height, 0u);
  uint8_t msg[IOTW_SIG_MSG_MAX];
  const size_t n = iotw_sigmsg_checkpoint(0, got->body.checkpoint.block_hash, msg);
  EXPECT_EQ(crypto_sign_verify_detached(got->body.checkpoint.signature, msg, n, pub->data()), 0);
  EXPECT_NE(node.read("events.jsonl").find("\"node_pubkey\":\"" + pub_hex + "\""), std::string::npos);

  // Restart: the same key.
  EXPECT_EQ(node.stop(), 0);
  node.start();
  const int http2 = node.port("http.port");
  ASSERT_GT(http2, 0);
  httplib::Client again("127.0.0.1", http2);
  auto h2 = again.Get("/v1/health");
  ASSERT_TRUE(h2);
  EXPECT_EQ(nlohmann::json::parse(h2->body)["node_pubkey"], pub_hex);
}

TEST(TrustNodeDaemon, ANodeKeyFileOfTheWrongSizeIsAStartupError) {
  char tmpl[] = "/tmp/iotw-tn-key-XXXXXX";
  const fs::path dir = mkdtemp(tmpl);
  std::ofstream(dir / "bad.key") << "too short";
  Node node("[node]\ndb = \"l.sqlite\"\nseed = 1\nkey = \"" + (dir / "bad.key").string() + "\"\n");
  EXPECT_EQ(node.wait_exit(), 3);  // could not run (docs/cli.md)
  const std::string err = node.read("stderr.txt");
  EXPECT_NE(err.find("bad.key must be exactly 32 bytes (an Ed25519 seed), has 9"), std::string::npos) << err;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace iotw::tn::test
