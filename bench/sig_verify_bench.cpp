// Signature verifications/s: raw libsodium crypto_sign_verify_detached versus the same check done inside
// TrustNodeCore (a UsageReport from an attached device through on_message: dispatch, USAGE message build,
// verify, reject + event). The ratio core/raw is what the trust node keeps of the raw crypto speed. Also the
// cost of signing one block's finalization record.
#include <benchmark/benchmark.h>
#include <sodium.h>

#include <array>
#include <cstring>
#include <random>

#include "iotw/signing.h"
#include "iotw/trust_node/core.hpp"
#include "iotw/trust_node/sqlite_ledger.hpp"

namespace {
using namespace iotw::tn;

struct Fixed final : Clock {
  uint64_t now_ns() const override { return 1'700'000'000'000'000'000; }
  void sleep_until_ns(uint64_t) const override {}
};
struct Rng final : Random {
  std::mt19937_64 g{1};
  uint64_t next_u64() override { return g(); }
};
struct Sink final : CoreSink {
  void send(uint32_t, const iotw_v1_Envelope &e) override { last = e; }
  void event(std::string_view, nlohmann::json) override {}
  iotw_v1_Envelope last;
};

void BM_RawVerify(benchmark::State &st) {
  uint8_t pk[32], sk[64], msg[IOTW_SIG_MSG_MAX], sig[64];
  crypto_sign_keypair(pk, sk);
  const size_t n = iotw_sigmsg_usage(1, 2, 3, 4, msg);
  crypto_sign_detached(sig, nullptr, msg, n, sk);
  sig[0] ^= 1;  // same cost as a valid one; matches the core case below
  for (auto _ : st) benchmark::DoNotOptimize(crypto_sign_verify_detached(sig, msg, n, pk));
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_RawVerify);

void BM_CoreUsageVerify(benchmark::State &st) {
  SqliteLedger ledger(":memory:");
  Fixed clock;
  Rng rng;
  Sink sink;
  TrustNodeCore core({}, ledger, clock, rng, sink);
  uint8_t pk[32], sk[64], msg[IOTW_SIG_MSG_MAX];
  crypto_sign_keypair(pk, sk);
  core.link_opened(1, "bench");
  iotw_v1_Envelope e = iotw_v1_Envelope_init_zero;
  e.which_body = iotw_v1_Envelope_hello_tag;
  std::memcpy(e.body.hello.pubkey, pk, 32);
  core.on_message(1, e);
  const iotw_v1_Envelope challenge = sink.last;
  e = iotw_v1_Envelope_init_zero;
  e.which_body = iotw_v1_Envelope_prove_tag;
  std::memcpy(e.body.prove.pubkey, pk, 32);
  size_t n = iotw_sigmsg_register(challenge.body.challenge.nonce, pk, msg);
  crypto_sign_detached(e.body.prove.signature, nullptr, msg, n, sk);
  core.on_message(1, e);
  e = iotw_v1_Envelope_init_zero;
  e.which_body = iotw_v1_Envelope_usage_report_tag;
  e.body.usage_report = {1, 2, 3, 4, {}};
  n = iotw_sigmsg_usage(1, 2, 3, 4, msg);
  crypto_sign_detached(e.body.usage_report.signature, nullptr, msg, n, sk);
  e.body.usage_report.signature[0] ^= 1;  // verified and rejected: no storage cost in the loop
  for (auto _ : st) core.on_message(1, e);
  if (core.counters().usage_rejected != static_cast<uint64_t>(st.iterations())) st.SkipWithError("not verified");
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_CoreUsageVerify);

// The node's per-block finalization record (docs/protocol.md §8 rule 14): hash 3 attestations and 8 VRF claims,
// build FINALIZE, one Ed25519 signature. Paid once per block, never per transaction.
void BM_SignFinalization(benchmark::State &st) {
  uint8_t pk[32];
  std::array<uint8_t, 64> sk{};
  crypto_sign_keypair(pk, sk.data());
  Block b;
  b.height = 7;
  b.attestations.resize(3);
  b.vrf_round = VrfRound{3, 0, std::vector<VrfClaim>(8)};
  const Finalization f{1, 3, 3, 3, {}};
  for (auto _ : st) benchmark::DoNotOptimize(sign_finalization(b, f, sk));
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_SignFinalization);

}  // namespace
