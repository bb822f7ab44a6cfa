// Consensus core (docs/protocol.md §7) driven by scripted devices with real Ed25519 keys.
#include "sim.hpp"

namespace iotw::tn::test {
namespace {

/** Submit txs one by one until pred() holds (the seeded RNG decides who is picked); bounded. */
template <class Pred>
bool submit_until(Rig &rig, Pred pred, int max = 60) {
  for (int i = 0; i < max && !pred(); ++i) {
    rig.submit("tx-" + std::to_string(i));
    rig.advance(rig.cfg.block_interval_ms);
  }
  return pred();
}

bool requested_as_witness(Rig &rig, const SimDevice &d) {
  for (const Event &e : rig.sink.of("witness_requested"))
    if (e.fields["witness"] == d.hex()) return true;
  return false;
}

TEST(TrustNodeCore, WritesGenesisOnFirstStart) {
  Rig rig;
  ASSERT_EQ(rig.mem.chain.size(), 1u);
  const nlohmann::json g = block_to_json(rig.mem.chain[0]);
  EXPECT_EQ(g["height"], 0);
  EXPECT_EQ(g["tx_root"], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(g["prev_hash"], std::string(64, '0'));
  EXPECT_EQ(g["miner_signature"], "");
  EXPECT_EQ(g["header"].get<std::string>().substr(0, 8), "01000000");
  EXPECT_TRUE(g["attestations"].empty());
}

TEST(TrustNodeCore, RegistersDeviceWithChallengeResponse) {
  Rig rig;
  SimDevice &d = rig.add();
  EXPECT_TRUE(d.attached);
  ASSERT_EQ(rig.sink.of("device_registered").size(), 1u);
  const nlohmann::json f = rig.sink.of("device_registered")[0].fields;
  EXPECT_EQ(f["device"], d.hex());
  EXPECT_EQ(f["name"], "dev-1");
  EXPECT_EQ(f["link"], "test:1");
  EXPECT_EQ(f["new"], true);
  EXPECT_EQ(rig.core.attached_count(), 1u);
  EXPECT_EQ(rig.mem.devs.count(d.pk), 1u);
  ASSERT_GE(d.received.size(), 2u);  // ... Welcome, then the HeartbeatAck of the device's first Heartbeat
  const auto &welcome = d.received[d.received.size() - 2];
  ASSERT_EQ(welcome.which_body, iotw_v1_Envelope_welcome_tag);
  EXPECT_EQ(welcome.body.welcome.heartbeat_interval_ms, rig.cfg.device_timeout_ms / 5);
}

TEST(TrustNodeCore, RejectsBadProof) {
  Rig rig;
  SimDevice &d = rig.add(Behaviour::bad_proof);
  EXPECT_FALSE(d.attached);
  EXPECT_EQ(rig.core.attached_count(), 0u);
  EXPECT_TRUE(rig.sink.of("device_registered").empty());
  ASSERT_EQ(rig.sink.of("registration_rejected").size(), 1u);
  EXPECT_EQ(rig.sink.of("registration_rejected")[0].fields["reason"], "bad_signature");
  ASSERT_EQ(d.received.back().which_body, iotw_v1_Envelope_error_tag);
  EXPECT_EQ(d.received.back().body.error.code, 2u);
  EXPECT_EQ(rig.core.counters().registrations_rejected, 1u);
}

TEST(TrustNodeCore, UnregisteredDeviceIsToldToSendHello) {
  Rig rig;
  SimDevice &d = rig.add(Behaviour::bad_proof);
  iotw_v1_Envelope hb = iotw_v1_Envelope_init_zero;
  hb.which_body = iotw_v1_Envelope_heartbeat_tag;
  rig.core.on_message(d.link, hb);
  rig.pump();
  ASSERT_EQ(d.received.back().which_body, iotw_v1_Envelope_error_tag);
  EXPECT_EQ(d.received.back().body.error.code, 1u);
}

TEST(TrustNodeCore, ReHelloFromKnownKeyReattaches) {
  Rig rig;
  SimDevice &d = rig.add();
  d.boot_count = 2;
  rig.core.on_message(d.link, d.hello());
  rig.pump();
  const auto regs = rig.sink.of("device_registered");
  ASSERT_EQ(regs.size(), 2u);
  EXPECT_EQ(regs[1].fields["new"], false);
  EXPECT_EQ(regs[1].fields["boot_count"], 2);
  EXPECT_EQ(rig.mem.devs.at(d.pk).boot_count, 2u);
  EXPECT_EQ(rig.core.attached_count(), 1u);
}

TEST(TrustNodeCore, HeartbeatsKeepDeviceAttachedSilenceDetaches) {
  Rig rig;
  SimDevice &d = rig.add();
  iotw_v1_Envelope hb = iotw_v1_Envelope_init_zero;
  hb.which_body = iotw_v1_Envelope_heartbeat_tag;
  hb.body.heartbeat.seq = 7;
  for (int i = 0; i < 3; ++i) {
    rig.advance(rig.cfg.device_timeout_ms - 1);
    rig.core.on_message(d.link, hb);
    rig.pump();
  }
  ASSERT_EQ(d.received.back().which_body, iotw_v1_Envelope_heartbeat_ack_tag);
  EXPECT_EQ(d.received.back().body.heartbeat_ack.seq, 7u);
  EXPECT_EQ(rig.core.attached_count(), 1u);
  rig.advance(rig.cfg.device_timeout_ms);
  EXPECT_EQ(rig.core.attached_count(), 0u);
  ASSERT_EQ(rig.sink.of("device_detached").size(), 1u);
  EXPECT_EQ(rig.sink.of("device_detached")[0].fields["reason"], "timeout");
}

bool attached(Rig &rig, const SimDevice &d) {
  for (const auto &j : rig.core.devices_json())
    if (j["device"] == d.hex()) return j["attached"].get<bool>();
  return false;
}

// §6 "Liveness": Welcome announces device_timeout_ms / 5; a device that heartbeats at that interval (or skips
// every other one) is never detached, however long it runs; a silent one is detached after device_timeout_ms.
TEST(TrustNodeCore, HeartbeatAtTheWelcomeIntervalNeverTimesOutSilenceDetachesAfterDeviceTimeout) {
  Rig rig;
  SimDevice &steady = rig.add(Behaviour::honest, "steady");
  SimDevice &skipper = rig.add(Behaviour::honest, "skipper");
  SimDevice &silent = rig.add(Behaviour::honest, "silent");
  const uint64_t interval = rig.cfg.heartbeat_interval_ms();
  ASSERT_EQ(interval * 5, rig.cfg.device_timeout_ms);
  uint64_t silent_for = 0;
  for (int beat = 1; beat <= 100; ++beat) {
    rig.advance(interval);
    silent_for += interval;
    rig.from(steady, steady.heartbeat());
    if (beat % 2 == 0) rig.from(skipper, skipper.heartbeat());
    EXPECT_EQ(attached(rig, silent), silent_for < rig.cfg.device_timeout_ms) << "after " << silent_for << " ms";
  }
  EXPECT_TRUE(attached(rig, steady));
  EXPECT_TRUE(attached(rig, skipper));
  ASSERT_EQ(rig.sink.of("device_detached").size(), 1u);  // no flapping: one detach, the silent device's
  EXPECT_EQ(rig.sink.of("device_detached")[0].fields["name"], "silent");
  EXPECT_EQ(rig.sink.of("device_registered").size(), 3u);
}

// §6 step 6: a lost Welcome (UDP) leaves the device unregistered in its own eyes; the node gives it no work until
// its first Heartbeat shows it was welcomed. Its Hello retry gets a fresh Challenge and a new Welcome.
TEST(TrustNodeCore, DeviceGetsNoWorkUntilItsFirstHeartbeatAfterWelcome) {
  ConsensusConfig cfg;
  cfg.witnesses = 1;
  Rig rig(cfg);
  SimDevice &a = rig.add(Behaviour::honest, "welcomed");
  const uint32_t link = 2;
  auto &lost = rig.devices.emplace(link, SimDevice(link, "welcome-lost", Behaviour::honest)).first->second;
  lost.lose_next_welcome = true;
  rig.core.link_opened(link, "test:2");
  rig.from(lost, lost.hello());
  ASSERT_EQ(rig.sink.of("device_registered").size(), 2u);  // the node sent its Welcome ...
  ASSERT_FALSE(lost.attached);                              // ... which never arrived
  auto work_for = [&](const SimDevice &d) {
    return std::count_if(d.received.begin(), d.received.end(), [](const iotw_v1_Envelope &e) {
      return e.which_body == iotw_v1_Envelope_assignment_tag || e.which_body == iotw_v1_Envelope_witness_request_tag;
    });
  };
  rig.submit("tx-1");
  for (int i = 0; i < 20; ++i) rig.advance(rig.cfg.block_interval_ms);
  EXPECT_EQ(work_for(lost), 0);
  EXPECT_EQ(work_for(a), 0);  // one welcomed device is not enough for a miner and a witness
  EXPECT_TRUE(rig.mem.chain.size() == 1u);
  ASSERT_FALSE(rig.sink.of("stalled").empty());
  // The device's Hello retry (firmware: every IOTW_FW_HELLO_RETRY_MS): Challenge, Prove, Welcome, Heartbeat.
  rig.from(lost, lost.hello());
  ASSERT_TRUE(lost.attached);
  for (int i = 0; i < 20 && rig.mem.chain.size() == 1u; ++i) rig.advance(rig.cfg.block_interval_ms);
  EXPECT_EQ(rig.mem.chain.size(), 2u);
  EXPECT_GT(work_for(lost) + work_for(a), 0);
}

TEST(TrustNodeCore, FinalizesBlockWithNValidAttestations) {
  Rig rig;
  for (int i = 0; i < 4; ++i) rig.add();
  ASSERT_EQ(rig.submit("hello ledger").status, SubmitResult::accepted);
  ASSERT_EQ(rig.mem.chain.size(), 2u);
  const Block &b = rig.mem.chain[1];
  EXPECT_EQ(b.attestations.size(), 3u);
  ASSERT_EQ(b.txs.size(), 1u);
  EXPECT_EQ(std::string(b.txs[0].payload.begin(), b.txs[0].payload.end()), "hello ledger");
  expect_verifies(b, rig.mem.chain[0]);
  EXPECT_EQ(rig.core.height(), 1u);
  EXPECT_EQ(rig.core.pending_count(), 0u);
  const auto closed = rig.sink.of("round_closed");
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].fields["coherent"], true);
  EXPECT_EQ(closed[0].fields["expected"], "valid");
  EXPECT_EQ(closed[0].fields["block_hash"], to_hex(b.hash));
  EXPECT_EQ(closed[0].fields["verdicts"].size(), 3u);
  ASSERT_EQ(rig.sink.of("block_finalized").size(), 1u);
  EXPECT_EQ(rig.sink.of("block_finalized")[0].fields["tx_count"], 1);
  EXPECT_EQ(block_to_json(b)["attestations"].size(), 3u);
}

// Each WitnessRequest carries the miner's Result (assignment_id, signature over RESULT), so a witness can check the
// miner's signature under the header's miner_pubkey (docs/protocol.md §6 step 5).
TEST(TrustNodeCore, WitnessRequestsCarryTheMinersSignedResult) {
  Rig rig;
  for (int i = 0; i < 4; ++i) rig.add();
  ASSERT_EQ(rig.submit("carried").status, SubmitResult::accepted);
  SimDevice *miner = rig.by_hex(rig.sink.of("assignment_sent")[0].fields["miner"]);
  ASSERT_NE(miner, nullptr);
  const auto job = std::find_if(miner->received.begin(), miner->received.end(),
                                [](const auto &e) { return e.which_body == iotw_v1_Envelope_assignment_tag; });
  ASSERT_NE(job, miner->received.end());
  size_t checked = 0;
  for (auto &[l, d] : rig.devices)
    for (const iotw_v1_Envelope &e : d.received) {
      if (e.which_body != iotw_v1_Envelope_witness_request_tag) continue;
      const auto &r = e.body.witness_request;
      EXPECT_EQ(r.assignment_id, job->body.assignment.assignment_id);
      uint8_t msg[IOTW_SIG_MSG_MAX];
      const size_t n = iotw_sigmsg_result(r.assignment_id, r.block_hash, msg);
      EXPECT_EQ(crypto_sign_verify_detached(r.miner_signature, msg, n, miner->pk.data()), 0);
      EXPECT_EQ(0, std::memcmp(r.header + 84, miner->pk.data(), 32));
      ++checked;
    }
  EXPECT_EQ(checked, 3u);
}

TEST(TrustNodeCore, DuplicateAndOversizedTransactionsAreRefused) {
  Rig rig;
  EXPECT_EQ(rig.submit("a").status, SubmitResult::accepted);
  EXPECT_EQ(rig.submit("a").status, SubmitResult::duplicate);
  EXPECT_EQ(rig.submit("").status, SubmitResult::invalid);
  EXPECT_EQ(rig.submit(std::string(4097, 'x')).status, SubmitResult::invalid);
  EXPECT_EQ(rig.submit(std::string(4096, 'x')).status, SubmitResult::accepted);
  EXPECT_EQ(rig.core.pending_count(), 2u);
}

TEST(TrustNodeCore, BatchesUpToMaxTxsInArrivalOrder) {
  ConsensusConfig cfg;
  cfg.max_txs_per_block = 2;
  Rig rig(cfg);
  for (int i = 0; i < 5; ++i) rig.submit("t" + std::to_string(i));  // no devices yet: queued
  for (int i = 0; i < 4; ++i) rig.add();
  for (int i = 0; i < 3; ++i) rig.advance(cfg.block_interval_ms);
  ASSERT_EQ(rig.mem.chain.size(), 4u);
  std::vector<std::string> order;
  for (size_t h = 1; h < 4; ++h) {
    expect_verifies(rig.mem.chain[h], rig.mem.chain[h - 1]);
    for (const Tx &t : rig.mem.chain[h].txs) order.emplace_back(t.payload.begin(), t.payload.end());
  }
  EXPECT_EQ(order, (std::vector<std::string>{"t0", "t1", "t2", "t3", "t4"}));
  EXPECT_EQ(rig.mem.chain[1].txs.size(), 2u);
}

TEST(TrustNodeCore, RespectsBlockInterval) {
  ConsensusConfig cfg;
  cfg.block_interval_ms = 1000;
  Rig rig(cfg);
  for (int i = 0; i < 4; ++i) rig.add();
  rig.submit("first");
  rig.submit("second");
  EXPECT_EQ(rig.mem.chain.size(), 2u);
  rig.advance(999);
  EXPECT_EQ(rig.mem.chain.size(), 2u);
  rig.advance(1);
  EXPECT_EQ(rig.mem.chain.size(), 3u);
}

TEST(TrustNodeCore, MinerIsNeverAWitness) {
  Rig rig;
  for (int i = 0; i < 5; ++i) rig.add();
  std::set<std::string> miners;
  for (int i = 0; i < 40; ++i) {
    rig.submit("tx" + std::to_string(i));
    rig.advance(rig.cfg.block_interval_ms);
  }
  ASSERT_EQ(rig.mem.chain.size(), 41u);
  for (size_t h = 1; h < rig.mem.chain.size(); ++h) {
    expect_verifies(rig.mem.chain[h], rig.mem.chain[h - 1]);
    miners.insert(to_hex(rig.mem.chain[h].miner));
  }
  EXPECT_EQ(miners.size(), 5u) << "uniform selection reaches every device";
  // Every witness request names a device other than the miner of the assignment in flight.
  std::string miner;
  for (const Event &e : rig.sink.events) {
    if (e.kind == "assignment_sent") miner = e.fields["miner"];
    if (e.kind == "witness_requested") {
      EXPECT_NE(e.fields["witness"], miner);
    }
  }
}

TEST(TrustNodeCore, WrongHashResultIsRejectedAndReassigned) {
  Rig rig;
  for (int i = 0; i < 4; ++i) rig.add();
  SimDevice &bad = rig.add(Behaviour::wrong_hash);
  ASSERT_TRUE(submit_until(rig, [&] { return !rig.sink.of("result_rejected").empty(); }));
  const Event rej = rig.sink.of("result_rejected")[0];
  EXPECT_EQ(rej.fields["miner"], bad.hex());
  EXPECT_EQ(rej.fields["reason"], "wrong_hash");
  EXPECT_EQ(rig.core.counters().results_rejected, 1u);
  const Block &b = rig.mem.chain.back();
  EXPECT_NE(b.miner, bad.pk);
  expect_verifies(b, rig.mem.chain[rig.mem.chain.size() - 2]);
  EXPECT_EQ(rig.core.pending_count(), 0u);
}

TEST(TrustNodeCore, SilentMinerTimesOutAndIsReplaced) {
  Rig rig;
  for (int i = 0; i < 4; ++i) rig.add();
  rig.submit("x");
  ASSERT_EQ(rig.mem.chain.size(), 2u);
  // Next assignment: swallow it (the miner goes silent).
  rig.submit("y");
  rig.clock.now += rig.cfg.block_interval_ms;
  rig.core.tick();
  ASSERT_EQ(rig.sink.of("assignment_sent").size(), 2u);
  rig.sink.out.clear();
  const std::string silent = rig.sink.of("assignment_sent").back().fields["miner"];
  rig.advance(rig.cfg.assignment_timeout_ms);
  ASSERT_EQ(rig.sink.of("result_rejected").size(), 1u);
  EXPECT_EQ(rig.sink.of("result_rejected")[0].fields["reason"], "timeout");
  EXPECT_EQ(rig.sink.of("result_rejected")[0].fields["miner"], silent);
  ASSERT_EQ(rig.mem.chain.size(), 3u);
  EXPECT_NE(to_hex(rig.mem.chain[2].miner), silent);
}

TEST(TrustNodeCore, IncoherentRoundBlacklistsAllWitnessesThenFreshRoundFinalizes) {
  Rig rig;
  for (int i = 0; i < 7; ++i) rig.add();
  SimDevice &liar = rig.add(Behaviour::invert_verdict);
  ASSERT_TRUE(submit_until(rig, [&] { return !rig.sink.of("blacklisted").empty(); }));
  const auto closed = rig.sink.of("round_closed");
  auto bad_round = std::find_if(closed.begin(), closed.end(), [](const Event &e) { return e.fields["coherent"] == false; });
  ASSERT_NE(bad_round, closed.end());
  const uint64_t round = bad_round->fields["round_id"];
  std::set<std::string> round_witnesses;
  for (const auto &v : bad_round->fields["verdicts"]) round_witnesses.insert(v["witness"]);
  EXPECT_TRUE(round_witnesses.count(liar.hex()));
  std::set<std::string> blacklisted;
  for (const Event &e : rig.sink.of("blacklisted")) {
    EXPECT_EQ(e.fields["round_id"], round);
    EXPECT_EQ(e.fields["reason"], "incoherent_round");
    blacklisted.insert(e.fields["device"]);
  }
  EXPECT_EQ(blacklisted, round_witnesses);
  ASSERT_EQ(rig.mem.black.size(), 3u);
  EXPECT_EQ(rig.core.blacklisted_count(), 3u);
  // The same block was re-witnessed in a new round by devices outside the blacklist, and finalized.
  const Block &b = rig.mem.chain.back();
  EXPECT_GT(b.round_id, round);
  expect_verifies(b, rig.mem.chain[rig.mem.chain.size() - 2]);
  for (const Attestation &a : b.attestations) EXPECT_FALSE(blacklisted.count(to_hex(a.witness)));
  // Blacklisted devices are never picked again.
  for (int i = 0; i < 10; ++i) rig.submit("after" + std::to_string(i)), rig.advance(rig.cfg.block_interval_ms);
  bool after = false;
  for (const Event &e : rig.sink.events) {
    if (e.kind == "blacklisted") after = true;
    if (after && e.kind == "witness_requested") {
      EXPECT_FALSE(blacklisted.count(e.fields["witness"]));
    }
    if (after && e.kind == "assignment_sent") {
      EXPECT_FALSE(blacklisted.count(e.fields["miner"]));
    }
  }
}

TEST(TrustNodeCore, SilentWitnessIsReplacedNotBlacklisted) {
  Rig rig;
  for (int i = 0; i < 4; ++i) rig.add();
  SimDevice &mute = rig.add(Behaviour::silent_witness);
  ASSERT_TRUE(submit_until(rig, [&] { return requested_as_witness(rig, mute); }));
  const size_t blocks = rig.mem.chain.size();
  rig.advance(rig.cfg.witness_timeout_ms);
  ASSERT_EQ(rig.sink.of("witness_replaced").size(), 1u);
  const nlohmann::json f = rig.sink.of("witness_replaced")[0].fields;
  EXPECT_EQ(f["witness"], mute.hex());
  EXPECT_EQ(f["reason"], "silent");
  EXPECT_NE(f["replacement"], mute.hex());
  EXPECT_EQ(rig.mem.chain.size(), blocks + 1);
  EXPECT_TRUE(rig.mem.black.empty());
  for (const Attestation &a : rig.mem.chain.back().attestations) EXPECT_NE(a.witness, mute.pk);
  // Silence costs selection weight (reputation), never a blacklist.
  EXPECT_EQ(rig.core.reputations().at(mute.pk).bad, 1u);
  EXPECT_EQ(rig.core.counters().witnesses_silent, 1u);
}

TEST(TrustNodeCore, ASilentWitnessRestsLongerAfterEachSilenceSoBlocksKeepComing) {
  // Under uniform selection too, silence costs selection: after its k-th missed deadline in a row a witness is
  // not drawn for min(2^k, 64) rounds while enough others are eligible, so one mute device cannot hold round
  // after round for witness_timeout_ms (docs/trust-node.md "Faulty witnesses").
  Rig rig;
  for (int i = 0; i < 5; ++i) rig.add();
  SimDevice &mute = rig.add(Behaviour::silent_witness);
  const size_t start = rig.mem.chain.size();
  ASSERT_TRUE(submit_until(rig, [&] { return rig.mem.chain.size() >= start + 40; }, 400));
  std::vector<uint64_t> silenced;  // the rounds in which the mute device missed its deadline
  for (const Event &e : rig.sink.of("witness_replaced"))
    if (e.fields["witness"] == mute.hex()) silenced.push_back(e.fields["round_id"].get<uint64_t>());
  ASSERT_GE(silenced.size(), 1u);
  for (size_t k = 1; k < silenced.size(); ++k)  // the k-th silence in a row rests it 2^k rounds
    EXPECT_GE(silenced[k], silenced[k - 1] + (uint64_t{1} << std::min<size_t>(k, 6))) << "silence " << k + 1;
  EXPECT_LE(silenced.size(), 6u);  // 40 blocks: rests of 2 + 4 + 8 + 16 + 32 rounds leave room for at most 6
  EXPECT_TRUE(rig.mem.black.empty());
  EXPECT_EQ(rig.core.reputations().at(mute.pk).bad, silenced.size());
}

TEST(TrustNodeCore, WitnessThatRebootsMidRoundIsAskedAgainOnReattach) {
  // A brown-out resets a witness after it was asked: its request is lost with its RAM. When it
  // re-registers the trust node sends the open request again, so the round closes with its verdict.
  Rig rig;
  for (int i = 0; i < 4; ++i) rig.add();
  SimDevice &w = rig.add(Behaviour::silent_witness);
  ASSERT_TRUE(submit_until(rig, [&] { return requested_as_witness(rig, w); }));
  const size_t blocks = rig.mem.chain.size();
  auto asked = [&] {
    size_t n = 0;
    for (const Event &e : rig.sink.of("witness_requested")) n += e.fields["witness"] == w.hex();
    return n;
  };
  ASSERT_EQ(asked(), 1u);
  w.behaviour = Behaviour::honest;  // it comes back healthy
  w.boot_count += 1;
  rig.core.on_message(w.link, w.hello());
  rig.pump();
  EXPECT_EQ(asked(), 2u);
  EXPECT_TRUE(rig.sink.of("witness_replaced").empty());
  ASSERT_EQ(rig.mem.chain.size(), blocks + 1);
  bool signed_by_w = false;
  for (const Attestation &a : rig.mem.chain.back().attestations) signed_by_w |= a.witness == w.pk;
  EXPECT_TRUE(signed_by_w);
}

TEST(TrustNodeCore, SilentWitnessWithNoReplacementIsAskedAgainNotStuck) {
  // witnesses = 3 with 4 devices: when a witness is silent there is no fresh device to replace it.
  Rig rig;
  for (int i = 0; i < 3; ++i) rig.add();
  SimDevice &w = rig.add(Behaviour::silent_witness);
  ASSERT_TRUE(submit_until(rig, [&] { return requested_as_witness(rig, w); }));
  const size_t blocks = rig.mem.chain.size();
  rig.advance(rig.cfg.witness_timeout_ms);
  EXPECT_FALSE(rig.sink.of("stalled").empty());
  w.behaviour = Behaviour::honest;  // answers the repeated request, sent after twice the timeout
  rig.advance(2 * rig.cfg.witness_timeout_ms);
  EXPECT_EQ(rig.mem.chain.size(), blocks + 1);
  EXPECT_TRUE(rig.mem.black.empty());
}

TEST(TrustNodeCore, SilentWitnessWithNoReplacementIsAskedAgainAfterADoublingWait) {
  // Re-sending faster than a slow witness answers only queues requests on its link (rigs/link_noise.toml once
  // stalled 30 s that way): the waits go T, 2T, 4T, 8T, 16T, then stay at 16T (docs/protocol.md "Deadlines").
  ConsensusConfig cfg;
  cfg.witness_timeout_ms = 100;
  cfg.device_timeout_ms = 600'000;  // no heartbeats in this test
  Rig rig(cfg);
  for (int i = 0; i < 3; ++i) rig.add();
  SimDevice &w = rig.add(Behaviour::silent_witness);
  ASSERT_TRUE(submit_until(rig, [&] { return requested_as_witness(rig, w); }));
  const auto requests = [&] {
    return std::count_if(w.received.begin(), w.received.end(), [](const iotw_v1_Envelope &e) {
      return e.which_body == iotw_v1_Envelope_witness_request_tag;
    });
  };
  std::vector<uint64_t> at;  // the clock at each re-send (the first request went out during submit_until's steps)
  for (long seen = requests(); at.size() < 6; rig.advance(1)) {
    if (requests() == seen) continue;
    seen = requests();
    at.push_back(rig.clock.now);
    EXPECT_EQ(w.received.back().body.witness_request.deadline_ms, 100u) << "the signed request is unchanged";
  }
  const std::vector<uint64_t> want{200, 400, 800, 1600, 1600};
  for (size_t i = 1; i < at.size(); ++i) EXPECT_EQ(at[i] - at[i - 1], want[i - 1]) << "wait " << i;
  w.behaviour = Behaviour::honest;  // a late answer to the same witness is still taken
  const size_t blocks = rig.mem.chain.size();
  rig.advance(1600);
  EXPECT_EQ(rig.mem.chain.size(), blocks + 1);
  EXPECT_TRUE(rig.mem.black.empty());
}

TEST(TrustNodeCore, ADeviceThatBecomesEligibleDuringALongReaskWaitTakesTheSlotWithinTheTimeout) {
  // The back-off delays re-sends only: a fresh device is looked for every witness_timeout_ms all along.
  ConsensusConfig cfg;
  cfg.witness_timeout_ms = 100;
  cfg.device_timeout_ms = 600'000;
  Rig rig(cfg);
  for (int i = 0; i < 3; ++i) rig.add();
  SimDevice &w = rig.add(Behaviour::silent_witness);
  ASSERT_TRUE(submit_until(rig, [&] { return requested_as_witness(rig, w); }));
  for (int i = 0; i < 100 + 200 + 400 + 10; ++i) rig.advance(1);  // re-asked 3 times: now waiting 800 ms
  ASSERT_TRUE(rig.sink.of("witness_replaced").empty());
  const size_t blocks = rig.mem.chain.size();
  SimDevice &late = rig.add();  // attaches, eligible, never a member of this round
  for (int i = 0; i < 100 && rig.sink.of("witness_replaced").empty(); ++i) rig.advance(1);
  ASSERT_EQ(rig.sink.of("witness_replaced").size(), 1u) << "replaced within one timeout, not after the 800 ms wait";
  EXPECT_EQ(rig.sink.of("witness_replaced")[0].fields["replacement"], late.hex());
  EXPECT_EQ(rig.sink.of("witness_replaced")[0].fields["witness"], w.hex());
  rig.advance(1);
  EXPECT_EQ(rig.mem.chain.size(), blocks + 1) << "the newcomer answers and the round closes";
}

TEST(TrustNodeCore, ForgedAttestationIsDroppedNotBlacklistedAndTheRoundGoesOn) {
  // A signature that does not verify proves nothing about who sent it (docs/trust-node.md "Threat model"):
  // counted and dropped, unanswered; the slot times out like a silent one (a reputation cost, never a blacklist).
  Rig rig;
  for (int i = 0; i < 4; ++i) rig.add();
  SimDevice &forger = rig.add(Behaviour::forge_attestation);
  ASSERT_TRUE(submit_until(rig, [&] { return requested_as_witness(rig, forger); }));
  EXPECT_TRUE(rig.sink.of("attestation_rejected").empty());
  EXPECT_EQ(rig.core.counters().attestations_rejected, 1u);
  EXPECT_EQ(rig.core.counters().attestations_bad_signature, 1u);
  EXPECT_NE(forger.received.back().which_body, iotw_v1_Envelope_error_tag);
  const size_t blocks = rig.mem.chain.size();
  rig.advance(rig.cfg.witness_timeout_ms);
  EXPECT_TRUE(rig.mem.black.empty());
  ASSERT_EQ(rig.sink.of("witness_replaced").size(), 1u);
  EXPECT_EQ(rig.sink.of("witness_replaced")[0].fields["reason"], "silent");
  EXPECT_EQ(rig.mem.chain.size(), blocks + 1);
  expect_verifies(rig.mem.chain.back(), rig.mem.chain[rig.mem.chain.size() - 2]);
  // One aggregated event names the device and the count.
  ASSERT_EQ(rig.sink.of("attestations_dropped").size(), 1u);
  const nlohmann::json d = rig.sink.of("attestations_dropped")[0].fields;
  EXPECT_EQ(d["count"], 1);
  EXPECT_EQ(d["by_device"][0]["device"], forger.hex());
  EXPECT_EQ(d["by_device"][0]["reason"], "bad_signature");
  EXPECT_EQ(rig.core.reputations().at(forger.pk).bad, 1u);
}

TEST(TrustNodeCore, AttestationFromNonWitnessIsIgnored) {
  Rig rig;
  for (int i = 0; i < 5; ++i) rig.add(Behaviour::silent_witness);  // rounds stay open
  rig.submit("x");
  const auto reqs = rig.sink.of("witness_requested");
  ASSERT_EQ(reqs.size(), 3u);
  const std::string miner = rig.sink.of("assignment_sent")[0].fields["miner"];
  std::set<std::string> witnesses;
  for (const Event &e : reqs) witnesses.insert(e.fields["witness"]);
  SimDevice *outsider = nullptr;
  for (auto &[l, d] : rig.devices)
    if (!witnesses.count(d.hex()) && d.hex() != miner) outsider = &d;
  ASSERT_NE(outsider, nullptr);
  const uint64_t round = reqs[0].fields["round_id"];
  uint8_t h[32];
  SimDevice *w = rig.by_hex(*witnesses.begin());
  const auto it = std::find_if(w->received.rbegin(), w->received.rend(),
                               [](const auto &e) { return e.which_body == iotw_v1_Envelope_witness_request_tag; });
  std::memcpy(h, it->body.witness_request.block_hash, 32);
  iotw_v1_Envelope e = iotw_v1_Envelope_init_zero;
  e.which_body = iotw_v1_Envelope_attestation_tag;
  e.body.attestation = outsider->attest(round, h, true);
  rig.core.on_message(outsider->link, e);
  rig.pump();
  ASSERT_EQ(rig.sink.of("attestation_rejected").size(), 1u);
  EXPECT_EQ(rig.sink.of("attestation_rejected")[0].fields["reason"], "not_a_witness");
  EXPECT_TRUE(rig.sink.of("attestation").empty());
  EXPECT_EQ(rig.core.counters().attestations_rejected, 1u);
}

TEST(TrustNodeCore, StallsOnceWhenTooFewDevicesThenRecovers) {
  Rig rig;
  rig.add();
  rig.add();
  rig.submit("a");
  rig.submit("b");
  rig.advance(100);
  ASSERT_EQ(rig.sink.of("stalled").size(), 1u);
  EXPECT_EQ(rig.sink.of("stalled")[0].fields["needed"], 4);
  EXPECT_EQ(rig.sink.of("stalled")[0].fields["eligible"], 2);
  rig.add();
  rig.add();
  ASSERT_EQ(rig.mem.chain.size(), 2u);
  EXPECT_EQ(rig.mem.chain[1].txs.size(), 2u);
  EXPECT_EQ(rig.sink.of("stalled").size(), 1u);
}

TEST(TrustNodeCore, SameSeedSameChoices) {
  auto run = [](uint64_t seed) {
    Rig rig({}, nullptr, seed);
    for (int i = 0; i < 6; ++i) rig.add();
    for (int i = 0; i < 10; ++i) rig.submit("t" + std::to_string(i)), rig.advance(rig.cfg.block_interval_ms);
    std::vector<std::string> picks;
    for (const Event &e : rig.sink.events) {
      if (e.kind == "assignment_sent") picks.push_back(e.fields["miner_name"]);
      if (e.kind == "witness_requested") picks.push_back(e.fields["witness_name"]);
    }
    return picks;
  };
  EXPECT_EQ(run(7), run(7));
  EXPECT_NE(run(7), run(8));
}

}  // namespace
}  // namespace iotw::tn::test
