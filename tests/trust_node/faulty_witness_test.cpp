// Faulty witnesses (docs/trust-node.md "Faulty witnesses" and "Threat model"): only evidence that proves the
// device's own fault by itself blacklists it: a verdict it signed for the open round over another block hash than
// the node asked (and signed), or two different verdicts it signed for one round (equivocation). A replayed
// attestation and one that does not verify under its key prove nothing about it: counted and dropped. Honest
// devices (including a late first answer to an earlier round, or one whose link carries spoofed datagrams) never
// are blacklisted.
#include "sim.hpp"

namespace iotw::tn::test {
namespace {

template <class Pred>
bool submit_until(Rig &rig, Pred pred, int max = 80) {
  for (int i = 0; i < max && !pred(); ++i) {
    rig.submit("fw-tx-" + std::to_string(i));
    rig.advance(rig.cfg.block_interval_ms);
  }
  return pred();
}

size_t requests_to(const Rig &rig, const SimDevice &d) {
  size_t n = 0;
  for (const Event &e : rig.sink.of("witness_requested")) n += e.fields["witness"] == d.hex();
  return n;
}

const Event *blacklisted_event(const Rig &rig, const SimDevice &d) {
  static Event found;
  for (const Event &e : rig.sink.events)
    if (e.kind == "blacklisted" && e.fields["device"] == d.hex()) return &(found = e);
  return nullptr;
}

/// Runs blocks until bad is blacklisted; checks the event, counter, evidence and that the chain went on.
void expect_faulty(Behaviour b, const char *reason, uint64_t CoreCounters::*counter) {
  ConsensusConfig cfg;
  cfg.node_key_seed = std::array<uint8_t, 32>{7};
  Rig rig(cfg);
  for (int i = 0; i < 5; ++i) rig.add();
  SimDevice &bad = rig.add(b, "bad-01");
  ASSERT_TRUE(submit_until(rig, [&] { return blacklisted_event(rig, bad) != nullptr; }));
  const Event &bl = *blacklisted_event(rig, bad);
  EXPECT_EQ(bl.fields["reason"], std::string("attestation_") + reason);
  EXPECT_EQ(bl.fields["name"], "bad-01");
  // The rejection event names the reason, marks the witness faulty and says which round was open.
  std::vector<Event> rej;
  for (const Event &e : rig.sink.of("attestation_rejected"))
    if (e.fields["witness"] == bad.hex()) rej.push_back(e);
  ASSERT_EQ(rej.size(), 1u);
  EXPECT_EQ(rej[0].fields["reason"], reason);
  EXPECT_EQ(rej[0].fields["faulty"], true);
  EXPECT_EQ(rej[0].fields["open_round_id"], bl.fields["round_id"]);
  EXPECT_EQ(rig.core.counters().*counter, 1u);
  EXPECT_EQ(rig.core.counters().attestations_rejected, 1u);
  EXPECT_EQ(bad.received.back().which_body, iotw_v1_Envelope_error_tag);
  // Evidence: the attestation as received (it verifies over ATTEST under the device's key) and the node's own
  // signed WitnessRequest of that round (it verifies over WITNESS under the node key): self-proving.
  const nlohmann::json list = rig.core.blacklist_json();
  ASSERT_EQ(list.size(), 1u);
  const nlohmann::json ev = list[0]["evidence"][0];
  EXPECT_EQ(ev["witness"], bad.hex());
  EXPECT_EQ(ev["signature_valid"], true);
  EXPECT_EQ(ev["asked_round_id"], bl.fields["round_id"]);
  auto bytes = [](const std::string &hex) {
    std::vector<uint8_t> out;
    for (size_t i = 0; i < hex.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    return out;
  };
  const auto hash = bytes(ev["block_hash"]), sig = bytes(ev["signature"]);
  uint8_t msg[IOTW_SIG_MSG_MAX];
  size_t n = iotw_sigmsg_attest(ev["round_id"].get<uint64_t>(), hash.data(), ev["verdict"] == "valid" ? 1 : 2, msg);
  EXPECT_EQ(crypto_sign_verify_detached(sig.data(), msg, n, bad.pk.data()), 0);
  const nlohmann::json req = ev["request"];
  const auto header = bytes(req["header"]), asked = bytes(req["block_hash"]), nsig = bytes(req["node_signature"]);
  const auto miner_sig = bytes(req["miner_signature"]);
  ASSERT_EQ(header.size(), 120u);
  ASSERT_EQ(miner_sig.size(), 64u);
  EXPECT_NE(asked, hash);
  n = iotw_sigmsg_witness(req["round_id"].get<uint64_t>(), sha256(header.data(), header.size()).data(), asked.data(),
                          req["deadline_ms"].get<uint32_t>(), req["assignment_id"].get<uint64_t>(), miner_sig.data(),
                          msg);
  EXPECT_EQ(crypto_sign_verify_detached(nsig.data(), msg, n, rig.core.node_pubkey()->data()), 0);
  // The request carried the miner's own Result signature: RESULT(assignment_id, block_hash) under miner_pubkey.
  n = iotw_sigmsg_result(req["assignment_id"].get<uint64_t>(), asked.data(), msg);
  EXPECT_EQ(crypto_sign_verify_detached(miner_sig.data(), msg, n, header.data() + 84), 0);
  // The slot went to a fresh witness at once; no honest device was blacklisted; the chain goes on.
  bool replaced = false;
  for (const Event &e : rig.sink.of("witness_replaced"))
    replaced |= e.fields["witness"] == bad.hex() && e.fields["reason"] == "faulty";
  EXPECT_TRUE(replaced);
  EXPECT_EQ(rig.mem.black.size(), 1u);
  const size_t blocks = rig.mem.chain.size();
  rig.submit("after");
  rig.advance(rig.cfg.block_interval_ms);
  ASSERT_GT(rig.mem.chain.size(), blocks);
  for (size_t h = 1; h < rig.mem.chain.size(); ++h) expect_verifies(rig.mem.chain[h], rig.mem.chain[h - 1]);
  for (const Block &blk : rig.mem.chain)
    for (const Attestation &a : blk.attestations) EXPECT_NE(a.witness, bad.pk);  // none of its answers counted
  EXPECT_GE(rig.core.reputations().at(bad.pk).bad, 1u);
}

/// Runs blocks until bad's attestations were dropped `times` times; it is never blacklisted, its slots time out
/// (a reputation cost) and the chain goes on.
void expect_dropped(Behaviour b, const char *reason, uint64_t CoreCounters::*counter) {
  Rig rig;
  for (int i = 0; i < 5; ++i) rig.add();
  SimDevice &bad = rig.add(b, "bad-01");
  ASSERT_TRUE(submit_until(rig, [&] { return rig.core.counters().*counter >= 2; }, 200));
  EXPECT_TRUE(rig.mem.black.empty());
  EXPECT_TRUE(rig.sink.of("blacklisted").empty());
  for (const Event &e : rig.sink.of("attestation_rejected")) EXPECT_NE(e.fields["witness"], bad.hex());
  uint64_t reported = 0;
  for (const Event &e : rig.sink.of("attestations_dropped"))
    for (const auto &d : e.fields["by_device"]) {
      EXPECT_EQ(d["device"], bad.hex());
      EXPECT_EQ(d["reason"], reason);
      reported += d["count"].get<uint64_t>();
    }
  rig.advance(rig.cfg.witness_timeout_ms);  // the open slot (if any) times out; its drops are reported
  for (int i = 0; i < 3; ++i) rig.advance(1000);
  uint64_t all = 0;
  for (const Event &e : rig.sink.of("attestations_dropped")) all += e.fields["count"].get<uint64_t>();
  EXPECT_EQ(all, rig.core.counters().*counter);
  EXPECT_GE(all, reported);
  EXPECT_GE(rig.core.reputations().at(bad.pk).bad, 1u);  // its silent slots cost it reputation
  EXPECT_TRUE(rig.mem.black.empty());
  for (size_t h = 1; h < rig.mem.chain.size(); ++h) expect_verifies(rig.mem.chain[h], rig.mem.chain[h - 1]);
}

TEST(FaultyWitness, AttestationOverAnotherHashIsRejectedAndBlacklisted) {
  expect_faulty(Behaviour::other_hash_attestation, "wrong_hash", &CoreCounters::attestations_wrong_hash);
}

TEST(FaultyWitness, ReplayedAttestationIsDroppedNotBlacklisted) {
  expect_dropped(Behaviour::replay_attestation, "replay", &CoreCounters::attestations_replayed);
}

TEST(FaultyWitness, AttestationUnderAnotherKeyIsDroppedNotBlacklisted) {
  expect_dropped(Behaviour::wrong_key_attestation, "bad_signature", &CoreCounters::attestations_bad_signature);
}

TEST(FaultyWitness, ReplayerIsAcceptedOnceThenItsReplaysCountNothing) {
  Rig rig;
  for (int i = 0; i < 5; ++i) rig.add();
  SimDevice &bad = rig.add(Behaviour::replay_attestation, "bad-01");
  ASSERT_TRUE(submit_until(rig, [&] { return rig.core.counters().attestations_replayed >= 1; }));
  EXPECT_EQ(requests_to(rig, bad), 2u);  // the first answer was its own and honest; the second a replay
  size_t in_chain = 0;
  for (const Block &blk : rig.mem.chain)
    for (const Attestation &a : blk.attestations) in_chain += a.witness == bad.pk;
  EXPECT_EQ(in_chain, 1u);
  EXPECT_TRUE(rig.mem.black.empty());
}

TEST(FaultyWitness, SpoofedForgedAttestationsDoNotBlacklistAnHonestWitness) {
  // 126 datagrams with an honest witness's source address (so on its link), built only from what the HTTP API
  // shows (its pubkey, the round and block hash): none verifies under its key, so none counts against it.
  Rig rig;
  for (int i = 0; i < 6; ++i) rig.add(Behaviour::silent_witness);  // rounds stay open
  rig.submit("x");
  const auto reqs = rig.sink.of("witness_requested");
  ASSERT_FALSE(reqs.empty());
  SimDevice &victim = *rig.by_hex(reqs[0].fields["witness"]);
  const iotw_v1_WitnessRequest asked = std::find_if(victim.received.rbegin(), victim.received.rend(), [](const auto &e) {
    return e.which_body == iotw_v1_Envelope_witness_request_tag;
  })->body.witness_request;
  const size_t before = victim.received.size();
  for (int i = 0; i < 126; ++i) {
    iotw_v1_Envelope spoof = iotw_v1_Envelope_init_zero;
    spoof.which_body = iotw_v1_Envelope_attestation_tag;
    spoof.body.attestation.round_id = asked.round_id - (i % 3);
    std::memcpy(spoof.body.attestation.block_hash, asked.block_hash, 32);
    spoof.body.attestation.verdict = i % 2 ? iotw_v1_Verdict_VERDICT_INVALID : iotw_v1_Verdict_VERDICT_VALID;
    spoof.body.attestation.signature[i % 64] = static_cast<uint8_t>(i + 1);
    rig.core.on_message(victim.link, spoof);
  }
  rig.pump();
  EXPECT_TRUE(rig.mem.black.empty());
  EXPECT_EQ(rig.core.counters().attestations_bad_signature, 126u);
  EXPECT_EQ(victim.received.size(), before);  // nothing was answered to the spoofed source
  // The honest answer still counts.
  victim.behaviour = Behaviour::honest;
  iotw_v1_Envelope real = iotw_v1_Envelope_init_zero;
  real.which_body = iotw_v1_Envelope_attestation_tag;
  real.body.attestation = victim.attest(asked.round_id, asked.block_hash, true);
  rig.from(victim, real);
  bool counted = false;
  for (const Event &e : rig.sink.of("attestation")) counted |= e.fields["witness"] == victim.hex();
  EXPECT_TRUE(counted);
  rig.advance(1000);
  ASSERT_EQ(rig.sink.of("attestations_dropped").size(), 1u);  // aggregated: one event for the flood
  EXPECT_EQ(rig.sink.of("attestations_dropped")[0].fields["count"], 126);
}

TEST(FaultyWitness, EquivocationIsBlacklistedWithBothSignedVerdicts) {
  Rig rig;
  for (int i = 0; i < 6; ++i) rig.add(Behaviour::silent_witness);  // rounds stay open
  rig.submit("x");
  const auto reqs = rig.sink.of("witness_requested");
  ASSERT_FALSE(reqs.empty());
  SimDevice &liar = *rig.by_hex(reqs[0].fields["witness"]);
  const iotw_v1_WitnessRequest asked = std::find_if(liar.received.rbegin(), liar.received.rend(), [](const auto &e) {
    return e.which_body == iotw_v1_Envelope_witness_request_tag;
  })->body.witness_request;
  iotw_v1_Envelope first = iotw_v1_Envelope_init_zero;
  first.which_body = iotw_v1_Envelope_attestation_tag;
  first.body.attestation = liar.attest(asked.round_id, asked.block_hash, true);
  rig.from(liar, first);
  EXPECT_TRUE(rig.mem.black.empty());
  iotw_v1_Envelope second = first;
  second.body.attestation = liar.attest(asked.round_id, asked.block_hash, false);  // same round, other verdict
  rig.from(liar, second);
  ASSERT_EQ(rig.mem.black.size(), 1u);
  EXPECT_EQ(rig.mem.black[0].pubkey, liar.pk);
  EXPECT_EQ(rig.mem.black[0].reason, "attestation_equivocation");
  EXPECT_EQ(rig.core.counters().attestations_equivocation, 1u);
  const nlohmann::json ev = rig.core.blacklist_json()[0]["evidence"];
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0]["round_id"], ev[1]["round_id"]);
  EXPECT_EQ(ev[0]["verdict"], "valid");
  EXPECT_EQ(ev[1]["verdict"], "invalid");
  // The same attestation again is only a duplicate: never evidence.
  Rig calm;
  for (int i = 0; i < 6; ++i) calm.add(Behaviour::silent_witness);
  calm.submit("x");
  SimDevice &w = *calm.by_hex(calm.sink.of("witness_requested")[0].fields["witness"]);
  const iotw_v1_WitnessRequest r = std::find_if(w.received.rbegin(), w.received.rend(), [](const auto &e) {
    return e.which_body == iotw_v1_Envelope_witness_request_tag;
  })->body.witness_request;
  iotw_v1_Envelope once = iotw_v1_Envelope_init_zero;
  once.which_body = iotw_v1_Envelope_attestation_tag;
  once.body.attestation = w.attest(r.round_id, r.block_hash, true);
  calm.from(w, once);
  calm.from(w, once);
  EXPECT_TRUE(calm.mem.black.empty());
  EXPECT_EQ(calm.sink.of("attestation_rejected").back().fields["reason"], "duplicate");
}

TEST(FaultyWitness, LateFirstAnswerToAnEarlierRoundIsNotAReplay) {
  // An honest witness whose answer to round R arrives after R closed, while it holds a slot of a later round:
  // the node never had that attestation, so it is only "unknown_round" (a slow link, not a fault).
  Rig rig;
  for (int i = 0; i < 5; ++i) rig.add();
  SimDevice &slow = rig.add(Behaviour::silent_witness, "slow-01");
  ASSERT_TRUE(submit_until(rig, [&] { return requests_to(rig, slow) >= 1; }));
  // Its first request, answered only now, too late (the slot was or will be given to someone else).
  auto first = std::find_if(slow.received.begin(), slow.received.end(),
                            [](const auto &e) { return e.which_body == iotw_v1_Envelope_witness_request_tag; });
  const iotw_v1_WitnessRequest old_req = first->body.witness_request;
  rig.advance(rig.cfg.witness_timeout_ms);  // replaced as silent; the round closes with the replacement
  ASSERT_TRUE(submit_until(rig, [&] { return requests_to(rig, slow) >= 2; }));
  iotw_v1_Envelope late = iotw_v1_Envelope_init_zero;
  late.which_body = iotw_v1_Envelope_attestation_tag;
  late.body.attestation = slow.attest(old_req.round_id, old_req.block_hash, true);
  rig.from(slow, late);
  EXPECT_EQ(rig.sink.of("attestation_rejected").back().fields["reason"], "unknown_round");
  EXPECT_TRUE(rig.mem.black.empty());
  EXPECT_EQ(rig.core.counters().attestations_replayed, 0u);
  // And an accepted attestation delivered twice inside its own round is only a duplicate.
  slow.behaviour = Behaviour::honest;
  auto last = std::find_if(slow.received.rbegin(), slow.received.rend(),
                           [](const auto &e) { return e.which_body == iotw_v1_Envelope_witness_request_tag; });
  iotw_v1_Envelope answer = iotw_v1_Envelope_init_zero;
  answer.which_body = iotw_v1_Envelope_attestation_tag;
  answer.body.attestation = slow.attest(last->body.witness_request.round_id, last->body.witness_request.block_hash, true);
  rig.core.on_message(slow.link, answer);
  rig.core.on_message(slow.link, answer);
  rig.pump();
  EXPECT_TRUE(rig.mem.black.empty());
}

TEST(FaultyWitness, HonestDevicesAreNeverBlacklistedAmongFaultyOnes) {
  Rig rig;
  for (int i = 0; i < 6; ++i) rig.add();
  SimDevice &a = rig.add(Behaviour::other_hash_attestation, "bad-hash");
  SimDevice &b = rig.add(Behaviour::replay_attestation, "bad-replay");
  SimDevice &c = rig.add(Behaviour::wrong_key_attestation, "bad-key");
  ASSERT_TRUE(submit_until(rig, [&] {
    return !rig.mem.black.empty() && rig.core.counters().attestations_replayed >= 1 &&
           rig.core.counters().attestations_bad_signature >= 1;
  }, 300));
  for (int i = 0; i < 30; ++i) {
    rig.submit("more-" + std::to_string(i));
    rig.advance(rig.cfg.block_interval_ms);
  }
  // Only the device with attributable evidence (a signed verdict over another hash) is blacklisted.
  ASSERT_EQ(rig.mem.black.size(), 1u);
  EXPECT_EQ(rig.mem.black[0].pubkey, a.pk);
  EXPECT_GE(rig.core.reputations().at(b.pk).bad + rig.core.reputations().at(c.pk).bad, 1u);
  for (size_t h = 1; h < rig.mem.chain.size(); ++h) expect_verifies(rig.mem.chain[h], rig.mem.chain[h - 1]);
}

}  // namespace
}  // namespace iotw::tn::test
