// Issue 3 rules of the consensus core: signed/batched intake, UsageReport, rewards, witness policies,
// diversity, reputation, blacklist evidence and lifting, and hostile device messages (docs/protocol.md §5, §7).
#include "iotw/trust_node/tx_request.hpp"
#include "sim.hpp"

namespace iotw::tn::test {
namespace {

TxRequest signed_tx(const SimDevice &wallet, const std::string &text) {
  TxRequest r{Bytes(text.begin(), text.end()), TxSignature{wallet.pk, {}}};
  uint8_t msg[tx_sigmsg_len];
  tx_sigmsg(sha256(r.payload.data(), r.payload.size()), msg);
  crypto_sign_detached(r.signature->signature.data(), nullptr, msg, sizeof msg, wallet.sk.data());
  return r;
}

void run_blocks(Rig &rig, int n) {
  for (int i = 0; i < n; ++i) {
    rig.submit("blk-" + std::to_string(rig.sink.events.size()));
    rig.advance(rig.cfg.block_interval_ms);
  }
}

TEST(TxIntake, SignatureOverTxHashIsCheckedAndKept) {
  Rig rig;
  SimDevice wallet(99, "wallet", Behaviour::honest), other(98, "other", Behaviour::honest);
  TxRequest good = signed_tx(wallet, "signed one");
  TxRequest forged = signed_tx(wallet, "signed two");
  forged.signature->signature[3] ^= 1;
  TxRequest wrong_key = signed_tx(other, "signed three");
  wrong_key.signature->pubkey = wallet.pk;  // claims the wallet, signed by another key
  const auto rs = rig.core.submit_batch({good, forged, wrong_key});
  EXPECT_EQ(rs[0].status, SubmitResult::accepted);
  EXPECT_EQ(rs[1].status, SubmitResult::invalid);
  EXPECT_EQ(rs[2].status, SubmitResult::invalid);
  ASSERT_EQ(rig.mem.pending.size(), 1u);
  ASSERT_TRUE(rig.mem.pending[0].signature);
  EXPECT_EQ(rig.mem.pending[0].signature->pubkey, wallet.pk);
  EXPECT_EQ(rig.core.counters().txs_rejected, 2u);
}

TEST(TxIntake, TxSigningMessageIsTagZeroHash) {
  const Hash h = sha256(reinterpret_cast<const uint8_t *>("hello iotw"), 10);
  uint8_t msg[tx_sigmsg_len];
  ASSERT_EQ(tx_sigmsg(h, msg), 42u);
  EXPECT_EQ(to_hex(msg, 10), to_hex(reinterpret_cast<const uint8_t *>("IOTW/1/TX\0"), 10));
  EXPECT_EQ(0, std::memcmp(msg + 10, h.data(), 32));
}

// A batch stored in one ledger transaction: core_mock_test.cpp (CoreWithMocks) checks the ledger call.

std::string parse_error(std::string_view body, bool batch = false) {
  if (batch) {
    auto r = parse_tx_batch(body);
    return std::holds_alternative<TxParseError>(r) ? std::get<TxParseError>(r).message : "ok";
  }
  auto r = parse_tx_request(body);
  return std::holds_alternative<TxParseError>(r) ? std::get<TxParseError>(r).message : "ok";
}

TEST(TxIntake, SchemaViolationsAreNamed) {
  EXPECT_EQ(parse_error(R"({"payload":"x"})"), "ok");
  EXPECT_EQ(parse_error(R"({"payload":"x","pubkey":")" + std::string(64, 'a') + R"(","signature":")" +
                        std::string(128, 'b') + "\"}"),
            "ok");
  EXPECT_EQ(parse_error("not json"), "body is not valid JSON (UTF-8)");
  EXPECT_EQ(parse_error("{\"payload\":\"\xff\"}"), "body is not valid JSON (UTF-8)");
  EXPECT_EQ(parse_error("[1]"), "a transaction must be a JSON object");
  EXPECT_EQ(parse_error(R"({"payload":"x","fee":1})"), "unknown key 'fee'; allowed: payload, pubkey, signature");
  EXPECT_EQ(parse_error(R"({"payload":5})"), "payload must be a string (UTF-8 text, 1..4096 bytes)");
  EXPECT_EQ(parse_error(R"({"payload":"x","pubkey":"00"})"), "pubkey and signature come together");
  EXPECT_EQ(parse_error(R"({"payload":"x","pubkey":"zz","signature":"00"})"),
            "pubkey must be 64 hex digits (Ed25519 public key)");
  EXPECT_EQ(parse_error(std::string(max_tx_body + 1, ' ')), "body larger than 32768 bytes");
  EXPECT_EQ(parse_error(R"({"transactions":[{"payload":"a"},{"payload":"b"}]})", true), "ok");
  EXPECT_EQ(parse_error(R"({"transactions":[]})", true), "transactions must hold 1..10000 entries");
  EXPECT_EQ(parse_error(R"({"transactions":[{"payload":"a"},{"pay":"b"}]})", true),
            "transactions[1]: unknown key 'pay'; allowed: payload, pubkey, signature");
  EXPECT_EQ(parse_error(R"({"txs":[]})", true), "body must be {\"transactions\": [...]}");
}

TEST(TxIntake, NestingAndRepeatedKeysAreRefusedBeforeADocumentIsBuilt) {
  EXPECT_EQ(check_json_shape(R"({"a":[{"b":1}],"c":{"d":[]}})", 3), std::nullopt);
  EXPECT_EQ(check_json_shape(R"({"a":[{"b":[]}]})", 3), "JSON nested deeper than 3 levels");
  EXPECT_EQ(check_json_shape(std::string(1 << 20, '['), 16), "JSON nested deeper than 16 levels");
  EXPECT_EQ(check_json_shape(R"({"a":1,"a":2})", 16), "duplicate key 'a'");
  EXPECT_EQ(check_json_shape(R"({"a":{"k":1},"b":{"k":1}})", 16), std::nullopt) << "keys are per object";
  EXPECT_EQ(check_json_shape(R"({"a":1,"a":2})", 16), "duplicate key 'a'") << "compared after unescaping";
  EXPECT_EQ(check_json_shape("[1,", 16), "body is not valid JSON (UTF-8)");
  EXPECT_EQ(parse_error(R"({"payload":"x","payload":"y"})"), "duplicate key 'payload'");
  EXPECT_EQ(parse_error(R"({"transactions":[{"payload":"a","payload":"b"}]})", true), "duplicate key 'payload'");
  EXPECT_EQ(parse_error("{\"transactions\":" + std::string(100000, '[') + std::string(100000, ']') + "}", true),
            "JSON nested deeper than 16 levels");
  EXPECT_EQ(std::get<TxParseError>(parse_tx_batch(R"({"transactions":[{"payload":"a"}]})", 2)).message,
            "JSON nested deeper than 2 levels")
      << "the slow path's depth limit; the fast path (depth 3) is only taken when max_depth allows it";
}

TEST(UsageReport, AcceptedOnceRecordedAsTxAndRewardedWithTheBlock) {
  ConsensusConfig cfg;
  cfg.witnesses = 2;
  cfg.rewards = RewardsConfig{100, 10, 7};
  Rig rig(cfg);
  for (int i = 0; i < 3; ++i) rig.add();
  SimDevice &meter = rig.add();
  rig.from(meter, meter.usage(1, 1500, 3600, 3600));
  auto ok = rig.sink.of("usage_accepted");
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].fields["device"], meter.hex());
  EXPECT_EQ(ok[0].fields["seq"], 1);
  EXPECT_EQ(ok[0].fields["energy_mwh"], 1500);
  EXPECT_EQ(ok[0].fields["on_seconds"], 3600);
  EXPECT_EQ(ok[0].fields["reward"], 7);
  rig.advance(0);
  ASSERT_EQ(rig.core.height(), 1u);
  const Block &b = rig.mem.chain.back();
  ASSERT_EQ(b.txs.size(), 1u);
  const auto payload = nlohmann::json::parse(b.txs[0].payload);
  EXPECT_EQ(payload["type"], "usage");
  EXPECT_EQ(payload["device"], meter.hex());
  uint64_t expect_meter = 7;
  if (b.miner == meter.pk) expect_meter += 100;
  for (const Attestation &a : b.attestations)
    if (a.witness == meter.pk) expect_meter += 10;
  EXPECT_EQ(rig.core.balance(meter.pk), expect_meter);
  EXPECT_EQ(rig.mem.bal[meter.pk], expect_meter);

  // Replays and stale seqs are refused, also by a core restarted on the same ledger.
  rig.from(meter, meter.usage(1, 1500, 3600, 3600));
  Rig again(cfg, &rig.mem);
  again.devices.emplace(meter.link, SimDevice(meter.link, meter.name, Behaviour::honest));
  again.core.link_opened(meter.link, "t");
  again.from(again.devices.at(meter.link), again.devices.at(meter.link).hello());
  again.from(again.devices.at(meter.link), meter.usage(1, 99, 1, 1));
  auto bad = rig.sink.of("usage_rejected");
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].fields["reason"], "replay");
  ASSERT_EQ(again.sink.of("usage_rejected").size(), 1u);
  EXPECT_EQ(again.sink.of("usage_rejected")[0].fields["reason"], "replay");
  again.from(again.devices.at(meter.link), meter.usage(2, 99, 1, 1));
  EXPECT_EQ(again.sink.of("usage_accepted").size(), 1u);
}

