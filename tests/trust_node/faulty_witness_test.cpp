// Faulty witnesses (docs/trust-node.md "Faulty witnesses", issue 6's Byzantine behaviours): an attestation over
// another block hash, a replayed attestation of an earlier round and one signed with another key are rejected
// with an event and a counter, and the witness is blacklisted with the attestation as evidence; honest devices
// (including a late first answer to an earlier round) never are.
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
void expect_faulty(Behaviour b, const char *reason, uint64_t CoreCounters::*counter, bool signature_valid) {
  Rig rig;
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
  // Evidence: the attestation as received, and whether it verifies over ATTEST under the device's key.
  const nlohmann::json list = rig.core.blacklist_json();
  ASSERT_EQ(list.size(), 1u);
  const nlohmann::json ev = list[0]["evidence"][0];
  EXPECT_EQ(ev["witness"], bad.hex());
  EXPECT_EQ(ev["signature_valid"], signature_valid);
  EXPECT_EQ(ev["asked_round_id"], bl.fields["round_id"]);
  auto bytes = [](const std::string &hex) {
    std::vector<uint8_t> out;
    for (size_t i = 0; i < hex.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    return out;
  };
  const auto hash = bytes(ev["block_hash"]), sig = bytes(ev["signature"]);
  uint8_t msg[IOTW_SIG_MSG_MAX];
  const size_t n = iotw_sigmsg_attest(ev["round_id"].get<uint64_t>(), hash.data(), ev["verdict"] == "valid" ? 1 : 2, msg);
  EXPECT_EQ(crypto_sign_verify_detached(sig.data(), msg, n, bad.pk.data()) == 0, signature_valid);
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
  if (b != Behaviour::replay_attestation) {  // (the replayer's first, honest answer counts)
    for (const Block &blk : rig.mem.chain)
      for (const Attestation &a : blk.attestations) {
        EXPECT_NE(a.witness, bad.pk);  // none of its answers counted
      }
  }
  EXPECT_GE(rig.core.reputations().at(bad.pk).bad, 1u);
}

TEST(FaultyWitness, AttestationOverAnotherHashIsRejectedAndBlacklisted) {
  expect_faulty(Behaviour::other_hash_attestation, "wrong_hash", &CoreCounters::attestations_wrong_hash, true);
}

TEST(FaultyWitness, ReplayedAttestationIsRejectedAndBlacklisted) {
  expect_faulty(Behaviour::replay_attestation, "replay", &CoreCounters::attestations_replayed, true);
}

TEST(FaultyWitness, AttestationUnderAnotherKeyIsRejectedAndBlacklisted) {
  expect_faulty(Behaviour::wrong_key_attestation, "bad_signature", &CoreCounters::attestations_bad_signature, false);
}

TEST(FaultyWitness, ReplayerIsAcceptedOnceThenCaughtAtItsNextRequest) {
  Rig rig;
  for (int i = 0; i < 5; ++i) rig.add();
  SimDevice &bad = rig.add(Behaviour::replay_attestation, "bad-01");
  ASSERT_TRUE(submit_until(rig, [&] { return blacklisted_event(rig, bad) != nullptr; }));
  EXPECT_EQ(requests_to(rig, bad), 2u);  // the first answer was its own and honest; the second a replay
  size_t in_chain = 0;
  for (const Block &blk : rig.mem.chain)
    for (const Attestation &a : blk.attestations) in_chain += a.witness == bad.pk;
  EXPECT_EQ(in_chain, 1u);
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
  ASSERT_TRUE(submit_until(rig, [&] { return rig.mem.black.size() >= 3; }, 200));
  std::set<Key> black;
  for (const BlacklistEntry &e : rig.mem.black) black.insert(e.pubkey);
  EXPECT_EQ(black, (std::set<Key>{a.pk, b.pk, c.pk}));
  for (int i = 0; i < 30; ++i) {
    rig.submit("more-" + std::to_string(i));
    rig.advance(rig.cfg.block_interval_ms);
  }
  EXPECT_EQ(rig.mem.black.size(), 3u);
  for (size_t h = 1; h < rig.mem.chain.size(); ++h) expect_verifies(rig.mem.chain[h], rig.mem.chain[h - 1]);
}

}  // namespace
}  // namespace iotw::tn::test
