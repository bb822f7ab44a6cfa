// A DeviceRuntime on a real PTY: the test plays the trust node on the master side and walks the device
// through registration, an assignment and a witness request, checking every signature with libsodium.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sodium.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <thread>

#include "device_runtime.hpp"
#include "fake_trust_node.hpp"

extern "C" {
#include "iotw/block_header.h"
#include "iotw/message_codec.h"
#include "iotw/signing.h"
}

namespace {
using iotw::test::FakeTrustNode;

class DeviceRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    char name[64];
    ASSERT_EQ(openpty(&master_, &slave_, name, nullptr, nullptr), 0);
    termios t{};
    tcgetattr(slave_, &t);
    cfmakeraw(&t);
    tcsetattr(slave_, TCSANOW, &t);
    slave_path_ = name;
    nvs_ = std::filesystem::temp_directory_path() / ("iotw_emu_nvs_" + std::to_string(::getpid()));
    std::filesystem::remove_all(nvs_);
    events_ = nvs_.string() + ".events.jsonl";
  }
  void TearDown() override {
    ::close(master_);
    ::close(slave_);
    std::filesystem::remove_all(nvs_);
    std::filesystem::remove(events_);
  }

  // Runs a device in a background io_context until stop().
  struct Running {
    boost::asio::io_context io;
    std::unique_ptr<iotw::emu::EventLog> log;
    std::unique_ptr<iotw::emu::DeviceRuntime> dev;
    std::thread thread;
    ~Running() {
      boost::asio::post(io, [this] { dev->stop(); });
      thread.join();
    }
  };
  std::unique_ptr<Running> run(const std::string& behaviour, const std::string& seed = "",
                               const std::vector<std::string>& links = {}) {
    auto r = std::make_unique<Running>();
    r->log = std::make_unique<iotw::emu::EventLog>(events_);
    iotw::emu::DeviceSpec spec;
    spec.name = "esp-07";
    spec.model = "esp8266";
    spec.link = links.empty() ? slave_path_ : links.front();
    spec.links = links;
    spec.nvs_dir = nvs_.string();
    spec.behaviour = behaviour;
    spec.seed = seed;
    r->dev = std::make_unique<iotw::emu::DeviceRuntime>(r->io, spec, iotw::emu::chip_profile("esp8266"), *r->log);
    r->dev->start();
    r->thread = std::thread([io = &r->io] { io->run(); });
    return r;
  }

  // An Assignment (no node signature) of a version-1 header at height whose miner is pk.
  static iotw_v1_Envelope assignment_for(const std::array<uint8_t, 32>& pk, uint64_t height, uint64_t assignment_id) {
    iotw_block_header h{};
    h.version = 1;
    h.height = height;
    memcpy(h.miner_pubkey, pk.data(), 32);
    iotw_v1_Envelope a = iotw_v1_Envelope_init_zero;
    a.which_body = iotw_v1_Envelope_assignment_tag;
    a.body.assignment.assignment_id = assignment_id;
    iotw_block_header_pack(&h, a.body.assignment.header);
    return a;
  }

  // Registers the device; returns its public key.
  std::array<uint8_t, 32> register_device(FakeTrustNode& node) {
    iotw_v1_Envelope m;
    EXPECT_TRUE(node.expect(iotw_v1_Envelope_hello_tag, m));
    EXPECT_STREQ(m.body.hello.name, "esp-07");
    EXPECT_STREQ(m.body.hello.model, "esp8266");
    std::array<uint8_t, 32> pk;
    memcpy(pk.data(), m.body.hello.pubkey, 32);
    iotw_v1_Envelope ch = iotw_v1_Envelope_init_zero;
    ch.which_body = iotw_v1_Envelope_challenge_tag;
    randombytes_buf(ch.body.challenge.nonce, 32);
    node.send(ch);
    EXPECT_TRUE(node.expect(iotw_v1_Envelope_prove_tag, m));
    uint8_t msg[IOTW_SIG_MSG_MAX];
    size_t n = iotw_sigmsg_register(ch.body.challenge.nonce, pk.data(), msg);
    EXPECT_EQ(crypto_sign_verify_detached(m.body.prove.signature, msg, n, pk.data()), 0);
    iotw_v1_Envelope w = iotw_v1_Envelope_init_zero;
    w.which_body = iotw_v1_Envelope_welcome_tag;
    w.body.welcome.heartbeat_interval_ms = 200;
    node.send(w);
    return pk;
  }

  int master_ = -1, slave_ = -1;
  std::string slave_path_;
  std::filesystem::path nvs_;
  std::string events_;
};

}  // namespace