TEST(UsageReport, ForgedMalformedAndUnregisteredAreRefused) {
  Rig rig;
  SimDevice &d = rig.add();
  auto forged = d.usage(5, 10, 10, 10);
  forged.body.usage_report.energy_mwh = 11;  // signature no longer covers the fields
  rig.from(d, forged);
  rig.from(d, d.usage(6, 10, 20, 10));  // on longer than the period
  const auto rej = rig.sink.of("usage_rejected");
  ASSERT_EQ(rej.size(), 2u);
  EXPECT_EQ(rej[0].fields["reason"], "bad_signature");
  EXPECT_EQ(rej[1].fields["reason"], "malformed");
  EXPECT_EQ(rig.core.counters().usage_rejected, 2u);
  EXPECT_EQ(d.received.back().body.error.code, 5u);
  EXPECT_TRUE(rig.mem.pending.empty());
  SimDevice stranger(50, "stranger", Behaviour::honest);
  rig.core.on_message(50, stranger.usage(1, 1, 1, 1));
  EXPECT_EQ(rig.sink.out.back().second.body.error.code, 1u);  // not registered
}

TEST(Rewards, MinerAndWitnessesAreCreditedPerFinalizedBlock) {
  ConsensusConfig cfg;
  cfg.rewards = RewardsConfig{100, 10, 5};
  Rig rig(cfg);
  for (int i = 0; i < 5; ++i) rig.add();
  run_blocks(rig, 4);
  ASSERT_EQ(rig.core.height(), 4u);
  uint64_t total = 0;
  std::map<Key, uint64_t> expect;
  for (size_t h = 1; h < rig.mem.chain.size(); ++h) {
    const Block &b = rig.mem.chain[h];
    expect[b.miner] += 100;
    for (const Attestation &a : b.attestations) expect[a.witness] += 10;
    total += 100 + 10 * b.attestations.size();
  }
  EXPECT_EQ(rig.mem.bal, expect);
  EXPECT_EQ(rig.core.counters().rewards_credited, total);
  EXPECT_EQ(rig.core.balances_json().size(), expect.size());
  EXPECT_EQ(rig.sink.of("block_finalized").back().fields["rewards"], 130);
}

