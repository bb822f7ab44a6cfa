// Light verification (docs/protocol.md §6 "Light verification", §5 CHECKPOINT): the trust node answers a
// CheckpointRequest with its finalized tip signed by the node key; the real firmware core (ports/sim) adopts
// it, rejects a forged one, and judges linkage of the next header against it.
#include "sim.hpp"

extern "C" {
#include "iotw/firmware.h"
#include "iotw/frame_codec.h"
#include "sim_port.h"
}

namespace iotw::tn::test {
namespace {

constexpr std::array<uint8_t, 32> kNodeSeed = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                                               7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};

template <size_t N>
std::array<uint8_t, N> arr(const uint8_t *p) {
  std::array<uint8_t, N> a{};
  std::memcpy(a.data(), p, N);
  return a;
}

ConsensusConfig keyed(uint32_t witnesses = 2) {
  ConsensusConfig c;
  c.witnesses = witnesses;
  c.block_interval_ms = 0;
  c.node_key_seed = kNodeSeed;
  return c;
}

iotw_v1_Envelope checkpoint_request(uint64_t have) {
  iotw_v1_Envelope e = iotw_v1_Envelope_init_zero;
  e.which_body = iotw_v1_Envelope_checkpoint_request_tag;
  e.body.checkpoint_request.have_height = have;
  return e;
}

bool checkpoint_verifies(const iotw_v1_Checkpoint &c, const Key &pk) {
  uint8_t msg[IOTW_SIG_MSG_MAX];
  const size_t n = iotw_sigmsg_checkpoint(c.height, c.block_hash, msg);
  return crypto_sign_verify_detached(c.signature, msg, n, pk.data()) == 0;
}

TEST(Checkpoint, IsTheFinalizedTipSignedByTheNodeKey) {
  Rig rig(keyed());
  for (int i = 0; i < 4; ++i) rig.add();
  Key want{};
  std::array<uint8_t, 64> sk{};
  crypto_sign_seed_keypair(want.data(), sk.data(), kNodeSeed.data());
  ASSERT_TRUE(rig.core.node_pubkey());
  EXPECT_EQ(*rig.core.node_pubkey(), want);

  for (int b = 0; b < 3; ++b) {
    rig.submit("tx " + std::to_string(b));
    rig.advance(1);
  }
  ASSERT_EQ(rig.core.height(), 3u);
  SimDevice &d = rig.devices.at(1);
  d.received.clear();
  rig.from(d, checkpoint_request(0));
  ASSERT_EQ(d.received.size(), 1u);
  ASSERT_EQ(d.received[0].which_body, iotw_v1_Envelope_checkpoint_tag);
  const iotw_v1_Checkpoint c = d.received[0].body.checkpoint;
  EXPECT_EQ(c.height, 3u);
  EXPECT_EQ(arr<32>(c.block_hash), rig.mem.chain.back().hash);
  EXPECT_TRUE(checkpoint_verifies(c, want));
  iotw_v1_Checkpoint moved = c;
  moved.height = 2;  // the signature binds the height
  EXPECT_FALSE(checkpoint_verifies(moved, want));
  EXPECT_FALSE(checkpoint_verifies(c, d.pk)) << "signed by the node key, not a device key";
  EXPECT_EQ(rig.core.counters().checkpoints_sent, 1u);

  // The next block moves the checkpoint on.
  rig.submit("tx 4");
  rig.advance(1);
  d.received.clear();
  rig.from(d, checkpoint_request(3));
  ASSERT_EQ(d.received.size(), 1u);
  EXPECT_EQ(d.received[0].body.checkpoint.height, 4u);
  EXPECT_TRUE(checkpoint_verifies(d.received[0].body.checkpoint, want));
}

TEST(Checkpoint, NeedsRegistrationAndANodeKey) {
  Rig rig(keyed());
  rig.core.link_opened(9, "test:9");
  rig.sink.out.clear();
  rig.core.on_message(9, checkpoint_request(0));
  ASSERT_EQ(rig.sink.out.size(), 1u);
  EXPECT_EQ(rig.sink.out[0].second.which_body, iotw_v1_Envelope_error_tag);
  EXPECT_EQ(rig.sink.out[0].second.body.error.code, 1u);
  rig.sink.out.clear();

  ConsensusConfig no_key;
  Rig bare(no_key);
  SimDevice &d = bare.add();
  d.received.clear();
  bare.from(d, checkpoint_request(0));
  ASSERT_EQ(d.received.size(), 1u);
  EXPECT_EQ(d.received[0].which_body, iotw_v1_Envelope_error_tag);
  EXPECT_EQ(d.received[0].body.error.code, 5u);
  EXPECT_FALSE(bare.core.node_pubkey());
}

/** The real firmware core on ports/sim, attached to the rig's core on its own link. */
struct FwDevice {
  explicit FwDevice(Rig &r, const Key &node_pk, uint32_t link_) : rig(r), link(link_), node(node_pk) {
    ctx.user = this;
    ctx.now_ms = 1000;
    ctx.send = [](void *u, const uint8_t *b, size_t n) {
      static_cast<FwDevice *>(u)->sent.emplace_back(b, b + n);
      return 0;
    };
    const uint8_t seed[32] = {99};  // a stand-in component seed
    EXPECT_EQ(iotw_sim_port_init(&port, &ctx, seed), 0);
    cfg.node_pubkey = node.data();
    rig.core.link_opened(link, "test:fw");
    EXPECT_EQ(iotw_fw_boot(&fw, &cfg, &port), 0);
  }
  /** Deliver frames both ways (fw <-> core, sim devices <-> core) until quiet. */
  void pump() {
    for (int guard = 0; guard < 10000; ++guard) {
      bool moved = false;
      while (!rig.sink.out.empty()) {
        auto [l, env] = rig.sink.out.front();
        rig.sink.out.pop_front();
        moved = true;
        if (l == link) {
          to_fw(env);
        } else if (auto reply = rig.devices.at(l).respond(env)) {
          rig.core.on_message(l, *reply);
        }
      }
      auto frames = std::move(sent);
      sent.clear();
      for (const auto &f : frames) {
        moved = true;
        for (const iotw_v1_Envelope &e : decode(f)) {
          from_fw.push_back(e);
          rig.core.on_message(link, e);
        }
      }
      if (!moved) return;
    }
    ADD_FAILURE() << "pump did not settle";
  }
  void to_fw(const iotw_v1_Envelope &env) {
    uint8_t payload[IOTW_FRAME_MAX_PAYLOAD], wire[IOTW_FRAME_MAX_WIRE];
    const size_t n = iotw_msg_encode(&env, payload, sizeof payload);
    ASSERT_GT(n, 0u);
    const size_t w = iotw_frame_encode(payload, n, wire, sizeof wire);
    iotw_fw_on_rx(&fw, wire, w);
  }
  static std::vector<iotw_v1_Envelope> decode(const std::vector<uint8_t> &bytes) {
    std::vector<iotw_v1_Envelope> out;
    iotw_frame_decoder dec;
    iotw_frame_decoder_init(&dec);
    for (uint8_t b : bytes) {
      const uint8_t *p;
      size_t n;
      if (iotw_frame_decoder_push(&dec, b, &p, &n) != IOTW_FRAME_OK) continue;
      iotw_v1_Envelope e;
      EXPECT_EQ(iotw_msg_decode(p, n, &e), 0);
      out.push_back(e);
    }
    return out;
  }
  size_t count(unsigned which) const {
    return static_cast<size_t>(
        std::count_if(from_fw.begin(), from_fw.end(), [&](const iotw_v1_Envelope &e) { return e.which_body == which; }));
  }