TEST_F(DeviceRuntimeTest, RegistersMinesAndWitnessesOverAPty) {
  auto r = run("honest");
  FakeTrustNode node(master_);
  auto pk = register_device(node);

  const iotw_v1_Envelope a = assignment_for(pk, 5, 11);
  node.send(a);
  iotw_v1_Envelope m;
  ASSERT_TRUE(node.expect(iotw_v1_Envelope_result_tag, m));
  uint8_t hash[32], msg[IOTW_SIG_MSG_MAX];
  crypto_hash_sha256(hash, a.body.assignment.header, IOTW_BLOCK_HEADER_SIZE);
  EXPECT_EQ(0, memcmp(m.body.result.block_hash, hash, 32));
  size_t n = iotw_sigmsg_result(11, hash, msg);
  EXPECT_EQ(crypto_sign_verify_detached(m.body.result.signature, msg, n, pk.data()), 0);

  iotw_v1_Envelope wr = iotw_v1_Envelope_init_zero;
  wr.which_body = iotw_v1_Envelope_witness_request_tag;
  wr.body.witness_request.round_id = 3;
  memcpy(wr.body.witness_request.header, a.body.assignment.header, IOTW_BLOCK_HEADER_SIZE);
  memcpy(wr.body.witness_request.block_hash, hash, 32);
  wr.body.witness_request.assignment_id = 11;  // its own Result: the miner's signature verifies
  memcpy(wr.body.witness_request.miner_signature, m.body.result.signature, 64);
  node.send(wr);
  ASSERT_TRUE(node.expect(iotw_v1_Envelope_attestation_tag, m));
  EXPECT_EQ(m.body.attestation.verdict, iotw_v1_Verdict_VERDICT_VALID);
  n = iotw_sigmsg_attest(3, hash, iotw_v1_Verdict_VERDICT_VALID, msg);
  EXPECT_EQ(crypto_sign_verify_detached(m.body.attestation.signature, msg, n, pk.data()), 0);
  EXPECT_TRUE(node.expect(iotw_v1_Envelope_heartbeat_tag, m));
  EXPECT_EQ(r->dev->state(), IOTW_FW_ATTACHED);
}

TEST_F(DeviceRuntimeTest, ByzantineWitnessSignsTheInvertedVerdict) {
  auto r = run("invert_verdict");
  FakeTrustNode node(master_);
  auto pk = register_device(node);
  iotw_v1_Envelope wr = iotw_v1_Envelope_init_zero;
  wr.which_body = iotw_v1_Envelope_witness_request_tag;
  wr.body.witness_request.round_id = 4;
  iotw_block_header h{};
  h.version = 1;
  uint8_t mpk[32], msk[64], msg[IOTW_SIG_MSG_MAX];  // a valid block: another miner's, signed by it
  crypto_sign_keypair(mpk, msk);
  memcpy(h.miner_pubkey, mpk, 32);
  iotw_block_header_pack(&h, wr.body.witness_request.header);
  crypto_hash_sha256(wr.body.witness_request.block_hash, wr.body.witness_request.header, IOTW_BLOCK_HEADER_SIZE);
  wr.body.witness_request.assignment_id = 9;
  crypto_sign_detached(wr.body.witness_request.miner_signature, nullptr, msg,
                       iotw_sigmsg_result(9, wr.body.witness_request.block_hash, msg), msk);
  node.send(wr);
  iotw_v1_Envelope m;
  ASSERT_TRUE(node.expect(iotw_v1_Envelope_attestation_tag, m));
  EXPECT_EQ(m.body.attestation.verdict, iotw_v1_Verdict_VERDICT_INVALID);
  size_t n = iotw_sigmsg_attest(4, wr.body.witness_request.block_hash, iotw_v1_Verdict_VERDICT_INVALID, msg);
  EXPECT_EQ(crypto_sign_verify_detached(m.body.attestation.signature, msg, n, pk.data()), 0);
}