TEST(WitnessPolicy, ThresholdFinalizesWithTValidAndBlacklistsTheDissenterWithEvidence) {
  ConsensusConfig cfg;
  cfg.witnesses = 3;
  cfg.policy = WitnessPolicy::threshold;
  cfg.threshold = 2;
  Rig rig(cfg);
  for (int i = 0; i < 4; ++i) rig.add();
  SimDevice &liar = rig.add(Behaviour::invert_verdict);
  for (int i = 0; i < 40 && rig.core.blacklisted_count() == 0; ++i) run_blocks(rig, 1);
  ASSERT_EQ(rig.core.blacklisted_count(), 1u);  // only the dissenter, not its honest co-witnesses
  const auto entry = rig.core.blacklist_json()[0];
  EXPECT_EQ(entry["device"], liar.hex());
  EXPECT_EQ(entry["reason"], "dissent");
  bool signed_evidence = false;
  for (const auto &a : entry["evidence"]) {
    if (a["witness"] != liar.hex()) continue;
    EXPECT_EQ(a["verdict"], "invalid");
    const auto sig = from_hex<64>(a["signature"].get<std::string>());
    const auto hash = from_hex<32>(a["block_hash"].get<std::string>());
    uint8_t msg[IOTW_SIG_MSG_MAX];
    const size_t n = iotw_sigmsg_attest(a["round_id"], hash->data(), 2, msg);
    signed_evidence = crypto_sign_verify_detached(sig->data(), msg, n, liar.pk.data()) == 0;
  }
  EXPECT_TRUE(signed_evidence);
  const auto closed = rig.sink.of("round_closed");
  for (const Event &e : closed) {
    EXPECT_EQ(e.fields["policy"], "threshold");
    EXPECT_EQ(e.fields["threshold"], 2);
    EXPECT_TRUE(e.fields["coherent"]);  // 2 of 3 valid is enough
  }
  for (const Block &b : rig.mem.chain)
    for (const Attestation &a : b.attestations) EXPECT_EQ(a.verdict, 1);
  EXPECT_EQ(rig.mem.rep[liar.pk].bad, 1u);
}

