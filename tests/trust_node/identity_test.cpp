// Identity integrity (docs/trust-node.md "Identity integrity"): a key attached on one link is refused on a second
// link and flagged (identity_conflict, naming both links), unless it rebooted (a higher boot_count); a name held by
// another attached key is refused; a boot_count below the last one is flagged. And a forged VrfClaim does not take
// the device's place in the claim window.
#include "sim.hpp"

namespace iotw::tn::test {
namespace {

/// A second device with the same identity (a cloned key: same name, so the same seed) on its own link.
SimDevice &clone_of(Rig &rig, const SimDevice &orig, uint32_t link, std::string name) {
  SimDevice copy(link, orig.name, Behaviour::honest);
  copy.name = std::move(name);  // the clone may call itself anything: the key is what it copied
  copy.boot_count = orig.boot_count;
  auto &d = rig.devices.emplace(link, std::move(copy)).first->second;
  rig.core.link_opened(link, "test:" + std::to_string(link));
  return d;
}

TEST(Identity, ACloneOnASecondLinkIsRefusedAndFlaggedWithBothLinks) {
  Rig rig;
  SimDevice &orig = rig.add(Behaviour::honest, "esp-01");
  SimDevice &clone = clone_of(rig, orig, 77, "esp-01-clone");
  ASSERT_EQ(clone.pk, orig.pk);
  rig.from(clone, clone.hello());
  ASSERT_EQ(rig.sink.of("identity_conflict").size(), 1u);
  const nlohmann::json f = rig.sink.of("identity_conflict")[0].fields;
  EXPECT_EQ(f["device"], orig.hex());
  EXPECT_EQ(f["link"], "test:1");
  EXPECT_EQ(f["other_link"], "test:77");
  EXPECT_EQ(f["name"], "esp-01");
  EXPECT_EQ(f["other_name"], "esp-01-clone");
  EXPECT_EQ(rig.core.counters().identity_conflicts, 1u);
  EXPECT_EQ(rig.sink.of("registration_rejected").back().fields["reason"], "identity_conflict");
  EXPECT_EQ(clone.received.back().which_body, iotw_v1_Envelope_error_tag);
  EXPECT_FALSE(clone.attached);
  // The original keeps its link and its name; no flapping at its next heartbeat.
  const nlohmann::json devs = rig.core.devices_json();
  ASSERT_EQ(devs.size(), 1u);
  EXPECT_EQ(devs[0]["link"], "test:1");
  EXPECT_EQ(devs[0]["name"], "esp-01");
  rig.from(orig, orig.heartbeat());
  rig.from(clone, clone.hello());
  EXPECT_EQ(rig.core.devices_json()[0]["link"], "test:1");
  EXPECT_EQ(rig.core.counters().identity_conflicts, 2u);
  EXPECT_EQ(rig.sink.of("device_registered").size(), 1u);
}

TEST(Identity, ADeviceThatRebootedOntoANewLinkTakesItsKeyBack) {
  Rig rig;
  SimDevice &orig = rig.add(Behaviour::honest, "esp-01");
  SimDevice &rebooted = clone_of(rig, orig, 78, "esp-01");  // a new UDP source port after a reboot
  rebooted.boot_count = orig.boot_count + 1;
  rig.from(rebooted, rebooted.hello());
  EXPECT_TRUE(rig.sink.of("identity_conflict").empty());
  EXPECT_EQ(rig.core.devices_json()[0]["link"], "test:78");
  EXPECT_EQ(rig.sink.of("device_detached").back().fields["reason"], "rebooted_elsewhere");
}

TEST(Identity, ADuplicateNameIsRefusedWhileItsHolderIsAttached) {
  Rig rig;
  SimDevice &first = rig.add(Behaviour::honest, "bulb-01");
  SimDevice other(9, "another-key", Behaviour::honest);
  other.name = "bulb-01";  // another key claiming the same name
  auto &d = rig.devices.emplace(9, std::move(other)).first->second;
  rig.core.link_opened(9, "test:9");
  rig.from(d, d.hello());
  EXPECT_FALSE(d.attached);
  EXPECT_EQ(rig.core.counters().duplicate_names, 1u);
  const nlohmann::json r = rig.sink.of("registration_rejected").back().fields;
  EXPECT_EQ(r["reason"], "duplicate_name");
  EXPECT_EQ(r["holder"], first.hex());
  EXPECT_EQ(rig.core.devices_json().size(), 1u);
}

TEST(Identity, ABootCountThatGoesBackwardsIsFlagged) {
  Rig rig;
  SimDevice &d = rig.add(Behaviour::honest, "esp-02");
  d.boot_count = 5;
  rig.from(d, d.hello());  // a reboot: 1 -> 5
  d.boot_count = 5;
  rig.from(d, d.hello());  // a re-attach in the same boot: equal is not a regression
  EXPECT_TRUE(rig.sink.of("boot_count_regressed").empty());
  d.boot_count = 2;
  rig.from(d, d.hello());
  ASSERT_EQ(rig.sink.of("boot_count_regressed").size(), 1u);
  const nlohmann::json f = rig.sink.of("boot_count_regressed")[0].fields;
  EXPECT_EQ(f["previous"], 5);
  EXPECT_EQ(f["boot_count"], 2);
  EXPECT_EQ(rig.core.counters().boot_count_regressions, 1u);
}

TEST(Identity, AForgedVrfClaimDoesNotTakeTheDevicesPlaceInTheRound) {
  ConsensusConfig cfg;
  cfg.selection = Selection::vrf;
  cfg.claim_window_ms = 1000;
  Rig rig(cfg);
  for (int i = 0; i < 5; ++i) rig.add(Behaviour::silent_vrf);  // nobody claims by itself
  rig.submit("x");
  ASSERT_EQ(rig.sink.of("vrf_round_opened").size(), 1u);
  SimDevice &victim = rig.devices.begin()->second;
  const iotw_v1_VrfRoundSeed seed = std::find_if(victim.received.rbegin(), victim.received.rend(), [](const auto &e) {
    return e.which_body == iotw_v1_Envelope_vrf_round_seed_tag;
  })->body.vrf_round_seed;
  iotw_v1_Envelope forged = iotw_v1_Envelope_init_zero;
  forged.which_body = iotw_v1_Envelope_vrf_claim_tag;
  forged.body.vrf_claim = victim.vrf_claim(seed.height, seed.prev_hash, IOTW_ECVRF_TAI);
  forged.body.vrf_claim.pi[48] ^= 1;  // a spoofer's claim on the victim's link: does not verify
  rig.from(victim, forged);
  EXPECT_EQ(rig.sink.of("vrf_claim_rejected").back().fields["reason"], "bad_proof");
  iotw_v1_Envelope real = iotw_v1_Envelope_init_zero;
  real.which_body = iotw_v1_Envelope_vrf_claim_tag;
  real.body.vrf_claim = victim.vrf_claim(seed.height, seed.prev_hash, IOTW_ECVRF_TAI);
  rig.from(victim, real);  // the victim's own claim is still counted
  ASSERT_EQ(rig.sink.of("vrf_claim").size(), 1u);
  EXPECT_EQ(rig.sink.of("vrf_claim")[0].fields["device"], victim.hex());
  rig.advance(cfg.claim_window_ms);
  EXPECT_EQ(rig.sink.of("miner_selected").back().fields["miner"], victim.hex());
}

}  // namespace
}  // namespace iotw::tn::test