TEST_F(DeviceRuntimeTest, ColluderSignsTheGroupsFalseVerdictWhateverTheBlock) {
  auto r = run("collude");
  FakeTrustNode node(master_);
  auto pk = register_device(node);
  iotw_block_header h{};
  h.version = 1;
  uint8_t mpk[32], msk[64];  // the miner, whose Result signature rides in each request
  crypto_sign_keypair(mpk, msk);
  memcpy(h.miner_pubkey, mpk, 32);
  // Round 5: a valid block (an honest witness says valid). Round 6: its hash is wrong (an honest witness
  // says invalid, an invert_verdict one valid). The colluder signs "invalid" both times.
  for (uint64_t round : {5u, 6u}) {
    iotw_v1_Envelope wr = iotw_v1_Envelope_init_zero;
    wr.which_body = iotw_v1_Envelope_witness_request_tag;
    wr.body.witness_request.round_id = round;
    iotw_block_header_pack(&h, wr.body.witness_request.header);
    crypto_hash_sha256(wr.body.witness_request.block_hash, wr.body.witness_request.header, IOTW_BLOCK_HEADER_SIZE);
    if (round == 6) wr.body.witness_request.block_hash[0] ^= 0xff;
    wr.body.witness_request.assignment_id = round;
    uint8_t rm[IOTW_SIG_MSG_MAX];
    crypto_sign_detached(wr.body.witness_request.miner_signature, nullptr, rm,
                         iotw_sigmsg_result(round, wr.body.witness_request.block_hash, rm), msk);
    node.send(wr);
    iotw_v1_Envelope m;
    ASSERT_TRUE(node.expect(iotw_v1_Envelope_attestation_tag, m));
    EXPECT_EQ(m.body.attestation.round_id, round);
    EXPECT_EQ(m.body.attestation.verdict, iotw_v1_Verdict_VERDICT_INVALID) << "round " << round;
    uint8_t msg[IOTW_SIG_MSG_MAX];
    size_t n = iotw_sigmsg_attest(round, wr.body.witness_request.block_hash, iotw_v1_Verdict_VERDICT_INVALID, msg);
    EXPECT_EQ(crypto_sign_verify_detached(m.body.attestation.signature, msg, n, pk.data()), 0);
  }
}

TEST_F(DeviceRuntimeTest, IdentitySurvivesARestartOfTheEmulator) {
  std::array<uint8_t, 32> first, second;
  {
    auto r = run("honest");
    FakeTrustNode node(master_);
    iotw_v1_Envelope m;
    ASSERT_TRUE(node.expect(iotw_v1_Envelope_hello_tag, m));
    memcpy(first.data(), m.body.hello.pubkey, 32);
    EXPECT_EQ(m.body.hello.boot_count, 1u);
  }
  auto r = run("honest");
  FakeTrustNode node(master_);
  iotw_v1_Envelope m;
  ASSERT_TRUE(node.expect(iotw_v1_Envelope_hello_tag, m));
  memcpy(second.data(), m.body.hello.pubkey, 32);
  EXPECT_EQ(first, second);
  EXPECT_EQ(m.body.hello.boot_count, 2u);
}

