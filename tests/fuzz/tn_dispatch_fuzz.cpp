// libFuzzer target: message dispatch into TrustNodeCore. Four devices are registered with real keys (so
// the fuzzer reaches the attached-device paths), one block is in flight, then the input is cut into
// envelopes (1 length byte + 1 link byte + payload) delivered on links 1..5 with ticks in between.
// An input that starts with "VRF" runs the core with selection = "vrf" (the prefix is skipped): the block in
// flight then has an open claim window, so VrfClaims (tag 14) reach the claim checks.
#include <sodium.h>

#include <cstring>
#include <random>

#include "iotw/message_codec.h"
#include "iotw/signing.h"
#include "iotw/trust_node/core.hpp"
#include "iotw/trust_node/sqlite_ledger.hpp"

namespace {
using namespace iotw::tn;

struct FixedClock final : Clock {
  uint64_t now = 1'700'000'000'000;  // ms
  uint64_t now_ns() const override { return now * 1'000'000; }
  void sleep_until_ns(uint64_t) const override {}
};
struct Rng final : Random {
  std::mt19937_64 gen{1};
  uint64_t next_u64() override { return gen(); }
};
/** Answers Challenges so the setup registrations complete; records nothing else. */
struct Sink final : CoreSink {
  void send(uint32_t link, const iotw_v1_Envelope &env) override {
    uint8_t buf[512];
    (void)iotw_msg_encode(&env, buf, sizeof buf);
    if (env.which_body == iotw_v1_Envelope_challenge_tag) nonce[link] = env;
  }
  void event(std::string_view, nlohmann::json) override {}
  std::map<uint32_t, iotw_v1_Envelope> nonce;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const bool ready = sodium_init() >= 0;
  (void)ready;
  SqliteLedger ledger(":memory:");
  FixedClock clock;
  Rng rng;
  Sink sink;
  ConsensusConfig cfg;
  cfg.witnesses = 2;
  cfg.block_interval_ms = 0;
  cfg.node_key_seed = std::array<uint8_t, 32>{9};  // CheckpointRequests (tag 15) get signed Checkpoints
  if (size >= 3 && std::memcmp(data, "VRF", 3) == 0) {
    cfg.selection = Selection::vrf;
    data += 3;
    size -= 3;
  }
  TrustNodeCore core(cfg, ledger, clock, rng, sink);
  for (uint32_t link = 1; link <= 4; ++link) {
    uint8_t seed[32] = {static_cast<uint8_t>(link)}, pk[32], sk[64];
    crypto_sign_seed_keypair(pk, sk, seed);
    core.link_opened(link, "fuzz");
    iotw_v1_Envelope hello = iotw_v1_Envelope_init_zero;
    hello.which_body = iotw_v1_Envelope_hello_tag;
    std::memcpy(hello.body.hello.pubkey, pk, 32);
    core.on_message(link, hello);
    iotw_v1_Envelope prove = iotw_v1_Envelope_init_zero;
    prove.which_body = iotw_v1_Envelope_prove_tag;
    std::memcpy(prove.body.prove.pubkey, pk, 32);
    uint8_t msg[IOTW_SIG_MSG_MAX];
    const size_t n = iotw_sigmsg_register(sink.nonce[link].body.challenge.nonce, pk, msg);
    crypto_sign_detached(prove.body.prove.signature, nullptr, msg, n, sk);
    core.on_message(link, prove);
  }
  core.submit_tx(Bytes{'f', 'u', 'z', 'z'});  // a block in flight: assignment sent
  size_t i = 0;
  while (i + 2 <= size) {
    const size_t len = data[i];
    const uint32_t link = 1 + data[i + 1] % 5;
    i += 2;
    const size_t take = std::min(len, size - i);
    iotw_v1_Envelope env;
    if (iotw_msg_decode(data + i, take, &env) == 0) core.on_message(link, env);
    i += take;
    clock.now += 100;
    core.tick();
  }
  return 0;
}