TEST(Blacklist, StrictEntriesCarryTheRoundsSignedAttestationsAndCanBeLifted) {
  Rig rig;
  for (int i = 0; i < 6; ++i) rig.add();
  rig.add(Behaviour::invert_verdict);
  for (int i = 0; i < 40 && rig.core.blacklisted_count() == 0; ++i) run_blocks(rig, 1);
  ASSERT_EQ(rig.core.blacklisted_count(), 3u);
  const auto list = rig.core.blacklist_json();
  for (const auto &e : list) {
    EXPECT_EQ(e["reason"], "incoherent_round");
    EXPECT_EQ(e["evidence"].size(), 3u);
    EXPECT_EQ(e["evidence"][0]["round_id"], e["round_id"]);
  }
  EXPECT_EQ(rig.mem.black.size(), 3u);
  EXPECT_EQ(rig.mem.black[0].evidence, list[0]["evidence"].dump());
  const Key k = *from_hex<32>(list[0]["device"].get<std::string>());
  EXPECT_TRUE(rig.core.lift_blacklist(k));
  EXPECT_FALSE(rig.core.lift_blacklist(k));
  EXPECT_EQ(rig.core.blacklisted_count(), 2u);
  EXPECT_EQ(rig.mem.black.size(), 2u);
  ASSERT_EQ(rig.sink.of("blacklist_lifted").size(), 1u);
  EXPECT_EQ(rig.sink.of("blacklist_lifted")[0].fields["device"], list[0]["device"]);
}

TEST(Diversity, WitnessesSpreadOverManufacturersAndLocationsWhenThePoolAllows) {
  ConsensusConfig cfg;
  cfg.witnesses = 2;
  cfg.device_tags = {{"a-*", "Espressif", "", "lab-1"}, {"b-*", "Nordic", "nrf52", "lab-2"}};
  Rig rig(cfg);
  for (int i = 0; i < 3; ++i) rig.add(Behaviour::honest, "a-" + std::to_string(i));
  for (int i = 0; i < 3; ++i) rig.add(Behaviour::honest, "b-" + std::to_string(i));
  run_blocks(rig, 10);
  const auto closed = rig.sink.of("round_closed");
  ASSERT_EQ(closed.size(), 10u);
  for (const Event &e : closed) {
    EXPECT_EQ(e.fields["diversity"]["manufacturers"], 2);
    EXPECT_EQ(e.fields["diversity"]["locations"], 2);
    EXPECT_EQ(e.fields["diversity"]["models"], 2);
    EXPECT_DOUBLE_EQ(e.fields["diversity"]["score"].get<double>(), 1.0);
  }
  const auto devs = rig.core.devices_json();
  EXPECT_EQ(devs[0]["tags"]["location"].get<std::string>().substr(0, 4), "lab-");
}

