// The trust-node core's calls to its four interfaces (Clock, Random, CoreSink, Ledger), checked with the
// GoogleMock mocks of tests/mocks/mock_clock.hpp and tests/mocks/trust_node/: what it draws, stores and sends, in
// which order, and what it does not do when the store fails. The ledger mock delegates to the in-memory ledger (sim.hpp) by default.
#include <gmock/gmock.h>

#include <cstring>
#include <memory>

#include "mocks/mock_clock.hpp"
#include "mocks/trust_node/mock_core_sink.hpp"
#include "mocks/trust_node/mock_ledger.hpp"
#include "mocks/trust_node/mock_random.hpp"
#include "sim.hpp"

namespace iotw::tn::test {
namespace {

using iotw::mocks::MockClock;
using mocks::MockCoreSink;
using mocks::MockLedger;
using mocks::MockRandom;
using ::testing::_;
using ::testing::AllOf;
using ::testing::AnyNumber;
using ::testing::Field;
using ::testing::InSequence;
using ::testing::NiceMock;
using ::testing::Return;
using ::testing::SaveArg;
using ::testing::SizeIs;
using ::testing::Throw;

constexpr uint64_t kNow = 1'700'000'123'456;

MATCHER_P(IsChallengeWithNonce, nonce, "a Challenge carrying the given nonce") {
  return arg.which_body == iotw_v1_Envelope_challenge_tag &&
         std::memcmp(arg.body.challenge.nonce, nonce.data(), nonce.size()) == 0;
}
MATCHER_P(IsWelcomeAtHeight, height, "a Welcome at the given chain height") {
  return arg.which_body == iotw_v1_Envelope_welcome_tag && arg.body.welcome.height == height;
}
MATCHER_P2(HasField, key, value, "a JSON object whose field equals the value") {
  return arg.contains(key) && arg[key] == value;
}

class CoreWithMocks : public ::testing::Test {
 protected:
  void SetUp() override {
    ledger.delegate_to(mem);
    ON_CALL(clock, now_ns()).WillByDefault(Return(kNow * 1'000'000));
    ON_CALL(rng, next_u64()).WillByDefault(Return(7));
    EXPECT_CALL(sink, event(_, _)).Times(AnyNumber());  // events a test does not expect (e.g. "stalled") are free
  }
  TrustNodeCore &core() {
    if (!core_) core_ = std::make_unique<TrustNodeCore>(ConsensusConfig{}, ledger, clock, rng, sink);
    return *core_;
  }