// A seeded device (emu.toml seed, derived by the harness from the rig seed and the name): on a blank flash its key is
// the Ed25519 key of the first 32 bytes of its seed's hash DRBG (SHA-256(seed || boot 0 || block 0)), every time.
TEST_F(DeviceRuntimeTest, SeededDeviceOnABlankFlashHasTheKeyItsSeedGives) {
  const std::string seed_hex = "aff5cb3a8f9abea0ed005d8c043b4cb395e5ef8f92be600c3daa5896fa87e93f";
  uint8_t in[44] = {}, id_seed[32], pk[32], sk[64];
  for (int i = 0; i < 32; i++) in[i] = static_cast<uint8_t>(std::stoi(seed_hex.substr(2 * i, 2), nullptr, 16));
  crypto_hash_sha256(id_seed, in, sizeof in);
  crypto_sign_seed_keypair(pk, sk, id_seed);
  const std::array<uint8_t, 32> expected = [&] { std::array<uint8_t, 32> a; memcpy(a.data(), pk, 32); return a; }();
  for (int round = 0; round < 2; ++round) {
    std::filesystem::remove_all(nvs_);  // a blank flash each time
    auto r = run("honest", seed_hex);
    FakeTrustNode node(master_);
    iotw_v1_Envelope m;
    ASSERT_TRUE(node.expect(iotw_v1_Envelope_hello_tag, m));
    std::array<uint8_t, 32> got;
    memcpy(got.data(), m.body.hello.pubkey, 32);
    EXPECT_EQ(got, expected) << "round " << round;
  }
}

// The mutant no_nvs (host layer: ports/host keeps NVS in RAM, the runtime drops it at every boot): a new key and
// boot_count 1 after a software reset, and nothing ever written to the NVS directory.
TEST_F(DeviceRuntimeTest, NoNvsMutantHasANewKeyAfterAReboot) {
  auto r = run("no_nvs");
  FakeTrustNode node(master_);
  iotw_v1_Envelope m;
  ASSERT_TRUE(node.expect(iotw_v1_Envelope_hello_tag, m));
  std::array<uint8_t, 32> first, second;
  memcpy(first.data(), m.body.hello.pubkey, 32);
  boost::asio::post(r->io, [&] { r->dev->reboot(); });
  ASSERT_TRUE(node.expect(iotw_v1_Envelope_hello_tag, m));
  while (m.body.hello.reset_reason != 3u) ASSERT_TRUE(node.expect(iotw_v1_Envelope_hello_tag, m));  // Hello retries
  memcpy(second.data(), m.body.hello.pubkey, 32);
  EXPECT_NE(first, second);
  EXPECT_EQ(m.body.hello.boot_count, 1u);
  EXPECT_FALSE(std::filesystem::exists(nvs_));
}

// The mutant reset_on_garbage: the firmware core panics on a long rejected byte run and the runtime resets the
// chip (a software reset, cause "panic"); the identity is kept (NVS).
TEST_F(DeviceRuntimeTest, ResetOnGarbageMutantResetsTheChipOnLineNoise) {
  auto r = run("reset_on_garbage");
  FakeTrustNode node(master_);
  const auto pk = register_device(node);
  std::vector<uint8_t> noise(300);
  for (size_t i = 0; i < noise.size(); i++) noise[i] = static_cast<uint8_t>(1 + (i * 37) % 255);
  noise.push_back(0);
  ASSERT_EQ(::write(master_, noise.data(), noise.size()), static_cast<ssize_t>(noise.size()));
  iotw_v1_Envelope m;
  ASSERT_TRUE(node.expect(iotw_v1_Envelope_hello_tag, m));
  EXPECT_EQ(m.body.hello.boot_count, 2u);
  EXPECT_EQ(m.body.hello.reset_reason, 3u);  // ESP_RST_SW: the panic handler restarts the chip
  EXPECT_EQ(0, memcmp(m.body.hello.pubkey, pk.data(), 32));
}