TEST(Reputation, WeightFollowsTheDocumentedFormula) {
  EXPECT_EQ(TrustNodeCore::reputation_weight({0, 0}), 1u << 19);                 // 1/2
  EXPECT_EQ(TrustNodeCore::reputation_weight({3, 0}), (4u << 20) / 5);            // 4/5
  EXPECT_EQ(TrustNodeCore::reputation_weight({0, 3}), (1u << 20) / 8);            // 1/8
  EXPECT_EQ(TrustNodeCore::reputation_weight({10, 1}), (11u << 20) / 14);
  EXPECT_GE(TrustNodeCore::reputation_weight({0, UINT32_MAX}), 1u);
}

TEST(Reputation, WeightedSelectionAssignsFewerBlocksToAFailingMiner) {
  auto assignments_to_bad = [](Selection sel) {
    ConsensusConfig cfg;
    cfg.witnesses = 1;
    cfg.selection = sel;
    Rig rig(cfg, nullptr, 11);
    for (int i = 0; i < 3; ++i) rig.add();
    SimDevice &bad = rig.add(Behaviour::wrong_hash);
    run_blocks(rig, 60);
    EXPECT_EQ(rig.core.height(), 60u);
    EXPECT_GT(rig.mem.rep[bad.pk].bad, 0u);
    size_t n = 0;
    for (const Event &e : rig.sink.of("assignment_sent")) n += e.fields["miner"] == bad.hex();
    // It witnesses honestly (good grows) but fails every assignment (bad grows): lowest weight of the pool.
    for (auto &[k, r] : rig.core.reputations()) {
      if (k == bad.pk) continue;
      EXPECT_LT(TrustNodeCore::reputation_weight(rig.mem.rep[bad.pk]), TrustNodeCore::reputation_weight(r));
    }
    return n;
  };
  const size_t uniform = assignments_to_bad(Selection::uniform), weighted = assignments_to_bad(Selection::reputation);
  std::cout << "assignments to the failing miner: uniform " << uniform << ", reputation " << weighted << "\n";
  EXPECT_LT(weighted, uniform);
}

TEST(HostileDevice, ResultsForAssignmentsNeverGivenAndUnexpectedMessagesGetErrors) {
  Rig rig;
  SimDevice &d = rig.add();
  iotw_v1_Envelope r = iotw_v1_Envelope_init_zero;
  r.which_body = iotw_v1_Envelope_result_tag;
  r.body.result.assignment_id = 777;
  rig.from(d, r);
  EXPECT_EQ(d.received.back().body.error.code, 3u);
  iotw_v1_Envelope w = iotw_v1_Envelope_init_zero;
  w.which_body = iotw_v1_Envelope_welcome_tag;  // node-to-device message sent by a device
  rig.from(d, w);
  EXPECT_EQ(d.received.back().body.error.code, 5u);
  iotw_v1_Envelope empty = iotw_v1_Envelope_init_zero;  // unknown/absent body
  rig.from(d, empty);
  EXPECT_EQ(d.received.back().body.error.code, 5u);
  EXPECT_EQ(rig.core.counters().messages_rejected, 3u);
  iotw_v1_Envelope a = iotw_v1_Envelope_init_zero;
  a.which_body = iotw_v1_Envelope_attestation_tag;
  a.body.attestation = d.attest(12345, d.pk.data(), true);
  rig.from(d, a);
  EXPECT_EQ(rig.sink.of("attestation_rejected").back().fields["reason"], "unknown_round");
}

}  // namespace
}  // namespace iotw::tn::test