  Rig &rig;
  uint32_t link;
  Key node;
  iotw_sim_port_ctx ctx{};
  iotw_port port{};
  iotw_fw fw{};
  iotw_fw_config cfg{"fw-lv", "esp32", "0.1.0", 1, {}, nullptr, nullptr};
  std::vector<std::vector<uint8_t>> sent;
  std::vector<iotw_v1_Envelope> from_fw;
};

TEST(Checkpoint, FirmwareAdoptsTheNodesCheckpointRejectsAForgedOneAndJudgesLinkage) {
  Rig rig(keyed());
  for (int i = 0; i < 3; ++i) rig.add();
  const Key node = *rig.core.node_pubkey();
  FwDevice dev(rig, node, 50);
  dev.pump();  // Hello, Challenge, Prove, Welcome(0) -> CheckpointRequest -> Checkpoint(0, genesis)
  ASSERT_EQ(iotw_fw_get_state(&dev.fw), IOTW_FW_ATTACHED);
  EXPECT_EQ(dev.count(iotw_v1_Envelope_checkpoint_request_tag), 1u);
  ASSERT_EQ(dev.fw.ckpt_valid, 1u);
  EXPECT_EQ(dev.fw.ckpt_height, 0u);
  EXPECT_EQ(arr<32>(dev.fw.ckpt_hash), rig.mem.chain[0].hash);

  // Blocks with the firmware device in the pool (miner or witness, always honest; linked or behind, never invalid).
  for (int b = 0; b < 6; ++b) {
    rig.core.submit_tx(Bytes{'t', static_cast<uint8_t>('0' + b)});
    dev.pump();
    rig.clock.now += 1;
    rig.core.tick();
    dev.pump();
  }
  ASSERT_EQ(rig.core.height(), 6u);
  EXPECT_EQ(rig.core.blacklisted_count(), 0u);
  EXPECT_EQ(dev.fw.stats.witness_unlinked, 0u);

  // A heartbeat answer beyond the checkpoint: the device catches up from a signed checkpoint, not the chain.
  dev.ctx.now_ms += 1000;
  rig.clock.now += 1000;
  iotw_fw_poll(&dev.fw);
  dev.pump();
  EXPECT_EQ(dev.fw.ckpt_height, 6u);
  EXPECT_EQ(arr<32>(dev.fw.ckpt_hash), rig.mem.chain.back().hash);

  // A forged checkpoint (someone else's key, or the node's signature on another hash) is rejected.
  iotw_v1_Envelope forged = iotw_v1_Envelope_init_zero;
  forged.which_body = iotw_v1_Envelope_checkpoint_tag;
  forged.body.checkpoint.height = 6;
  std::memset(forged.body.checkpoint.block_hash, 0x66, 32);
  uint8_t msg[IOTW_SIG_MSG_MAX], fake_pk[32], fake_sk[64];
  crypto_sign_keypair(fake_pk, fake_sk);
  crypto_sign_detached(forged.body.checkpoint.signature, nullptr, msg,
                       iotw_sigmsg_checkpoint(6, forged.body.checkpoint.block_hash, msg), fake_sk);
  dev.to_fw(forged);
  EXPECT_EQ(dev.fw.stats.checkpoints_rejected, 1u);
  EXPECT_EQ(arr<32>(dev.fw.ckpt_hash), rig.mem.chain.back().hash);

  // A header for height 7 that does not link to block 6 -> invalid; the honest next header -> valid.
  // Each request its own round: a device answers a round once (docs/protocol.md §6 step 5).
  std::uint64_t round_id = 999;
  auto witness_verdict = [&](const Hash &prev) {
    Header h{};
    iotw_block_header hdr{};
    hdr.version = 1;
    hdr.height = 7;
    std::memcpy(hdr.prev_hash, prev.data(), 32);
    uint8_t mpk[32], msk[64], m[IOTW_SIG_MSG_MAX];  // the miner: its Result signature rides in the request
    crypto_sign_keypair(mpk, msk);
    std::memcpy(hdr.miner_pubkey, mpk, 32);
    iotw_block_header_pack(&hdr, h.data());
    iotw_v1_Envelope w = iotw_v1_Envelope_init_zero;
    w.which_body = iotw_v1_Envelope_witness_request_tag;
    auto &r = w.body.witness_request;
    r.round_id = round_id++;
    r.assignment_id = r.round_id;
    std::memcpy(r.header, h.data(), 120);
    crypto_hash_sha256(r.block_hash, h.data(), 120);
    crypto_sign_detached(r.miner_signature, nullptr, m, iotw_sigmsg_result(r.assignment_id, r.block_hash, m), msk);
    // Signed with the node key, as the node sends it: the provisioned device answers nothing else (§6 step 10).
    uint8_t npk[32], nsk[64];
    crypto_sign_seed_keypair(npk, nsk, kNodeSeed.data());
    crypto_sign_detached(r.node_signature, nullptr, m,
                         iotw_sigmsg_witness(r.round_id, r.block_hash, r.block_hash, 0, r.assignment_id,
                                             r.miner_signature, m),
                         nsk);
    dev.sent.clear();
    dev.to_fw(w);
    for (const auto &f : dev.sent)
      for (const auto &e : FwDevice::decode(f))
        if (e.which_body == iotw_v1_Envelope_attestation_tag) return e.body.attestation.verdict;
    return iotw_v1_Verdict_VERDICT_UNSPECIFIED;
  };
  Hash fork{};
  fork.fill(0x66);
  EXPECT_EQ(witness_verdict(fork), iotw_v1_Verdict_VERDICT_INVALID);
  EXPECT_EQ(witness_verdict(rig.mem.chain.back().hash), iotw_v1_Verdict_VERDICT_VALID);
  EXPECT_EQ(dev.fw.stats.witness_unlinked, 1u);
}

}  // namespace
}  // namespace iotw::tn::test