// The reference ignores the same noise and stays attached.
TEST_F(DeviceRuntimeTest, HonestDeviceIgnoresLineNoise) {
  auto r = run("honest");
  FakeTrustNode node(master_);
  register_device(node);
  std::vector<uint8_t> noise(300);
  for (size_t i = 0; i < noise.size(); i++) noise[i] = static_cast<uint8_t>(1 + (i * 37) % 255);
  noise.push_back(0);
  ASSERT_EQ(::write(master_, noise.data(), noise.size()), static_cast<ssize_t>(noise.size()));
  iotw_v1_Envelope m;
  ASSERT_TRUE(node.expect(iotw_v1_Envelope_heartbeat_tag, m));
  ASSERT_TRUE(node.expect(iotw_v1_Envelope_heartbeat_tag, m));  // still heartbeating after the noise
  EXPECT_EQ(r->dev->state(), IOTW_FW_ATTACHED);
  EXPECT_EQ(r->dev->boot_count(), 1u);
}

// A device that knows two trust nodes (pool key `links`): the first answers its Hello with Error 6 (not assigning,
// docs/protocol.md §6 "Several trust nodes (mesh failover)"); the device registers on the second and works there.
TEST_F(DeviceRuntimeTest, WithTwoLinksItRegistersOnTheSecondWhenTheFirstIsNotAssigning) {
  int master2 = -1, slave2 = -1;
  char name2[64];
  ASSERT_EQ(openpty(&master2, &slave2, name2, nullptr, nullptr), 0);
  termios t{};
  tcgetattr(slave2, &t);
  cfmakeraw(&t);
  tcsetattr(slave2, TCSANOW, &t);
  const std::string second_path = name2;
  {
    auto r = run("honest", "", {slave_path_, second_path});
    FakeTrustNode first(master_), second(master2);
    iotw_v1_Envelope m;
    ASSERT_TRUE(first.expect(iotw_v1_Envelope_hello_tag, m));
    iotw_v1_Envelope err = iotw_v1_Envelope_init_zero;
    err.which_body = iotw_v1_Envelope_error_tag;
    err.body.error.code = 6;
    std::strcpy(err.body.error.text, "not_assigning");
    first.send(err);
    const auto pk = register_device(second);  // Hello, Challenge, Prove, Welcome on the second link
    ASSERT_TRUE(second.expect(iotw_v1_Envelope_heartbeat_tag, m));  // attached there
    // It works on the second node: an Assignment gets its Result there.
    second.send(assignment_for(pk, 7, 21));
    ASSERT_TRUE(second.expect(iotw_v1_Envelope_result_tag, m));
    EXPECT_EQ(m.body.result.assignment_id, 21u);
    EXPECT_FALSE(first.expect(iotw_v1_Envelope_heartbeat_tag, m, 300)) << "nothing goes to the first node any more";
    EXPECT_EQ(r->dev->node_index(), 1u);
    EXPECT_EQ(r->dev->stats().failovers, 1u);
    EXPECT_EQ(r->dev->boot_count(), 1u);  // a failover is not a reset
  }
  ::close(master2);
  ::close(slave2);
  std::vector<nlohmann::json> selected;
  std::ifstream in(events_);
  for (std::string line; std::getline(in, line);) {
    const auto e = nlohmann::json::parse(line, nullptr, false);
    if (e.is_object() && e.value("kind", "") == "node_selected") selected.push_back(e["fields"]);
  }
  ASSERT_EQ(selected.size(), 2u);
  EXPECT_EQ(selected[0]["index"], 0);
  EXPECT_EQ(selected[0]["reason"], "boot");
  EXPECT_EQ(selected[1]["index"], 1);
  EXPECT_EQ(selected[1]["link"], second_path);
  EXPECT_EQ(selected[1]["reason"], "not_assigning");
}