  MemLedger mem;
  NiceMock<MockLedger> ledger;
  NiceMock<MockClock> clock;
  NiceMock<MockRandom> rng;
  NiceMock<MockCoreSink> sink;
  std::unique_ptr<TrustNodeCore> core_;
};

TEST_F(CoreWithMocks, HelloIsAnsweredWithAChallengeOfFourRandomDraws) {
  core().link_opened(3, "test:3");
  SimDevice dev(3, "esp-07", Behaviour::honest);
  std::array<uint8_t, 32> nonce{};
  const uint64_t draws[4] = {0x0807060504030201, 0x100f0e0d0c0b0a09, 0x1817161514131211, 0x201f1e1d1c1b1a19};
  for (size_t i = 0; i < 4; ++i) std::memcpy(nonce.data() + 8 * i, &draws[i], 8);  // each draw, little-endian
  EXPECT_CALL(rng, next_u64())
      .WillOnce(Return(draws[0]))
      .WillOnce(Return(draws[1]))
      .WillOnce(Return(draws[2]))
      .WillOnce(Return(draws[3]));
  EXPECT_CALL(sink, send(3, IsChallengeWithNonce(nonce)));
  EXPECT_CALL(ledger, upsert_device(_)).Times(0);  // nothing is stored before the key is proven
  core().on_message(3, dev.hello());
}

TEST_F(CoreWithMocks, AProvenDeviceIsStoredBeforeItIsWelcomed) {
  core().link_opened(3, "test:3");
  SimDevice dev(3, "esp-07", Behaviour::honest);
  iotw_v1_Envelope challenge{};
  EXPECT_CALL(sink, send(3, _)).WillOnce(SaveArg<1>(&challenge));
  core().on_message(3, dev.hello());
  ::testing::Mock::VerifyAndClearExpectations(&sink);
  const auto prove = dev.respond(challenge);
  ASSERT_TRUE(prove);
  {
    InSequence durable_first;
    EXPECT_CALL(ledger, upsert_device(AllOf(Field(&DeviceRecord::pubkey, dev.pk), Field(&DeviceRecord::name, "esp-07"),
                                            Field(&DeviceRecord::model, "esp32"), Field(&DeviceRecord::first_seen_ms, kNow))));
    EXPECT_CALL(sink, send(3, IsWelcomeAtHeight(0u)));
    EXPECT_CALL(sink, event(std::string_view("device_registered"),
                            AllOf(HasField("name", "esp-07"), HasField("device", dev.hex()), HasField("new", true))));
  }
  core().on_message(3, *prove);
  EXPECT_EQ(core().attached_count(), 1u);
}

TEST_F(CoreWithMocks, ABatchIsStoredInOneLedgerTransactionAndAnnouncedOnce) {
  Bytes big(TrustNodeCore::max_tx_payload + 1, 'x');
  // The three valid txs reach the ledger in one call (the store answers which are new: the second 'a' is not);
  // one txs_accepted event carries the two accepted hashes.
  EXPECT_CALL(ledger, add_pending_txs(SizeIs(3)));
  EXPECT_CALL(sink, event(std::string_view("tx_accepted"), _)).Times(0);
  nlohmann::json accepted;
  EXPECT_CALL(sink, event(std::string_view("txs_accepted"), HasField("count", 2))).WillOnce(SaveArg<1>(&accepted));
  const auto rs = core().submit_batch({{Bytes{'a'}, {}}, {Bytes{'b'}, {}}, {Bytes{'a'}, {}}, {big, {}}, {Bytes{}, {}}});
  ASSERT_EQ(rs.size(), 5u);
  EXPECT_EQ(rs[0].status, SubmitResult::accepted);
  EXPECT_EQ(rs[1].status, SubmitResult::accepted);
  EXPECT_EQ(rs[2].status, SubmitResult::duplicate);  // duplicate of an earlier entry of the same batch
  EXPECT_EQ(rs[3].status, SubmitResult::invalid);
  EXPECT_EQ(rs[4].status, SubmitResult::invalid);
  EXPECT_EQ(core().pending_count(), 2u);
  EXPECT_EQ(accepted["hashes"], nlohmann::json::array({to_hex(rs[0].hash), to_hex(rs[1].hash)}));
}

TEST_F(CoreWithMocks, ALedgerFailureAcknowledgesNoTx) {
  EXPECT_CALL(ledger, add_pending_txs(_)).WillOnce(Throw(LedgerError("add_pending_txs: disk I/O error")));
  EXPECT_CALL(sink, event(std::string_view("txs_accepted"), _)).Times(0);
  EXPECT_THROW(core().submit_batch({{Bytes{'a'}, {}}}), LedgerError);
  EXPECT_EQ(core().pending_count(), 0u);
}

TEST_F(CoreWithMocks, LiftingABlacklistEntryStoresTheClockTime) {
  SimDevice dev(1, "esp-09", Behaviour::honest);
  mem.devs[dev.pk] = DeviceRecord{dev.pk, "esp-09", "esp32", 1, 1};
  mem.black.push_back(BlacklistEntry{dev.pk, 4, "dissent", 2, "[]"});
  ASSERT_EQ(core().blacklisted_count(), 1u);  // loaded from the ledger
  EXPECT_CALL(clock, now_ns()).WillRepeatedly(Return((kNow + 5) * 1'000'000));
  EXPECT_CALL(ledger, lift_blacklist(dev.pk, kNow + 5));  // once: the second lift finds no entry
  EXPECT_CALL(sink, event(std::string_view("blacklist_lifted"), HasField("name", "esp-09")));
  EXPECT_TRUE(core().lift_blacklist(dev.pk));
  EXPECT_FALSE(core().lift_blacklist(dev.pk));
  EXPECT_EQ(core().blacklisted_count(), 0u);
}

TEST_F(CoreWithMocks, ALiftTheLedgerRefusesKeepsTheDeviceBlacklisted) {
  SimDevice dev(1, "esp-09", Behaviour::honest);
  mem.black.push_back(BlacklistEntry{dev.pk, 4, "dissent", 2, "[]"});
  EXPECT_CALL(ledger, lift_blacklist(dev.pk, kNow)).WillOnce(Return(false));
  EXPECT_CALL(sink, event(std::string_view("blacklist_lifted"), _)).Times(0);
  EXPECT_FALSE(core().lift_blacklist(dev.pk));
  EXPECT_EQ(core().blacklisted_count(), 1u);
}

}  // namespace
}  // namespace iotw::tn::test
