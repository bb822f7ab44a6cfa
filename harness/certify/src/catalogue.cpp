#include "iotw/certify/catalogue.hpp"
#include "iotw/certify/reference_fleet.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <regex>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <modbus.h>
#include <sodium.h>

#include "common/chip_profile.hpp"  // emulators/: the chip profiles CERT-021 reports against
#include "iotw/block_header.h"
#include "iotw/cobs.h"
#include "iotw/crc32.h"
#include "iotw/ecvrf.h"
#include "iotw/message_codec.h"
#include "iotw/signing.h"
#include "iotw/support/hex.hpp"

namespace iotw::certify {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using Key = std::array<std::uint8_t, 32>;
using Header = std::array<std::uint8_t, IOTW_BLOCK_HEADER_SIZE>;

Outcome pass(json measured = json::object()) { return {Verdict::Pass, "", std::move(measured)}; }
Outcome fail(std::string reason, json measured = json::object()) {
  return {Verdict::Fail, std::move(reason), std::move(measured)};
}
Outcome not_run(std::string reason) { return {Verdict::NotRun, std::move(reason), json::object()}; }

Key random32(RunContext& c) {
  Key k;
  for (auto& b : k) b = static_cast<std::uint8_t>(c.rng());
  return k;
}

Key sha256(const std::uint8_t* p, std::size_t n) {
  Key h;
  crypto_hash_sha256(h.data(), p, n);
  return h;
}

bool verify(const std::uint8_t sig[64], const std::uint8_t* msg, std::size_t n, const Key& pk) {
  return crypto_sign_verify_detached(sig, msg, n, pk.data()) == 0;
}

bool register_ok(const iotw_v1_Prove& p, const Key& nonce, const Key& pk) {
  std::uint8_t m[IOTW_SIG_MSG_MAX];
  const std::size_t n = iotw_sigmsg_register(nonce.data(), pk.data(), m);
  return verify(p.signature, m, n, pk);
}
bool result_ok(const iotw_v1_Result& r, const Key& pk) {
  std::uint8_t m[IOTW_SIG_MSG_MAX];
  return verify(r.signature, m, iotw_sigmsg_result(r.assignment_id, r.block_hash, m), pk);
}
bool attest_ok(const iotw_v1_Attestation& a, const Key& pk) {
  std::uint8_t m[IOTW_SIG_MSG_MAX];
  return verify(a.signature, m,
                iotw_sigmsg_attest(a.round_id, a.block_hash, static_cast<std::uint8_t>(a.verdict), m), pk);
}

iotw_v1_Envelope challenge(const Key& nonce) {
  iotw_v1_Envelope e{};
  e.which_body = iotw_v1_Envelope_challenge_tag;
  std::memcpy(e.body.challenge.nonce, nonce.data(), 32);
  return e;
}

Header make_header(RunContext& c, std::uint64_t height, const Key& prev, const Key& miner, std::uint32_t version = 1) {
  iotw_block_header h{};
  h.version = 1;
  h.height = height;
  std::memcpy(h.prev_hash, prev.data(), 32);
  const Key empty = sha256(nullptr, 0);
  std::memcpy(h.tx_root, empty.data(), 32);
  h.timestamp_ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  std::memcpy(h.miner_pubkey, miner.data(), 32);
  Header out;
  iotw_block_header_pack(&h, out.data());
  if (version != 1) iotw_put_u32le(out.data(), version);
  (void)c;
  return out;
}

/// Signs msg with the certifier's node key into sig (docs/protocol.md §5 node requests); zero without a node key.
void node_sign(const RunContext& c, const std::uint8_t* msg, std::size_t n, std::uint8_t sig[64]) {
  if (!c.node_seed) return;
  std::uint8_t pk[32], sk[64];
  crypto_sign_seed_keypair(pk, sk, c.node_seed->data());
  crypto_sign_detached(sig, nullptr, msg, n, sk);
  sodium_memzero(sk, sizeof sk);
}

/// An Assignment as the trust node sends it: signed over ASSIGN with the node key.
iotw_v1_Envelope assignment(const RunContext& c, std::uint64_t id, const Header& h, std::uint32_t deadline_ms) {
  iotw_v1_Envelope e{};
  e.which_body = iotw_v1_Envelope_assignment_tag;
  e.body.assignment.assignment_id = id;
  std::memcpy(e.body.assignment.header, h.data(), h.size());
  e.body.assignment.deadline_ms = deadline_ms;
  std::uint8_t m[IOTW_SIG_MSG_MAX];
  node_sign(c, m, iotw_sigmsg_assign(id, sha256(h.data(), h.size()).data(), deadline_ms, m), e.body.assignment.node_signature);
  return e;
}

/// The miner the headers of injected WitnessRequests name: a key of the certifier's own (a fixed seed; it signs
/// nothing but those requests' RESULT messages), so each request carries a miner signature that verifies.
struct CertMiner {
  Key pk;
  std::array<std::uint8_t, 64> sk;
};
const CertMiner& cert_miner() {
  static const CertMiner m = [] {
    CertMiner k;
    const char label[] = "IOTW certifier miner";
    const Key seed = sha256(reinterpret_cast<const std::uint8_t*>(label), sizeof label - 1);
    crypto_sign_seed_keypair(k.pk.data(), k.sk.data(), seed.data());
    return k;
  }();
  return m;
}

/// A WitnessRequest as the trust node sends it: the miner's Result (assignment_id = round, cert_miner()'s signature
/// over RESULT(round, hash); one bit of it flipped when bad_miner_signature), all signed over WITNESS with the node
/// key.
iotw_v1_Envelope witness_request(const RunContext& c, std::uint64_t round, const Header& h, const Key& hash,
                                 std::uint32_t deadline_ms, bool bad_miner_signature = false) {
  iotw_v1_Envelope e{};
  e.which_body = iotw_v1_Envelope_witness_request_tag;
  auto& w = e.body.witness_request;
  w.round_id = round;
  std::memcpy(w.header, h.data(), h.size());
  std::memcpy(w.block_hash, hash.data(), 32);
  w.deadline_ms = deadline_ms;
  w.assignment_id = round;
  std::uint8_t m[IOTW_SIG_MSG_MAX];
  crypto_sign_detached(w.miner_signature, nullptr, m, iotw_sigmsg_result(round, hash.data(), m),
                       cert_miner().sk.data());
  if (bad_miner_signature) w.miner_signature[7] ^= 0x20;
  node_sign(c, m,
            iotw_sigmsg_witness(round, sha256(h.data(), h.size()).data(), hash.data(), deadline_ms, w.assignment_id,
                                w.miner_signature, m),
            w.node_signature);
  return e;
}

/// A VrfRoundSeed as the trust node sends it: signed over SEED with the node key.
iotw_v1_Envelope vrf_seed(const RunContext& c, std::uint64_t height, const Key& prev, std::uint32_t suite,
                          std::uint32_t window_ms) {
  iotw_v1_Envelope s{};
  s.which_body = iotw_v1_Envelope_vrf_round_seed_tag;
  s.body.vrf_round_seed.height = height;
  std::memcpy(s.body.vrf_round_seed.prev_hash, prev.data(), 32);
  s.body.vrf_round_seed.suite = suite;
  s.body.vrf_round_seed.claim_window_ms = window_ms;
  std::uint8_t m[IOTW_SIG_MSG_MAX];
  node_sign(c, m, iotw_sigmsg_seed(height, prev.data(), suite, window_ms, m), s.body.vrf_round_seed.node_signature);
  return s;
}

Engine::Pred is(unsigned tag) {
  return [tag](const iotw_v1_Envelope& e) { return e.which_body == tag; };
}
Engine::Pred result_for(std::uint64_t id) {
  return [id](const iotw_v1_Envelope& e) {
    return e.which_body == iotw_v1_Envelope_result_tag && e.body.result.assignment_id == id;
  };
}
Engine::Pred attestation_for(std::uint64_t round) {
  return [round](const iotw_v1_Envelope& e) {
    return e.which_body == iotw_v1_Envelope_attestation_tag && e.body.attestation.round_id == round;
  };
}

std::string secs(std::chrono::milliseconds d) { return fmt::format("{:g}", static_cast<double>(d.count()) / 1000.0); }

/// Frames of `tag` from index `from` on.
std::vector<const SeenFrame*> all_of(const Engine& e, std::size_t from, unsigned tag) {
  std::vector<const SeenFrame*> out;
  for (std::size_t i = from; i < e.seen_count(); ++i)
    if (e.seen(i).env.which_body == tag) out.push_back(&e.seen(i));
  return out;
}

/// "" when the DUT did not reset since `from` (no Hello with a boot_count above the one before the test).
std::string reset_since(const RunContext& c, std::size_t from) {
  for (const SeenFrame* f : all_of(c.engine, from, iotw_v1_Envelope_hello_tag))
    if (f->env.body.hello.boot_count > c.boot_count)
      return fmt::format("the DUT reset: a Hello with boot_count {} (was {}) at +{:.3f} s", f->env.body.hello.boot_count,
                         c.boot_count, f->t_s);
  return "";
}

// --- framing (§2) ----------------------------------------------------------------------------------------------

/// Sends `bad` (which must be ignored), then a good Challenge: exactly one Prove (the good Challenge's) and no reset.
/// `bad_nonce`: `bad` carries a Challenge with this nonce, whose answer (if any) is withheld from the node.
Outcome bad_bytes_then_challenge(RunContext& c, const Bytes& bad, const std::optional<Key>& bad_nonce) {
  Engine& e = c.engine;
  const std::size_t m = e.mark();
  if (bad_nonce) e.withhold_prove_for(*bad_nonce);
  e.inject_raw(bad);
  e.pump_for(100ms);
  e.inject(challenge(random32(c)));
  if (!e.wait_for(m, is(iotw_v1_Envelope_prove_tag), c.answer))
    return fail(no_response(c.answer) + ": no Prove to the good Challenge after the bad bytes");
  e.pump_for(300ms);  // a Prove to the bad bytes or a reboot would show by now
  std::vector<const SeenFrame*> proves;  // answers to our Challenges (not a re-registration with the node)
  for (const SeenFrame* f : all_of(e, m, iotw_v1_Envelope_prove_tag))
    if (f->withheld) proves.push_back(f);
  json measured = {{"proves", proves.size()}};
  if (auto r = reset_since(c, m); !r.empty()) return fail(r, measured);
  if (proves.size() != 1)
    return fail(fmt::format("{} Proves: the DUT answered the frame it must drop as well as the good one", proves.size()),
                measured);
  return pass(measured);
}

/// A Challenge's serial frame; its Prove will be withheld from the node.
Bytes challenge_wire(RunContext& c) {
  const Key nonce = random32(c);
  c.engine.withhold_prove_for(nonce);
  return serial_frame(encode(challenge(nonce)));
}

Outcome cert001(RunContext& c) {  // bad CRC
  const Key nonce = random32(c);
  const Bytes payload = encode(challenge(nonce));
  Bytes raw = payload;
  const std::uint32_t crc = iotw_crc32(payload.data(), payload.size()) ^ 0x00000100u;  // one bit off
  for (int i = 0; i < 4; ++i) raw.push_back(static_cast<std::uint8_t>(crc >> (8 * i)));
  return bad_bytes_then_challenge(c, c.engine.dut_link().wire(raw), nonce);
}

/// "" on a link with the serial framing; else why a serial-framing test does not apply.
std::string serial_framing_only(const RunContext& c) {
  return c.engine.dut_link().stream() ? "" : "serial framing only: a UDP DUT gets one frame per datagram (docs/protocol.md §2)";
}

Outcome cert002(RunContext& c) {  // oversize
  if (auto why = serial_framing_only(c); !why.empty()) return not_run(why);
  Bytes bad(600);
  for (auto& b : bad) b = static_cast<std::uint8_t>(1 + c.rng() % 255);
  bad.push_back(0);
  return bad_bytes_then_challenge(c, bad, std::nullopt);
}

Outcome cert003(RunContext& c) {  // broken COBS: the first code byte points past the end of the frame
  if (auto why = serial_framing_only(c); !why.empty()) return not_run(why);
  const Key nonce = random32(c);
  Bytes wire = serial_frame(encode(challenge(nonce)));
  wire[0] = 0xFF;
  return bad_bytes_then_challenge(c, wire, nonce);
}

Outcome cert004(RunContext& c) {  // garbage between frames
  Bytes bad(256);
  for (auto& b : bad) b = static_cast<std::uint8_t>(1 + c.rng() % 255);
  if (c.engine.dut_link().stream()) bad.push_back(0);  // on UDP: one datagram of garbage
  return bad_bytes_then_challenge(c, bad, std::nullopt);
}

Outcome cert005(RunContext& c) {  // one byte per write
  if (auto why = serial_framing_only(c); !why.empty()) return not_run(why);
  Engine& e = c.engine;
  const std::size_t m = e.mark();
  e.inject_bytewise(challenge_wire(c), 20ms);
  if (!e.wait_for(m, is(iotw_v1_Envelope_prove_tag), c.answer))
    return fail(no_response(c.answer) + ": no Prove to a Challenge written one byte at a time");
  return pass();
}

Outcome cert006(RunContext& c) {  // two frames in one write
  if (auto why = serial_framing_only(c); !why.empty()) return not_run(why);
  Engine& e = c.engine;
  const std::size_t m = e.mark();
  Bytes both = challenge_wire(c);
  const Bytes second = challenge_wire(c);
  both.insert(both.end(), second.begin(), second.end());
  e.inject_raw(both);
  const SeenFrame* first = e.wait_for(m, is(iotw_v1_Envelope_prove_tag), c.answer);
  if (!first) return fail(no_response(c.answer) + ": no Prove to two Challenges sent in one write");
  const std::size_t next = first->index + 1;
  if (!e.wait_for(next, is(iotw_v1_Envelope_prove_tag), c.answer))
    return fail("one Prove only: the second of two frames in one write was lost", {{"proves", 1}});
  return pass({{"proves", 2}});
}

// --- registration (§6.1, §6.2) -------------------------------------------------------------------------------

Outcome cert010(RunContext& c) {
  const auto& h = c.engine.hello();
  if (!h) return fail(no_response(c.answer) + ": no Hello");
  iotw_v1_Envelope shown{};
  shown.which_body = iotw_v1_Envelope_hello_tag;
  shown.body.hello = *h;
  c.engine.note("judged: the DUT's latest Hello: " + describe(shown));
  json m = {{"pubkey", to_hex(h->pubkey, 32)}, {"model", h->model}, {"name", h->name},
            {"boot_count", h->boot_count}, {"reset_reason", h->reset_reason}, {"fw_version", h->fw_version}};
  if (crypto_core_ed25519_is_valid_point(h->pubkey) != 1)
    return fail("the Hello's pubkey is not a valid Ed25519 point (canonical, on the curve, not of small order)", m);
  const std::size_t model = std::strlen(h->model), name = std::strlen(h->name);
  if (model < 1 || model > 15) return fail(fmt::format("model is {} bytes; 1..15 allowed", model), m);
  if (name > 31) return fail(fmt::format("name is {} bytes; at most 31", name), m);
  if (h->boot_count < 1) return fail("boot_count is 0; the first boot counts 1", m);
  return pass(m);
}

Outcome cert011(RunContext& c) {
  Engine& e = c.engine;
  if (!e.node_nonce()) return fail("the trust node sent the DUT no Challenge (the DUT never sent a Hello it answered)");
  const SeenFrame* p = nullptr;  // the first Prove relayed to the node after its Challenge (not one to ours)
  for (std::size_t from = e.after_node_challenge(); !p;) {
    p = e.wait_for(from, is(iotw_v1_Envelope_prove_tag), c.answer);
    if (!p) return fail(no_response(c.answer) + ": no Prove to the node's Challenge");
    if (p->withheld) from = p->index + 1, p = nullptr;
  }
  const Key nonce = *e.node_nonce();
  e.note("judged: the node's Challenge nonce=" + to_hex(nonce) + " and the DUT's answer: " + describe(p->env));
  json m = {{"nonce", to_hex(nonce)}, {"prove_pubkey", to_hex(p->env.body.prove.pubkey, 32)}};
  if (std::memcmp(p->env.body.prove.pubkey, c.dut_pubkey.data(), 32) != 0)
    return fail("the Prove's pubkey is not the Hello's", m);
  if (!register_ok(p->env.body.prove, nonce, c.dut_pubkey))
    return fail("the Prove's signature does not verify over REGISTER(nonce, pubkey) under the Hello's pubkey", m);
  return pass(m);
}

Outcome cert012(RunContext& c) {
  Engine& e = c.engine;
  json m = json::array();
  for (int i = 0; i < 2; ++i) {
    const Key nonce = random32(c);
    const std::size_t at = e.mark();
    e.inject(challenge(nonce));
    const SeenFrame* p = e.wait_for(at, is(iotw_v1_Envelope_prove_tag), c.answer);
    if (!p) return fail(no_response(c.answer) + fmt::format(": no Prove to Challenge {}", i + 1));
    const bool ok = register_ok(p->env.body.prove, nonce, c.dut_pubkey);
    m.push_back({{"nonce", to_hex(nonce)}, {"verifies", ok}});
    if (!ok)
      return fail(fmt::format("the Prove to Challenge {} does not verify over REGISTER of its own nonce", i + 1),
                  {{"proves", m}});
  }
  return pass({{"proves", m}});
}

Outcome cert013(RunContext& c) {
  Engine& e = c.engine;
  if (!e.can_reset()) return not_run("no way to reset the DUT: give --reset-cmd (or reset=esp on a real port)");
  const Key before = c.dut_pubkey;
  const std::uint32_t boots = c.boot_count;
  if (auto err = e.reset(); !err.empty()) return fail(err);
  // The DUT was attached before the reset, so it had no Hello in flight: the next Hello is the new boot's.
  const std::size_t m = e.mark();
  constexpr auto kBoot = 15s;
  const SeenFrame* h = e.wait_for(m, is(iotw_v1_Envelope_hello_tag), kBoot);
  if (!h) return fail(no_response(kBoot) + ": no Hello after the reset");
  const auto& hello = h->env.body.hello;
  json meas = {{"pubkey_before", to_hex(before)}, {"pubkey_after", to_hex(hello.pubkey, 32)},
               {"boot_count_before", boots}, {"boot_count_after", hello.boot_count}, {"reset_reason", hello.reset_reason}};
  e.wait_attached(10s);
  if (std::memcmp(hello.pubkey, before.data(), 32) != 0) return fail("a different pubkey after the reset", meas);
  if (hello.boot_count != boots + 1)
    return fail(fmt::format("boot_count {} after {}: a reset adds one", hello.boot_count, boots), meas);
  if (hello.reset_reason != 2 && hello.reset_reason != 3)
    return fail(fmt::format("reset_reason {}: a reset is 3 (software) or 2 (external pin), ESP-IDF numbering",
                            hello.reset_reason), meas);
  return pass(meas);
}

Outcome cert015(RunContext& c) {
  Engine& e = c.engine;
  const std::size_t m = e.mark();
  iotw_v1_Envelope err{};
  err.which_body = iotw_v1_Envelope_error_tag;
  err.body.error.code = 1;
  std::strcpy(err.body.error.text, "not registered");
  const double t0 = e.now_s();
  e.inject(err);
  const SeenFrame* h = e.wait_for(m, is(iotw_v1_Envelope_hello_tag), 1s);
  if (!h) return fail(no_response(1s) + ": no Hello after Error 1");
  const double after_ms = 1000.0 * (h->t_s - t0);
  e.wait_attached(10s);
  return pass({{"hello_after_ms", std::round(after_ms)}});
}

// --- mining (§6.4) ---------------------------------------------------------------------------------------------

/// One injected Assignment for the DUT: its Result (nullptr when none came within deadline + 1 s) and the latency.
struct Mined {
  const SeenFrame* result = nullptr;
  double latency_ms = 0;
  Key hash{};
  std::uint64_t id = 0;
};

Mined mine_one(RunContext& c, const Key& miner, std::chrono::milliseconds extra = 1000ms) {
  Engine& e = c.engine;
  Mined out;
  out.id = c.next_id++;
  const Header h = make_header(c, c.next_height++, random32(c), miner);
  out.hash = sha256(h.data(), h.size());
  const std::size_t m = e.mark();
  const double t0 = e.now_s();
  e.inject(assignment(c, out.id, h, c.deadline_ms));
  out.result = e.wait_for(m, result_for(out.id), std::chrono::milliseconds(c.deadline_ms) + extra);
  if (out.result) out.latency_ms = 1000.0 * (out.result->t_s - t0);
  return out;
}

Outcome cert020(RunContext& c) {
  json results = json::array();
  for (int i = 0; i < 10; ++i) {
    const Mined r = mine_one(c, c.dut_pubkey);
    if (!r.result)
      return fail(no_response(std::chrono::milliseconds(c.deadline_ms) + 1s) +
                      fmt::format(": no Result for assignment {} ({} of 10)", r.id, i + 1),
                  {{"results", results}});
    const auto& res = r.result->env.body.result;
    const bool hash_ok = std::memcmp(res.block_hash, r.hash.data(), 32) == 0;
    const bool sig_ok = result_ok(res, c.dut_pubkey);
    results.push_back({{"assignment_id", r.id}, {"latency_ms", std::round(r.latency_ms * 10) / 10},
                       {"hash_ok", hash_ok}, {"signature_ok", sig_ok}});
    if (!hash_ok) return fail(fmt::format("assignment {}: block_hash is not SHA-256(header)", r.id), {{"results", results}});
    if (!sig_ok)
      return fail(fmt::format("assignment {}: the signature does not verify over RESULT under the DUT's key", r.id),
                  {{"results", results}});
    if (r.latency_ms > c.deadline_ms)
      return fail(fmt::format("assignment {}: the Result came {:.1f} ms after the Assignment, deadline_ms is {}", r.id,
                              r.latency_ms, c.deadline_ms),
                  {{"results", results}});
  }
  return pass({{"results", results}});
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const std::size_t i = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size()))) - 1;
  return v[std::min(i, v.size() - 1)];
}

/// The mining latency the reference chip model of the DUT's Hello model implies (emulators/esp_wifi
/// chip_profile.cpp): SHA-256 of the 120-byte header plus one Ed25519 signature, in CPU time at the chip's
/// clock; the rest of a Result's latency is the link and the firmware's loop. Null for a model with no profile
/// (a partner's own chip, a dps or bulb).
json chip_profile_cost(const RunContext& c) {
  if (!c.engine.hello()) return nullptr;
  try {
    const emu::ChipProfile& p = emu::chip_profile(c.engine.hello()->model);
    const double compute_ms = (p.sha256_us(IOTW_BLOCK_HEADER_SIZE) + p.ed25519_sign_us()) / 1000;
    return {{"model", p.model}, {"chip", p.chip}, {"cpu_mhz", p.cpu_mhz}, {"compute_ms", std::round(compute_ms * 100) / 100}};
  } catch (const std::invalid_argument&) {
    return nullptr;
  }
}

Outcome cert021(RunContext& c) {
  std::vector<double> lat;
  for (int i = 0; i < 10; ++i) {
    const Mined r = mine_one(c, c.dut_pubkey);
    if (!r.result)
      return fail(no_response(std::chrono::milliseconds(c.deadline_ms) + 1s) +
                  fmt::format(": no Result for assignment {}", r.id));
    lat.push_back(r.latency_ms);
  }
  const double p50 = percentile(lat, 0.50), p99 = percentile(lat, 0.99);
  json m = {{"samples", lat.size()}, {"p50_ms", std::round(p50 * 10) / 10}, {"p99_ms", std::round(p99 * 10) / 10},
            {"deadline_ms", c.deadline_ms}, {"chip_profile", chip_profile_cost(c)}};
  if (p99 >= c.deadline_ms) return fail(fmt::format("p99 {:.1f} ms is not under deadline_ms {}", p99, c.deadline_ms), m);
  return pass(m);
}

Outcome cert022(RunContext& c) {
  const Key other = random32(c);
  Engine& e = c.engine;
  const std::uint64_t id = c.next_id++;
  const Header h = make_header(c, c.next_height++, random32(c), other);
  const std::size_t m = e.mark();
  const double t0 = e.now_s();
  e.inject(assignment(c, id, h, c.deadline_ms));
  if (const SeenFrame* r = e.wait_for(m, result_for(id), std::chrono::milliseconds(c.deadline_ms)))
    return fail(fmt::format("a Result for an Assignment whose header names another miner ({})", to_hex(other)),
                {{"result_after_ms", std::round(1000 * (r->t_s - t0))}});
  return pass();
}

// --- witnessing (§6.5) -----------------------------------------------------------------------------------------

struct Witnessed {
  const SeenFrame* att = nullptr;
  std::uint64_t round = 0;
};

Witnessed witness(RunContext& c, std::uint64_t round, const Header& h, const Key& claimed,
                  bool bad_miner_signature = false) {
  Engine& e = c.engine;
  const std::size_t m = e.mark();
  e.inject(witness_request(c, round, h, claimed, c.deadline_ms, bad_miner_signature));
  return {e.wait_for(m, attestation_for(round), c.answer), round};
}

/// A request for `h` claiming `claimed`: an Attestation with `want`, round and hash echoed, signed over ATTEST.
Outcome judge(RunContext& c, const Header& h, const Key& claimed, iotw_v1_Verdict want,
              bool bad_miner_signature = false) {
  const Witnessed w = witness(c, c.next_id++, h, claimed, bad_miner_signature);
  if (!w.att) return fail(no_response(c.answer) + fmt::format(": no Attestation for round {}", w.round));
  const auto& a = w.att->env.body.attestation;
  json m = {{"round_id", a.round_id}, {"verdict", static_cast<int>(a.verdict)}, {"expected_verdict", static_cast<int>(want)}};
  if (std::memcmp(a.block_hash, claimed.data(), 32) != 0) return fail("block_hash is not the request's", m);
  if (a.verdict != want)
    return fail(fmt::format("verdict {} ({}), expected {}", static_cast<int>(a.verdict),
                            a.verdict == iotw_v1_Verdict_VERDICT_VALID ? "valid" : "invalid", static_cast<int>(want)),
                m);
  if (!attest_ok(a, c.dut_pubkey)) return fail("the signature does not verify over ATTEST under the DUT's key", m);
  return pass(m);
}

Outcome cert030(RunContext& c) {
  const Header h = make_header(c, c.next_height++, random32(c), cert_miner().pk);
  return judge(c, h, sha256(h.data(), h.size()), iotw_v1_Verdict_VERDICT_VALID);
}

Outcome cert031(RunContext& c) {
  const Header h = make_header(c, c.next_height++, random32(c), cert_miner().pk);
  Key wrong = sha256(h.data(), h.size());
  wrong[c.rng() % 32] ^= 0x01;
  return judge(c, h, wrong, iotw_v1_Verdict_VERDICT_INVALID);
}

Outcome cert033(RunContext& c) {
  const Header h = make_header(c, c.next_height++, random32(c), cert_miner().pk, 2);
  return judge(c, h, sha256(h.data(), h.size()), iotw_v1_Verdict_VERDICT_INVALID);
}

// A node-signed request whose header and hash are right but whose miner_signature does not verify over RESULT under
// the header's miner_pubkey.
Outcome cert039(RunContext& c) {
  const Header h = make_header(c, c.next_height++, random32(c), cert_miner().pk);
  return judge(c, h, sha256(h.data(), h.size()), iotw_v1_Verdict_VERDICT_INVALID, true);
}

Outcome cert034(RunContext& c) {
  Engine& e = c.engine;
  const Header h = make_header(c, c.next_height++, random32(c), cert_miner().pk);
  const Key hash = sha256(h.data(), h.size());
  const std::uint64_t round = c.next_id++;
  const std::size_t m = e.mark();
  const Witnessed first = witness(c, round, h, hash);
  if (!first.att) return fail(no_response(c.answer) + ": no Attestation to the first request");
  const iotw_v1_Attestation a1 = first.att->env.body.attestation;
  // The same request again (a retransmission: at most the same signed bytes again), then the same round with
  // other contents (a replay: nothing).
  e.inject(witness_request(c, round, h, hash, c.deadline_ms));
  e.pump_for(std::chrono::milliseconds(c.deadline_ms) / 2);
  const Header other = make_header(c, c.next_height++, random32(c), cert_miner().pk);
  e.inject(witness_request(c, round, other, sha256(other.data(), other.size()), c.deadline_ms));
  e.pump_for(std::chrono::milliseconds(c.deadline_ms));
  std::size_t count = 0, resent = 0;
  for (const SeenFrame* f : all_of(e, m, iotw_v1_Envelope_attestation_tag)) {
    const auto& a = f->env.body.attestation;
    if (a.round_id != round) continue;
    ++count;
    if (&f->env.body.attestation == &first.att->env.body.attestation) continue;
    const bool same = a.round_id == a1.round_id && a.verdict == a1.verdict &&
                      std::memcmp(a.block_hash, a1.block_hash, 32) == 0 && std::memcmp(a.signature, a1.signature, 64) == 0;
    if (!same)
      return fail("a second, different Attestation for a round already answered (a new signature for a replayed "
                  "request)",
                  {{"attestations", count}});
    ++resent;
  }
  json meas = {{"attestations", count}, {"identical_resends", resent}};
  if (resent > 1) return fail("the answered request's Attestation was re-sent to the replay with other contents", meas);
  return pass(meas);
}

Outcome cert035(RunContext& c) {
  Engine& e = c.engine;
  c.next_id += 2;
  const std::uint64_t high = c.next_id - 1, low = c.next_id - 2;
  const Header h1 = make_header(c, c.next_height++, random32(c), cert_miner().pk);
  if (!witness(c, high, h1, sha256(h1.data(), h1.size())).att)
    return fail(no_response(c.answer) + fmt::format(": no Attestation for round {}", high));
  const Header h2 = make_header(c, c.next_height++, random32(c), cert_miner().pk);
  const std::size_t m = e.mark();
  e.inject(witness_request(c, low, h2, sha256(h2.data(), h2.size()), c.deadline_ms));
  if (e.wait_for(m, attestation_for(low), std::chrono::milliseconds(c.deadline_ms)))
    return fail(fmt::format("an Attestation for round {} after round {} was answered", low, high));
  return pass();
}

Outcome cert036(RunContext& c) {
  const Mined r = mine_one(c, c.dut_pubkey, 3s);  // late is CERT-020's rule, not this one's
  if (!r.result) return fail(no_response(std::chrono::milliseconds(c.deadline_ms) + 3s) + ": no Result");
  const Header h = make_header(c, c.next_height++, random32(c), cert_miner().pk);
  const Witnessed w = witness(c, c.next_id++, h, sha256(h.data(), h.size()));
  if (!w.att) return fail(no_response(c.answer) + ": no Attestation");
  const auto& res = r.result->env.body.result;
  const auto& att = w.att->env.body.attestation;
  std::uint8_t m[IOTW_SIG_MSG_MAX];
  // The Result's signature under the other domains over the same fields, and the Attestation's likewise.
  const bool res_own = result_ok(res, c.dut_pubkey);
  bool res_other = false, att_other = false;
  for (std::uint8_t v : {1, 2})
    res_other |= verify(res.signature, m, iotw_sigmsg_attest(res.assignment_id, res.block_hash, v, m), c.dut_pubkey);
  res_other |= verify(res.signature, m, iotw_sigmsg_checkpoint(res.assignment_id, res.block_hash, m), c.dut_pubkey);
  const bool att_own = attest_ok(att, c.dut_pubkey);
  att_other |= verify(att.signature, m, iotw_sigmsg_result(att.round_id, att.block_hash, m), c.dut_pubkey);
  att_other |= verify(att.signature, m, iotw_sigmsg_checkpoint(att.round_id, att.block_hash, m), c.dut_pubkey);
  json meas = {{"result_under_RESULT", res_own}, {"result_under_another_domain", res_other},
               {"attestation_under_ATTEST", att_own}, {"attestation_under_another_domain", att_other}};
  if (!res_own || res_other) return fail("the Result is not signed under the RESULT domain alone", meas);
  if (!att_own || att_other) return fail("the Attestation is not signed under the ATTEST domain alone", meas);
  return pass(meas);
}

// --- VRF claims (§5, docs/vrf.md) -------------------------------------------------------------------------------

Outcome vrf_claim(RunContext& c, iotw_ecvrf_suite suite) {
  Engine& e = c.engine;
  const std::uint64_t height = c.next_height++;
  const Key prev = random32(c);
  const iotw_v1_Envelope s = vrf_seed(c, height, prev, static_cast<std::uint32_t>(suite), 2000);
  const std::size_t m = e.mark();
  e.inject(s);
  const SeenFrame* f = e.wait_for(m, [height](const iotw_v1_Envelope& env) {
    return env.which_body == iotw_v1_Envelope_vrf_claim_tag && env.body.vrf_claim.height == height;
  }, c.answer);
  if (!f) return fail(no_response(c.answer) + fmt::format(": no VrfClaim for height {}", height));
  std::uint8_t alpha[IOTW_VRF_ALPHA_SIZE];
  const std::size_t n = iotw_vrf_alpha(height, prev.data(), alpha);
  const iotw_ecvrf_status st = iotw_ecvrf_verify(suite, nullptr, c.dut_pubkey.data(), f->env.body.vrf_claim.pi, alpha, n);
  json meas = {{"height", height}, {"suite", static_cast<int>(suite)}, {"status", iotw_ecvrf_status_str(st)}};
  if (st != IOTW_ECVRF_OK) return fail(std::string("the proof does not verify: ") + iotw_ecvrf_status_str(st), meas);
  return pass(meas);
}

Outcome cert040(RunContext& c) { return vrf_claim(c, IOTW_ECVRF_TAI); }
Outcome cert041(RunContext& c) { return vrf_claim(c, IOTW_ECVRF_ELL2); }

// --- light verification (§6) -----------------------------------------------------------------------------------

/// "" when the DUT is provisioned with the node key: it sent a CheckpointRequest (asked here, if it has not yet,
/// with a witness request above any checkpoint it can have).
std::string provisioned(RunContext& c) {
  Engine& e = c.engine;
  if (!c.node_seed) return "the certifier has no node key";
  if (!all_of(e, 0, iotw_v1_Envelope_checkpoint_request_tag).empty()) return "";
  if (c.not_provisioned) return *c.not_provisioned;  // asked once already
  const std::size_t m = e.mark();
  const Header h = make_header(c, c.next_height += 1000, random32(c), cert_miner().pk);
  witness(c, c.next_id++, h, sha256(h.data(), h.size()));
  if (e.wait_for(m, is(iotw_v1_Envelope_checkpoint_request_tag), 1500ms)) return "";
  return *(c.not_provisioned = "the DUT is not provisioned with the trust node's key: it sent no CheckpointRequest (docs/protocol.md §6); "
         "provision it with the public key of --node-key");
}

iotw_v1_Envelope checkpoint(const RunContext& c, std::uint64_t height, const Key& hash, bool forge) {
  iotw_v1_Envelope e{};
  e.which_body = iotw_v1_Envelope_checkpoint_tag;
  e.body.checkpoint.height = height;
  std::memcpy(e.body.checkpoint.block_hash, hash.data(), 32);
  std::uint8_t pk[32], sk[64], m[IOTW_SIG_MSG_MAX];
  crypto_sign_seed_keypair(pk, sk, c.node_seed->data());
  const std::size_t n = iotw_sigmsg_checkpoint(height, hash.data(), m);
  crypto_sign_detached(e.body.checkpoint.signature, nullptr, m, n, sk);
  sodium_memzero(sk, sizeof sk);
  if (forge) e.body.checkpoint.signature[5] ^= 0x40;
  return e;
}

/// Adopt-then-ask: a node-signed checkpoint at a fresh height H with hash X, then a request at H + 1 whose
/// prev_hash is `prev(X)`; returns the Attestation's verdict (0 = no answer).
int linked_verdict(RunContext& c, const std::function<Key(const Key&)>& prev_of, bool forged_after, json& meas) {
  Engine& e = c.engine;
  const std::uint64_t height = (c.next_height += 1000);
  const Key x = random32(c);
  e.inject(checkpoint(c, height, x, false));
  e.pump_for(100ms);
  Key parent = x;
  if (forged_after) {
    parent = random32(c);
    e.inject(checkpoint(c, height, parent, true));
    e.pump_for(100ms);
  }
  const Header h = make_header(c, height + 1, prev_of(parent), cert_miner().pk);
  c.next_height = height + 2;  // later headers never land right above this checkpoint by accident
  const Witnessed w = witness(c, c.next_id++, h, sha256(h.data(), h.size()));
  meas["checkpoint_height"] = height;
  if (!w.att) return 0;
  const uint32_t raw = iotw_msg_attestation_verdict(&w.att->env.body.attestation);  // the DUT's, any value
  const int verdict = raw > 0xFFu ? 0x100 : static_cast<int>(raw);
  meas["verdict"] = verdict;
  return verdict;
}

Outcome cert032(RunContext& c) {
  if (auto why = provisioned(c); !why.empty()) return not_run(why);
  c.engine.block_node_checkpoints(true);
  json m;
  const int v = linked_verdict(c, [&](const Key&) { return random32(c); }, false, m);
  if (v == 0) return fail(no_response(c.answer) + ": no Attestation", m);
  if (v != iotw_v1_Verdict_VERDICT_INVALID)
    return fail("VALID for a header whose prev_hash is not the checkpoint's block hash", m);
  return pass(m);
}

Outcome cert050(RunContext& c) {
  if (auto why = provisioned(c); !why.empty()) return not_run(why);
  c.engine.block_node_checkpoints(true);
  json linked, unlinked;
  const int v = linked_verdict(c, [](const Key& x) { return x; }, false, linked);
  if (v == 0) return fail(no_response(c.answer) + ": no Attestation", linked);
  if (v != iotw_v1_Verdict_VERDICT_VALID) return fail("INVALID for a header linked to a node-signed checkpoint", linked);
  // Judged, not merely unjudged: the same kind of header with another parent must now be INVALID.
  const int u = linked_verdict(c, [&](const Key&) { return random32(c); }, false, unlinked);
  json m = {{"linked", linked}, {"unlinked", unlinked}};
  if (u != iotw_v1_Verdict_VERDICT_INVALID)
    return fail("the checkpoint was not adopted: a header that does not link to it was not judged INVALID", m);
  return pass(m);
}

Outcome cert051(RunContext& c) {
  if (auto why = provisioned(c); !why.empty()) return not_run(why);
  c.engine.block_node_checkpoints(true);
  json m;
  const int v = linked_verdict(c, [](const Key& forged) { return forged; }, true, m);
  if (v == 0) return fail(no_response(c.answer) + ": no Attestation", m);
  if (v == iotw_v1_Verdict_VERDICT_VALID)
    return fail("VALID for a header linked to a checkpoint with a bad signature: the forged checkpoint was adopted", m);
  return pass(m);
}

/// Node requests (§6 "Node requests"): a DUT provisioned with the node key answers no WitnessRequest or Assignment
/// whose node_signature is missing or forged, and still answers the same request properly signed.
Outcome cert037(RunContext& c) {
  if (auto why = provisioned(c); !why.empty()) return not_run(why);
  Engine& e = c.engine;
  const Header h = make_header(c, c.next_height++, random32(c), cert_miner().pk);
  const Key hash = sha256(h.data(), h.size());
  const Header mine = make_header(c, c.next_height++, random32(c), c.dut_pubkey);
  const std::uint64_t r_unsigned = c.next_id++, r_forged = c.next_id++, a_forged = c.next_id++;
  iotw_v1_Envelope unsigned_req = witness_request(c, r_unsigned, h, hash, c.deadline_ms);
  std::memset(unsigned_req.body.witness_request.node_signature, 0, 64);
  iotw_v1_Envelope forged_req = witness_request(c, r_forged, h, hash, c.deadline_ms);
  forged_req.body.witness_request.node_signature[5] ^= 0x40;
  iotw_v1_Envelope forged_job = assignment(c, a_forged, mine, c.deadline_ms);
  forged_job.body.assignment.node_signature[7] ^= 0x01;
  const std::size_t m = e.mark();
  e.inject(unsigned_req);
  e.inject(forged_req);
  e.inject(forged_job);
  e.pump_for(std::chrono::milliseconds(c.deadline_ms));
  json meas = {{"unsigned_round_id", r_unsigned}, {"forged_round_id", r_forged}, {"forged_assignment_id", a_forged}};
  if (e.wait_for(m, attestation_for(r_unsigned), std::chrono::milliseconds(0)))
    return fail("an Attestation for a WitnessRequest without the node's signature", meas);
  if (e.wait_for(m, attestation_for(r_forged), std::chrono::milliseconds(0)))
    return fail("an Attestation for a WitnessRequest whose node signature does not verify", meas);
  if (e.wait_for(m, result_for(a_forged), std::chrono::milliseconds(0)))
    return fail("a Result for an Assignment whose node signature does not verify", meas);
  // Not merely deaf: the same kind of request, signed, is answered.
  if (!witness(c, c.next_id++, h, hash).att) return fail(no_response(c.answer) + ": no Attestation to a signed request", meas);
  return pass(meas);
}

// --- heartbeats (§6.3) -----------------------------------------------------------------------------------------

Outcome cert060(RunContext& c) {
  Engine& e = c.engine;
  const double interval = e.heartbeat_interval_ms() / 1000.0, slack = 1.2 * interval;
  const std::size_t m = e.mark();
  const double t0 = e.now_s();
  e.pump_for(std::chrono::milliseconds(static_cast<long>(3 * slack * 1000)));
  const double t1 = e.now_s();
  const auto hb = all_of(e, m, iotw_v1_Envelope_heartbeat_tag);
  json meas = {{"heartbeat_interval_ms", e.heartbeat_interval_ms()}, {"heartbeats", hb.size()}};
  if (hb.empty()) return fail(no_response(std::chrono::milliseconds(static_cast<long>((t1 - t0) * 1000))) + ": no Heartbeat", meas);
  double gap = hb.front()->t_s - t0;
  for (std::size_t i = 1; i < hb.size(); ++i) {
    gap = std::max(gap, hb[i]->t_s - hb[i - 1]->t_s);
    const auto &a = hb[i - 1]->env.body.heartbeat, &b = hb[i]->env.body.heartbeat;
    if (b.seq <= a.seq) return fail(fmt::format("seq {} after {}: not strictly increasing", b.seq, a.seq), meas);
    if (b.uptime_ms < a.uptime_ms) return fail(fmt::format("uptime_ms {} after {}: decreasing", b.uptime_ms, a.uptime_ms), meas);
  }
  gap = std::max(gap, t1 - hb.back()->t_s);
  meas["longest_gap_ms"] = std::round(gap * 1000);
  if (gap > slack)
    return fail(fmt::format("{:.0f} ms without a Heartbeat; the interval is {} ms (+20 %)", gap * 1000,
                            e.heartbeat_interval_ms()), meas);
  return pass(meas);
}

// --- robustness (§2, §6) ----------------------------------------------------------------------------------------

Outcome cert070(RunContext& c) {
  Engine& e = c.engine;
  std::vector<Bytes> corpus;
  {
    const Header h = make_header(c, c.next_height++, random32(c), c.dut_pubkey);
    const Key hash = sha256(h.data(), h.size());
    corpus.push_back(encode(challenge(random32(c))));
    corpus.push_back(encode(assignment(c, c.next_id++, h, c.deadline_ms)));
    corpus.push_back(encode(witness_request(c, c.next_id++, h, hash, c.deadline_ms)));
    iotw_v1_Envelope ack{};
    ack.which_body = iotw_v1_Envelope_heartbeat_ack_tag;
    ack.body.heartbeat_ack.seq = 7;
    ack.body.heartbeat_ack.height = 3;
    corpus.push_back(encode(ack));
    corpus.push_back(encode(vrf_seed(c, c.next_height++, Key{}, 3, 200)));
  }
  e.withhold_answers(true);
  const std::size_t m = e.mark();
  const double t0 = e.now_s();
  std::size_t sent = 0;
  while (e.now_s() - t0 < c.fuzz_s) {
    Bytes p = corpus[c.rng() % corpus.size()];
    switch (c.rng() % 4) {
      case 0:  // flip bits
        for (int k = 0, n = 1 + static_cast<int>(c.rng() % 4); k < n; ++k) p[c.rng() % p.size()] ^= 1u << (c.rng() % 8);
        break;
      case 1: p.resize(1 + c.rng() % p.size()); break;  // truncate
      case 2:                                            // append
        for (int k = 0, n = 1 + static_cast<int>(c.rng() % 16); k < n; ++k) p.push_back(static_cast<std::uint8_t>(c.rng()));
        break;
      default: p[c.rng() % p.size()] = static_cast<std::uint8_t>(c.rng()); break;  // overwrite a byte
    }
    if (p.size() > 512) p.resize(512);
    Bytes wire;
    if (c.rng() % 4 == 0) {  // raw: no framing at all
      wire = p;
      if (e.dut_link().stream()) {
        std::replace(wire.begin(), wire.end(), std::uint8_t{0}, std::uint8_t{0x55});
        wire.push_back(0);
      }
    } else {  // framed, with the CRC of the mutated payload
      const std::uint32_t crc = iotw_crc32(p.data(), p.size());
      for (int i = 0; i < 4; ++i) p.push_back(static_cast<std::uint8_t>(crc >> (8 * i)));
      wire = e.dut_link().wire(p);
    }
    e.inject_raw(wire);
    ++sent;
    e.pump_for(20ms);
  }
  e.withhold_answers(false);
  // Longest silence of the DUT during the fuzz.
  double last = t0, gap = 0;
  for (std::size_t i = m; i < e.seen_count(); ++i) {
    gap = std::max(gap, e.seen(i).t_s - last);
    last = e.seen(i).t_s;
  }
  gap = std::max(gap, e.now_s() - last);
  const double allowed = e.heartbeat_interval_ms() / 1000.0 + 1.0;
  json meas = {{"frames_sent", sent}, {"seconds", c.fuzz_s}, {"longest_silence_ms", std::round(gap * 1000)}};
  if (auto r = reset_since(c, m); !r.empty()) return fail(r, meas);
  if (gap > allowed)
    return fail(fmt::format("{:.0f} ms of silence; at most heartbeat_interval_ms + 1 s = {:.0f} ms", gap * 1000,
                            allowed * 1000), meas);
  e.wait_attached(10s);
  const std::size_t at = e.mark();
  e.inject(challenge(random32(c)));
  if (!e.wait_for(at, is(iotw_v1_Envelope_prove_tag), c.answer))
    return fail(no_response(c.answer) + ": no Prove to a Challenge after the fuzz", meas);
  return pass(meas);
}

// --- power (§6.1, docs/emulators.md): power loss and brown-out through --power-cmd ---------------------------------

/// `--power-cmd CMD ACTION` (off or brownout), 500 ms, then `CMD on`: a Hello within 15 s with the same pubkey,
/// boot_count + 1 and reset_reason `want`, and attached again.
Outcome power_event(RunContext& c, const std::string& action, std::uint32_t want, const char* want_text) {
  Engine& e = c.engine;
  if (!e.can_power())
    return not_run("no way to cut the DUT's power: give --power-cmd (docs/certification.md \"The certification run\")");
  const Key before = c.dut_pubkey;
  const std::uint32_t boots = c.boot_count;
  const std::size_t m = e.mark();
  if (auto err = e.power(action); !err.empty()) return fail(err);
  e.pump_for(500ms);
  if (auto err = e.power("on"); !err.empty()) return fail(err);
  constexpr auto kBoot = 15s;
  const SeenFrame* h = e.wait_for(m, is(iotw_v1_Envelope_hello_tag), kBoot);
  if (!h) return fail(no_response(kBoot) + ": no Hello after the supply came back");
  const auto& hello = h->env.body.hello;
  json meas = {{"pubkey_before", to_hex(before)}, {"pubkey_after", to_hex(hello.pubkey, 32)},
               {"boot_count_before", boots}, {"boot_count_after", hello.boot_count}, {"reset_reason", hello.reset_reason}};
  const bool attached = e.wait_attached(10s);
  meas["attached_again"] = attached;
  if (std::memcmp(hello.pubkey, before.data(), 32) != 0) return fail("a different pubkey after the supply came back", meas);
  if (hello.boot_count != boots + 1)
    return fail(fmt::format("boot_count {} after {}: a boot adds one", hello.boot_count, boots), meas);
  if (hello.reset_reason != want)
    return fail(fmt::format("reset_reason {}: expected {} ({}, ESP-IDF numbering)", hello.reset_reason, want, want_text),
                meas);
  if (!attached) return fail("the DUT did not register with the trust node again within 10 s", meas);
  return pass(meas);
}

Outcome cert014(RunContext& c) { return power_event(c, "off", 1, "power-on"); }
Outcome cert080(RunContext& c) { return power_event(c, "brownout", 9, "brown-out"); }

// --- usage reports (§3 UsageReport, §5 USAGE) ----------------------------------------------------------------------

bool usage_ok(const iotw_v1_UsageReport& u, const Key& pk) {
  std::uint8_t m[IOTW_SIG_MSG_MAX];
  return verify(u.signature, m, iotw_sigmsg_usage(u.seq, u.energy_mwh, u.on_seconds, u.period_s, m), pk);
}

json usage_json(const iotw_v1_UsageReport& u, bool sig_ok) {
  return {{"seq", u.seq}, {"energy_mwh", u.energy_mwh}, {"on_seconds", u.on_seconds}, {"period_s", u.period_s},
          {"signature_ok", sig_ok}};
}

/// The bound for the next UsageReport: the DUT's period (--usage-period-s) + 2 s.
std::chrono::milliseconds usage_bound(const RunContext& c) { return c.usage_period + 2000ms; }

Outcome cert061(RunContext& c) {
  Engine& e = c.engine;
  json reports = json::array();
  std::size_t from = e.mark();
  std::uint64_t last_seq = 0;
  for (int i = 0; i < 3; ++i) {
    const SeenFrame* f = e.wait_for(from, is(iotw_v1_Envelope_usage_report_tag), usage_bound(c));
    if (!f)
      return fail(no_response(usage_bound(c)) +
                      fmt::format(": no UsageReport ({} of 3; the period is --usage-period-s {:g})", i + 1,
                                  static_cast<double>(c.usage_period.count()) / 1000),
                  {{"reports", reports}});
    from = f->index + 1;
    const auto& u = f->env.body.usage_report;
    const bool sig = usage_ok(u, c.dut_pubkey);
    reports.push_back(usage_json(u, sig));
    if (!sig)
      return fail(fmt::format("UsageReport seq {}: the signature does not verify over USAGE under the DUT's key", u.seq),
                  {{"reports", reports}});
    if (u.period_s == 0) return fail(fmt::format("UsageReport seq {}: period_s is 0", u.seq), {{"reports", reports}});
    if (u.on_seconds > u.period_s)
      return fail(fmt::format("UsageReport seq {}: on_seconds {} exceeds period_s {}", u.seq, u.on_seconds, u.period_s),
                  {{"reports", reports}});
    if (i > 0 && u.seq <= last_seq)
      return fail(fmt::format("seq {} after {}: not strictly increasing", u.seq, last_seq), {{"reports", reports}});
    last_seq = u.seq;
  }
  return pass({{"reports", reports}});
}

Outcome cert062(RunContext& c) {
  Engine& e = c.engine;
  if (!e.can_reset()) return not_run("no way to reset the DUT: give --reset-cmd (or reset=esp on a real port)");
  const SeenFrame* a = e.wait_for(e.mark(), is(iotw_v1_Envelope_usage_report_tag), usage_bound(c));
  if (!a) return fail(no_response(usage_bound(c)) + ": no UsageReport before the reset");
  const auto before = a->env.body.usage_report;
  json meas = {{"before", usage_json(before, usage_ok(before, c.dut_pubkey))}};
  if (auto err = e.reset(); !err.empty()) return fail(err, meas);
  const std::size_t m = e.mark();
  constexpr auto kBoot = 15s;
  const SeenFrame* h = e.wait_for(m, is(iotw_v1_Envelope_hello_tag), kBoot);
  if (!h) return fail(no_response(kBoot) + ": no Hello after the reset", meas);
  const auto bound = usage_bound(c) + 10s;  // registering again, then a period
  const SeenFrame* b = e.wait_for(h->index + 1, is(iotw_v1_Envelope_usage_report_tag), bound);
  if (!b) return fail(no_response(bound) + ": no UsageReport after the reset", meas);
  const auto after = b->env.body.usage_report;
  const bool sig = usage_ok(after, c.dut_pubkey);
  meas["after"] = usage_json(after, sig);
  e.wait_attached(10s);
  if (after.seq <= before.seq)
    return fail(fmt::format("seq {} after the reset, {} before: the usage seq must survive a reset (NVS)", after.seq,
                            before.seq),
                meas);
  if (!sig) return fail("the UsageReport after the reset does not verify over USAGE under the DUT's key", meas);
  return pass(meas);
}

// --- Modbus register map (docs/dps-register-map.md) through libmodbus ----------------------------------------------

struct ModbusDeleter {
  void operator()(modbus_t* m) const {
    modbus_close(m);
    modbus_free(m);
  }
};
using ModbusPtr = std::unique_ptr<modbus_t, ModbusDeleter>;

/// A connected libmodbus client for --modbus (1 s response timeout); nullptr and `why` on failure.
ModbusPtr modbus_open(const ModbusTarget& t, std::string& why) {
  modbus_t* raw = t.kind == ModbusTarget::Kind::Tcp ? modbus_new_tcp(t.host.c_str(), t.port)
                                                    : modbus_new_rtu(t.path.c_str(), t.baud, t.parity, 8, 1);
  if (!raw) {
    why = std::string("libmodbus: ") + modbus_strerror(errno);
    return nullptr;
  }
  ModbusPtr m(raw);
  modbus_set_slave(raw, t.slave);
  modbus_set_response_timeout(raw, 1, 0);
  if (modbus_connect(raw) != 0) {
    why = "cannot connect to the DUT's Modbus side " + t.canonical() + ": " + modbus_strerror(errno);
    return nullptr;
  }
  return m;
}

std::string modbus_error() { return modbus_strerror(errno); }

constexpr const char* kNoModbus = "no Modbus side given: --modbus tcp:HOST:PORT or rtu:PATH (docs/certification.md)";

Outcome cert081(RunContext& c) {
  if (!c.modbus) return not_run(kNoModbus);
  std::string why;
  ModbusPtr mb = modbus_open(*c.modbus, why);
  if (!mb) return fail(why);
  modbus_t* m = mb.get();
  std::uint16_t r[13]{}, g[8]{};
  if (modbus_read_registers(m, 0x0000, 13, r) != 13) return fail("FC 03 at 0x0000, 13 registers: " + modbus_error());
  c.engine.note(fmt::format("modbus FC 03 0x0000..0x000C -> {}", fmt::join(std::begin(r), std::end(r), " ")));
  if (modbus_read_registers(m, 0x0050, 8, g) != 8) return fail("FC 03 at 0x0050, 8 registers: " + modbus_error());
  c.engine.note(fmt::format("modbus FC 03 0x0050..0x0057 -> {}", fmt::join(std::begin(g), std::end(g), " ")));
  json meas = {{"u_set", r[0]},   {"i_set", r[1]},  {"uout", r[2]},  {"iout", r[3]},   {"power", r[4]},
               {"uin", r[5]},     {"lock", r[6]},   {"protect", r[7]}, {"cv_cc", r[8]}, {"onoff", r[9]},
               {"b_led", r[10]},  {"model", r[11]}, {"version", r[12]}, {"s_ovp", g[2]}, {"s_ocp", g[3]},
               {"s_opp", g[4]},   {"m_pre", g[6]},  {"s_ini", g[7]}};
  static const std::set<std::uint16_t> kModels = {3005, 3012, 5005, 5015, 5020, 8005, 5205};
  if (!kModels.count(r[11]))
    return fail(fmt::format("MODEL (0x000B) reads {}; a DPS model number (3005, 3012, 5005, 5015, 5020, 8005, 5205)",
                            r[11]), meas);
  if (r[12] < 1) return fail("VERSION (0x000C) reads 0", meas);
  struct Range { const char* name; std::uint16_t v, hi; };
  const Range ranges[] = {{"U-SET (0x0000)", r[0], 5000}, {"I-SET (0x0001)", r[1], 5000}, {"LOCK (0x0006)", r[6], 1},
                          {"PROTECT (0x0007)", r[7], 3}, {"CV/CC (0x0008)", r[8], 1}, {"ONOFF (0x0009)", r[9], 1},
                          {"B_LED (0x000A)", r[10], 5}, {"S-OVP (0x0052)", g[2], 6200}, {"S-OCP (0x0053)", g[3], 5200},
                          {"S-OPP (0x0054)", g[4], 2600}, {"M-PRE (0x0056)", g[6], 9}, {"S-INI (0x0057)", g[7], 1}};
  for (const Range& x : ranges)
    if (x.v > x.hi) return fail(fmt::format("{} reads {}; its range is 0..{}", x.name, x.v, x.hi), meas);
  if (r[5] == 0) return fail("UIN (0x0005) reads 0 V on a powered chip", meas);
  if (g[0] != r[0] || g[1] != r[1] || g[5] != r[10])
    return fail(fmt::format("the M0 group does not alias the set-points: 0x0050/51/55 read {} {} {}, 0x0000/01/0A {} {} {}",
                            g[0], g[1], g[5], r[0], r[1], r[10]), meas);
  // Set-points: FC 06 one register, FC 16 two, each read back (also through its M0 alias); then the old values,
  // also when a check fails.
  struct Restore {
    modbus_t* m;
    const std::uint16_t* old;
    ~Restore() { modbus_write_registers(m, 0x0000, 2, old); }
  } restore{m, r};
  const std::uint16_t v1 = r[0] == 500 ? 510 : 500;
  std::uint16_t back[2]{};
  if (modbus_write_register(m, 0x0000, v1) != 1) return fail("FC 06 U-SET (0x0000) = " + std::to_string(v1) + ": " + modbus_error(), meas);
  if (modbus_read_registers(m, 0x0000, 1, back) != 1 || back[0] != v1)
    return fail(fmt::format("FC 06 wrote U-SET = {}, FC 03 reads back {}", v1, back[0]), meas);
  if (modbus_read_registers(m, 0x0050, 1, back) != 1 || back[0] != v1)
    return fail(fmt::format("FC 06 wrote U-SET = {}, its M0 alias 0x0050 reads {}", v1, back[0]), meas);
  const std::uint16_t both[2] = {static_cast<std::uint16_t>(v1 == 500 ? 600 : 700), static_cast<std::uint16_t>(r[1] == 1000 ? 1100 : 1000)};
  if (modbus_write_registers(m, 0x0000, 2, both) != 2)
    return fail(fmt::format("FC 16 U-SET, I-SET = {}, {}: {}", both[0], both[1], modbus_error()), meas);
  if (modbus_read_registers(m, 0x0000, 2, back) != 2 || back[0] != both[0] || back[1] != both[1])
    return fail(fmt::format("FC 16 wrote U-SET, I-SET = {}, {}; FC 03 reads back {}, {}", both[0], both[1], back[0], back[1]),
                meas);
  c.engine.note(fmt::format("modbus FC 06 and FC 16 set-points read back; restoring U-SET, I-SET = {}, {}", r[0], r[1]));
  return pass(meas);
}

/// The exception a request drew (libmodbus reports exception n as errno MODBUS_ENOBASE + n), or why there was none.
std::string exception_of(int rc, int want, int& code) {
  code = 0;
  if (rc != -1) return "the request succeeded";
  if (errno > MODBUS_ENOBASE && errno <= MODBUS_ENOBASE + MODBUS_EXCEPTION_NOT_DEFINED) {
    code = errno - MODBUS_ENOBASE;
    return code == want ? "" : fmt::format("exception {} ({})", code, modbus_strerror(errno));
  }
  return std::string("no exception: ") + modbus_strerror(errno);
}

Outcome cert082(RunContext& c) {
  if (!c.modbus) return not_run(kNoModbus);
  std::string why;
  ModbusPtr mb = modbus_open(*c.modbus, why);
  if (!mb) return fail(why);
  modbus_t* m = mb.get();
  json meas = json::object();
  std::uint8_t bits[8]{};
  std::uint16_t reg[1]{}, u_set[1]{};
  if (modbus_read_registers(m, 0x0000, 1, u_set) != 1) return fail("FC 03 U-SET (0x0000): " + modbus_error());
  struct Case { const char* what; int want; std::function<int()> send; };
  const std::vector<Case> cases = {
      {"FC 01 (read coils): a function the map does not have", MODBUS_EXCEPTION_ILLEGAL_FUNCTION,
       [&] { return modbus_read_bits(m, 0, 1, bits); }},
      {"FC 03 at 0x0023 (EXTRACT_M, not in the map)", MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS,
       [&] { return modbus_read_registers(m, 0x0023, 1, reg); }},
      {"FC 06 U-SET (0x0000) = 5001 (range 0..5000)", MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE,
       [&] { return modbus_write_register(m, 0x0000, 5001); }},
  };
  for (const Case& k : cases) {
    int code = 0;
    const std::string got = exception_of(k.send(), k.want, code);
    c.engine.note(fmt::format("modbus {} -> {}", k.what, code ? fmt::format("exception {}", code) : got));
    meas[k.what] = code;
    if (!got.empty()) return fail(fmt::format("{}: {}; expected exception {}", k.what, got, k.want), meas);
  }
  if (modbus_read_registers(m, 0x0000, 1, reg) != 1 || reg[0] != u_set[0])
    return fail(fmt::format("U-SET reads {} after the refused write; it was {}", reg[0], u_set[0]), meas);
  return pass(meas);
}

// --- Yeelight LAN control (../shared/reference/bulb_lan.md) ----------------------------------------------------------

/// An IPv4 socket (SOCK_STREAM or SOCK_DGRAM) with a bounded wait for input; closed on destruction.
struct Socket {
  explicit Socket(int type) : fd(::socket(AF_INET, type | SOCK_CLOEXEC, 0)) {}
  ~Socket() {
    if (fd >= 0) ::close(fd);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  bool readable(std::chrono::milliseconds wait) const {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(wait.count())) > 0;
  }
  int fd;
};

sockaddr_in ipv4(const std::string& host, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, host.c_str(), &a.sin_addr);
  return a;
}

/// One Yeelight control connection: JSON commands out, the RESULT with the same id back (NOTIFICATIONs skipped).
class YeelightClient {
 public:
  YeelightClient(RunContext& c, const LanTarget& t) : c_(c), s_(SOCK_STREAM) {
    const sockaddr_in a = ipv4(t.host, t.port);
    if (s_.fd < 0 || ::connect(s_.fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0)
      error_ = fmt::format("cannot connect to the DUT's Yeelight control port {}:{}: {}", t.host, t.port, std::strerror(errno));
  }
  const std::string& error() const { return error_; }
  /// The reply to {"id", "method", "params"}; nullopt (and error()) when none came within 2 s or it is not JSON.
  std::optional<json> call(const std::string& method, const json& params) {
    const int id = ++id_;
    const std::string line = json{{"id", id}, {"method", method}, {"params", params}}.dump() + "\r\n";
    c_.engine.note("yeelight -> " + line.substr(0, line.size() - 2));
    if (::send(s_.fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
      error_ = std::string("send: ") + std::strerror(errno);
      return std::nullopt;
    }
    const auto deadline = std::chrono::steady_clock::now() + 2s;
    for (;;) {
      for (auto eol = buf_.find("\r\n"); eol != std::string::npos; eol = buf_.find("\r\n")) {
        const std::string got = buf_.substr(0, eol);
        buf_.erase(0, eol + 2);
        c_.engine.note("yeelight <- " + got);
        const json j = json::parse(got, nullptr, false);
        if (j.is_discarded() || !j.is_object()) {
          error_ = fmt::format("{}: the reply {:?} is not a JSON object", method, got);
          return std::nullopt;
        }
        if (j.contains("id") && j["id"] == id) return j;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      char tmp[1024];
      const ssize_t n = left.count() > 0 && s_.readable(left) ? ::recv(s_.fd, tmp, sizeof tmp, 0) : -1;
      if (n <= 0) {
        error_ = no_response(2s) + fmt::format(": no RESULT with id {} to {}", id, method);
        return std::nullopt;
      }
      buf_.append(tmp, static_cast<std::size_t>(n));
    }
  }

 private:
  RunContext& c_;
  Socket s_;
  std::string buf_, error_;
  int id_ = 0;
};

/// "" when the search response has the spec's start line and headers, with Location naming the control port.
std::string judge_search_response(const std::string& r, const LanTarget& t, json& meas) {
  if (r.rfind("HTTP/1.1 200 OK\r\n", 0) != 0) return "the start line is not \"HTTP/1.1 200 OK\"";
  std::map<std::string, std::string> h;
  std::istringstream in(r);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string k = line.substr(0, colon), v = line.substr(colon + 1);
    std::transform(k.begin(), k.end(), k.begin(), [](unsigned char ch) { return std::tolower(ch); });
    v.erase(0, v.find_first_not_of(' '));
    h[k] = v;
  }
  for (const char* k : {"location", "id", "model", "power", "bright", "support"})
    if (!h.count(k)) return fmt::format("the search response has no {} header", k);
  meas["discovery"] = {{"location", h["location"]}, {"id", h["id"]}, {"model", h["model"]}, {"power", h["power"]},
                       {"bright", h["bright"]}};
  const std::string want = fmt::format("yeelight://{}:{}", t.host, t.port);
  if (h["location"] != want) return fmt::format("Location is {:?}, the control port is {:?}", h["location"], want);
  if (h["power"] != "on" && h["power"] != "off") return "power is neither on nor off";
  std::istringstream sup(h["support"]);
  std::set<std::string> methods{std::istream_iterator<std::string>(sup), std::istream_iterator<std::string>()};
  for (const char* mth : {"get_prop", "set_power", "set_bright"})
    if (!methods.count(mth)) return fmt::format("support does not list {}", mth);
  return "";
}

Outcome cert085(RunContext& c) {
  if (!c.lan) return not_run("no LAN side given: --lan HOST:PORT[,discovery=HOST:PORT] (docs/certification.md)");
  const LanTarget& t = *c.lan;
  json meas = json::object();
  {  // discovery: an M-SEARCH, the search response unicast back
    Socket u(SOCK_DGRAM);
    const std::string search =
        "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1982\r\nMAN: \"ssdp:discover\"\r\nST: wifi_bulb\r\n\r\n";
    const sockaddr_in to = ipv4(t.discovery_host, t.discovery_port);
    c.engine.note(fmt::format("yeelight M-SEARCH to {}:{}", t.discovery_host, t.discovery_port));
    if (::sendto(u.fd, search.data(), search.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to) < 0)
      return fail(std::string("M-SEARCH: ") + std::strerror(errno));
    if (!u.readable(2000ms)) return fail(no_response(2000ms) + ": no search response to the M-SEARCH");
    char buf[2048];
    const ssize_t n = ::recv(u.fd, buf, sizeof buf, 0);
    const std::string r(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
    c.engine.note(fmt::format("yeelight search response {:?}", r));
    if (auto why = judge_search_response(r, t, meas); !why.empty()) return fail(why, meas);
  }
  YeelightClient y(c, t);
  if (!y.error().empty()) return fail(y.error(), meas);
  const auto ok = [&](const std::optional<json>& r) { return r && r->contains("result") && (*r)["result"] == json::array({"ok"}); };
  const auto get = [&](const json& props) -> std::optional<json> {
    auto r = y.call("get_prop", props);
    if (!r || !r->contains("result") || !(*r)["result"].is_array() || (*r)["result"].size() != props.size()) return std::nullopt;
    for (const auto& v : (*r)["result"])
      if (!v.is_string()) return std::nullopt;
    return (*r)["result"];
  };
  const auto first = get(json::array({"power", "not_exist", "bright"}));
  if (!first)
    return fail(y.error().empty() ? "get_prop power, not_exist, bright: not a result of 3 strings" : y.error(), meas);
  meas["get_prop"] = *first;
  if ((*first)[1] != "") return fail("get_prop of an unknown property must give \"\" (bulb_lan.md)", meas);
  const std::string power0 = (*first)[0].get<std::string>(), bright0 = (*first)[2].get<std::string>();
  if (power0 != "on" && power0 != "off") return fail("power is neither on nor off", meas);
  int bright = 0;
  if (std::sscanf(bright0.c_str(), "%d", &bright) != 1 || bright < 1 || bright > 100)
    return fail(fmt::format("bright is {:?}; bulb_lan.md: 1 ~ 100", bright0), meas);
  if (!ok(y.call("set_power", json::array({"on", "smooth", 500}))))
    return fail(y.error().empty() ? "set_power on: the result is not [\"ok\"]" : y.error(), meas);
  if (!ok(y.call("set_bright", json::array({37, "smooth", 500}))))
    return fail(y.error().empty() ? "set_bright 37: the result is not [\"ok\"]" : y.error(), meas);
  const auto now = get(json::array({"power", "bright"}));
  if (!now || *now != json::array({"on", "37"}))
    return fail(fmt::format("after set_power on and set_bright 37, get_prop power, bright gives {}",
                            now ? now->dump() : y.error()), meas);
  if (!ok(y.call("set_power", json::array({"off", "sudden", 30}))))
    return fail(y.error().empty() ? "set_power off: the result is not [\"ok\"]" : y.error(), meas);
  const auto off = get(json::array({"power"}));
  if (!off || *off != json::array({"off"}))
    return fail(fmt::format("after set_power off, get_prop power gives {}", off ? off->dump() : y.error()), meas);
  const auto bad = y.call("iotw_no_such_method", json::array());
  if (!bad || !bad->contains("error") || !(*bad)["error"].is_object() || (*bad)["error"].value("code", 0) != -1)
    return fail(fmt::format("an unsupported method gives {}; bulb_lan.md: an error object with code -1",
                            bad ? bad->dump() : y.error()), meas);
  meas["unsupported"] = (*bad)["error"];
  // Leave the bulb as it was found.
  y.call("set_power", json::array({"on", "sudden", 30}));
  y.call("set_bright", json::array({bright, "sudden", 30}));
  if (power0 == "off") y.call("set_power", json::array({"off", "sudden", 30}));
  return pass(meas);
}

// --- AT conformance (../shared/reference/esp_at.md) --------------------------------------------------------------

/// How an answer ends: ESP-AT's final result lines; Realtek AT v2's prompt (STR_END_OF_ATCMD_RET "\r\n\n# ", matched
/// from its last "\n# " so that a module with a wrong terminator still ends its answer and is judged on the bytes).
const std::vector<std::string_view> kEspAtEnds = {"\r\nOK\r\n", "\r\nERROR\r\n"};
const std::vector<std::string_view> kRealtekAtEnds = {"\n# "};

/// Reads the DUT's UART until the bytes end with one of `ends` or `quiet` passes without a byte.
std::string at_read(RunContext& c, const std::vector<std::string_view>& ends, std::chrono::milliseconds quiet) {
  const int fd = c.engine.dut_link().fd();
  std::uint8_t buf[256];
  std::string got;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(quiet.count())) <= 0) break;
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
    auto ends_with = [&got](std::string_view t) { return got.size() >= t.size() && got.compare(got.size() - t.size(), t.size(), t) == 0; };
    if (std::any_of(ends.begin(), ends.end(), ends_with)) break;
  }
  return got;
}

/// Drops what the DUT sent unasked, sends `cmd` on its UART and reads the answer (at_read); the exchange goes to
/// the test's log.
std::string at_exchange(RunContext& c, const std::string& cmd, const std::vector<std::string_view>& ends = kEspAtEnds,
                        std::chrono::milliseconds quiet = 1000ms) {
  std::uint8_t junk[256];
  while (::read(c.engine.dut_link().fd(), junk, sizeof junk) > 0) {
  }
  c.engine.inject_raw(Bytes(cmd.begin(), cmd.end()));
  const std::string got = at_read(c, ends, quiet);
  c.engine.note(fmt::format("AT {:?} -> {:?}", cmd, got));
  return got;
}

/// Lets a module that is still booting finish: reads (and logs) until `ready` (ESP-AT's `\r\nready\r\n`, the prompt
/// after Realtek's `AT COMMAND READY` banner) or 1 s without a byte, at most 5 s.
void at_settle(RunContext& c, std::string_view ready = "\r\nready\r\n") {
  const int fd = c.engine.dut_link().fd();
  std::string boot;
  std::uint8_t buf[256];
  for (const double t0 = c.engine.now_s(); c.engine.now_s() - t0 < 5;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) break;
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    boot.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
    if (boot.find(ready) != std::string::npos) break;
  }
  if (!boot.empty()) c.engine.note(fmt::format("before the first command (boot output): {:?}", boot));
}

/// One command and the answers the reference allows, byte for byte (a regex where `pattern` is set).
struct AtStep {
  std::string cmd;                    ///< without its line end
  std::vector<std::string> allowed;   ///< exact answers
  std::optional<std::regex> pattern;  ///< or: the answer's format
  std::string shown;                  ///< the format as a reason shows it (pattern steps)
  std::vector<std::string_view> ends{};          ///< how its answer ends (empty: the profile's)
  std::chrono::milliseconds quiet{1000};         ///< the longest silence it may keep before or within its answer
  bool raw = false;                              ///< data, sent without the line end
  std::string label{};                           ///< its key in the measured values (empty: cmd)
};

/// Runs `steps` in order; the first answer that is not allowed fails the test, naming the command, the bytes and
/// what the reference says.
Outcome at_steps(RunContext& c, const std::vector<AtStep>& steps, const std::string& line_end,
                 const std::vector<std::string_view>& ends, const char* reference) {
  json m = json::object();
  bool any = false;
  for (const AtStep& s : steps) {
    const std::string got = at_exchange(c, s.raw ? s.cmd : s.cmd + line_end, s.ends.empty() ? ends : s.ends, s.quiet);
    any |= !got.empty();
    m[s.label.empty() ? s.cmd : s.label] = got;
    if (!any) return fail(no_response(1000ms) + ": no answer to " + s.cmd, m);
    const bool ok = s.pattern ? std::regex_match(got, *s.pattern)
                              : std::find(s.allowed.begin(), s.allowed.end(), got) != s.allowed.end();
    if (!ok)
      return fail(fmt::format("{} answered {:?}; {}: {}", s.cmd, got, reference,
                              s.pattern ? s.shown : fmt::format("{:?}", s.allowed.front())),
                  m);
  }
  return pass(m);
}

Outcome cert090(RunContext& c) {
  at_settle(c);
  const std::vector<AtStep> steps = {
      {"ATE0", {"ATE0\r\n\r\nOK\r\n", "\r\nOK\r\n"}, {}, {}},  // echo is on after boot, or was switched off
      {"AT", {"\r\nOK\r\n"}, {}, {}},
      {"AT+GMR", {}, std::regex("AT version:[^\r\n]+\r\nSDK version:[^\r\n]+\r\ncompile time[^\r\n]*\r\n"
                                "(Bin version:[^\r\n]+\r\n)?\r\nOK\r\n"),
       "AT version:..\\r\\nSDK version:..\\r\\ncompile time..\\r\\n[Bin version:..\\r\\n]\\r\\nOK\\r\\n"},
      {"AT+IOTWNOSUCH", {"\r\nERROR\r\n"}, {}, {}},
      // AT+SYSLOG=1: an error is preceded by its 32-bit code (esp_at.md "ERROR / error codes", the AT+FAKE example)
      {"AT+SYSLOG=1", {"\r\nOK\r\n"}, {}, {}},
      {"AT+FAKE", {"ERR CODE:0x01090000\r\n\r\nERROR\r\n"}, {}, {}},
      {"AT+SYSLOG=0", {"\r\nOK\r\n"}, {}, {}},
      {"AT+CWMODE?", {}, std::regex("\\+CWMODE:[0-3]\r\n\r\nOK\r\n"), "\"+CWMODE:<mode 0..3>\\r\\n\\r\\nOK\\r\\n\""},
      {"AT+CIPMUX?", {}, std::regex("\\+CIPMUX:[01]\r\n\r\nOK\r\n"), "\"+CIPMUX:<0|1>\\r\\n\\r\\nOK\\r\\n\""},
      {"ATE1", {"\r\nOK\r\n"}, {}, {}},
      {"AT", {"AT\r\n\r\nOK\r\n"}, {}, {}},  // echo on: the command line verbatim, then the answer
      {"ATE0", {"ATE0\r\n\r\nOK\r\n"}, {}, {}},
      // AT+RST: OK, the module restarts (its ROM / bootloader log on the same UART), then "\r\nready\r\n" ([INIT]);
      // mbed's driver allows 10 s. After the restart echo is on again (ATE is not kept).
      {"AT+RST", {}, std::regex("\r\nOK\r\n[\\s\\S]*\r\nready\r\n"),
       "\"\\r\\nOK\\r\\n\", the boot output, then \"\\r\\nready\\r\\n\"", {"\r\nready\r\n"}, 10000ms},
      {"AT", {"AT\r\n\r\nOK\r\n"}, {}, {}},
      {"ATE0", {"ATE0\r\n\r\nOK\r\n"}, {}, {}},
  };
  return at_steps(c, steps, "\r\n", kEspAtEnds, "esp_at.md");
}

/// A UDP socket on 127.0.0.1 (a free port) that the module under test talks to; closed with the object.
class LoopbackUdp {
 public:
  LoopbackUdp() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (s_.fd < 0 || ::bind(s_.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(s_.fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error(std::string("loopback UDP socket: ") + std::strerror(errno));
    port = ntohs(a.sin_port);
  }
  /// The next datagram within `wait` (nullopt: none) and its sender, kept for reply().
  std::optional<std::string> receive(std::chrono::milliseconds wait) {
    if (!s_.readable(wait)) return std::nullopt;
    char buf[2048];
    socklen_t len = sizeof from_;
    const ssize_t n = ::recvfrom(s_.fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from_), &len);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }
  /// Sends `data` to the sender of the last datagram received.
  void reply(const std::string& data) {
    ::sendto(s_.fd, data.data(), data.size(), 0, reinterpret_cast<const sockaddr*>(&from_), sizeof from_);
  }
  std::uint16_t port = 0;

  /// The module was told to send `sent` here: records what arrived within 2 s as o.measured["datagram"] and returns
  /// a failed Outcome (naming `after`, the module's send confirmation) unless it was exactly `sent`.
  std::optional<Outcome> expect(Outcome& o, const std::string& sent, const std::string& after) {
    const auto got = receive(std::chrono::milliseconds(2000));
    o.measured["datagram"] = got ? *got : nullptr;
    if (got == sent) return std::nullopt;
    return fail(got ? fmt::format("the peer received {:?}, not the {} bytes sent", *got, sent.size())
                    : no_response(std::chrono::milliseconds(2000)) + ": no datagram at the loopback peer after " + after,
                o.measured);
  }

 private:
  Socket s_{SOCK_DGRAM};
  sockaddr_in from_{};
};

Outcome cert091(RunContext& c) {
  if (c.wifi_ssid.empty()) return not_run("no access point to join: give --ssid (and --password)");
  at_settle(c);
  LoopbackUdp peer;
  const std::string payload = fmt::format("iotw-cert-091 {:016x}", c.rng());
  const std::string back = fmt::format("iotw-reply {:016x}", c.rng());
  const std::string cwjap = fmt::format("AT+CWJAP=\"{}\",\"{}\"", c.wifi_ssid, c.wifi_password);
  const std::string cipstart = fmt::format("AT+CIPSTART=\"UDP\",\"127.0.0.1\",{}", peer.port);
  const std::string cipsend = fmt::format("AT+CIPSEND={}", payload.size());
  const std::vector<AtStep> steps = {
      {"ATE0", {"ATE0\r\n\r\nOK\r\n", "\r\nOK\r\n"}, {}, {}},
      {"AT+CWMODE=1", {"\r\nOK\r\n"}, {}, {}},
      // esp-at's default join timeout is 15 s; the module says nothing until it has joined or failed
      {cwjap, {"WIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n"}, {}, {}, {}, 15000ms},
      {cipstart, {"CONNECT\r\n\r\nOK\r\n"}, {}, {}, {}, 5000ms},
      {cipsend, {"\r\nOK\r\n\r\n>", "\r\nOK\r\n>"}, {}, {}, {">"}},
      {payload, {fmt::format("\r\nRecv {} bytes\r\n\r\nSEND OK\r\n", payload.size())}, {}, {},
       {"SEND OK\r\n", "SEND FAIL\r\n"}, 2000ms, true},
  };
  Outcome o = at_steps(c, steps, "\r\n", kEspAtEnds, "esp_at.md");
  if (o.verdict != Verdict::Pass) return o;
  if (auto failed = peer.expect(o, payload, "SEND OK")) return *failed;
  peer.reply(back);
  const std::string ipd = at_read(c, {":" + back}, 2000ms);  // payload bytes, no line end after them
  c.engine.note(fmt::format("AT (datagram {:?} to the module) -> {:?}", back, ipd));
  o.measured["+IPD"] = ipd;
  const std::string want = fmt::format("\r\n+IPD,{}:{}", back.size(), back);
  if (ipd != want) return fail(fmt::format("a datagram to the module gave {:?}; esp_at.md: {:?}", ipd, want), o.measured);
  // The connection ends (esp_at.md AT+CIPCLOSE, one connection: "CLOSED", a blank line, "OK").
  const Outcome closed = at_steps(c, {{"AT+CIPCLOSE", {"CLOSED\r\n\r\nOK\r\n"}, {}, {}}}, "\r\n", kEspAtEnds, "esp_at.md");
  o.measured["AT+CIPCLOSE"] = closed.measured.value("AT+CIPCLOSE", "");
  if (closed.verdict != Verdict::Pass) return fail(closed.reason, o.measured);
  return o;
}

/// `s` as a regular expression matching itself (ECMAScript).
std::string regex_quote(const std::string& s) {
  static const std::string special = "\\^$.|?*+()[]{}";
  std::string out;
  for (char ch : s) {
    if (special.find(ch) != std::string::npos) out += '\\';
    out += ch;
  }
  return out;
}

Outcome cert092(RunContext& c) {
  if (c.wifi_ssid.empty()) return not_run("no access point to join: give --ssid (and --password)");
  at_settle(c);
  LoopbackUdp peer;
  const std::string payload = fmt::format("iotw-cert-092 {:016x}", c.rng());
  const std::string back = fmt::format("iotw-reply {:016x}", c.rng());
  const std::string cwjap = fmt::format("AT+CWJAP=\"{}\",\"{}\"", c.wifi_ssid, c.wifi_password);
  const std::string cipstart = fmt::format("AT+CIPSTART=4,\"UDP\",\"127.0.0.1\",{}", peer.port);
  const std::string ip = "\"\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\"", mac = "\"[0-9a-f]{2}(:[0-9a-f]{2}){5}\"";
  const std::vector<std::string_view> quit_ends = {"\r\nOK\r\nWIFI DISCONNECT\r\n", "DISCONNECT\r\n\r\nOK\r\n"};
  const std::vector<AtStep> steps = {
      {"ATE0", {"ATE0\r\n\r\nOK\r\n", "\r\nOK\r\n"}, {}, {}},
      {"AT+CWMODE=1", {"\r\nOK\r\n"}, {}, {}},
      // a station left joined by an earlier test leaves now (its WIFI DISCONNECT read here, not judged); one that is
      // not joined answers OK alone, and the answer ends after 1 s of silence
      {"AT+CWQAP", {"\r\nOK\r\n", "\r\nOK\r\nWIFI DISCONNECT\r\n", "WIFI DISCONNECT\r\n\r\nOK\r\n"}, {}, {}, quit_ends},
      {"AT+CIPMUX?", {"+CIPMUX:0\r\n\r\nOK\r\n"}, {}, {}},
      // "busy p...": the AT typed while the join runs is refused at once; the join then ends as usual
      {cwjap + "\r\nAT\r\n", {"\r\nbusy p...\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n"}, {}, {}, {}, 15000ms, true},
      {"AT+CWJAP?", {},
       std::regex("\\+CWJAP:\"" + regex_quote(c.wifi_ssid) +
                  "\",\"[0-9a-f]{2}(:[0-9a-f]{2}){5}\",\\d+,-?\\d+(,-?\\d+){5}\r\n\r\nOK\r\n"),
       "\"+CWJAP:\\\"SSID\\\",\\\"bssid\\\",channel,rssi,pci_en,reconn_interval,listen_interval,scan_mode,pmf\\r\\n\\r\\nOK\\r\\n\""},
      {"AT+CIFSR", {}, std::regex("\\+CIFSR:STAIP," + ip + "\r\n\\+CIFSR:STAMAC," + mac + "\r\n\r\nOK\r\n"),
       "\"+CIFSR:STAIP,\\\"a.b.c.d\\\"\\r\\n+CIFSR:STAMAC,\\\"xx:xx:xx:xx:xx:xx\\\"\\r\\n\\r\\nOK\\r\\n\" (station mode)"},
      {"AT+CIPSTA?", {},
       std::regex("\\+CIPSTA:ip:" + ip + "\r\n\\+CIPSTA:gateway:" + ip + "\r\n\\+CIPSTA:netmask:" + ip +
                  "\r\n(\\+CIPSTA:ip6(ll|gl):\"[^\"\r\n]*\"\r\n)*\r\nOK\r\n"),
       "\"+CIPSTA:ip:\\\"..\\\"\\r\\n+CIPSTA:gateway:\\\"..\\\"\\r\\n+CIPSTA:netmask:\\\"..\\\"\\r\\n[ip6ll/ip6gl lines]\\r\\nOK\\r\\n\""},
      {"AT+CIPMUX=1", {"\r\nOK\r\n"}, {}, {}},
      {"AT+CIPMUX?", {"+CIPMUX:1\r\n\r\nOK\r\n"}, {}, {}, {}, 1000ms, false, "AT+CIPMUX? (multiple)"},
      {cipstart, {"4,CONNECT\r\n\r\nOK\r\n"}, {}, {}, {}, 5000ms},
      // the same link again: the firmware literal "ALREADY CONNECTED" (ESP8266 v2.2 adds a CR), then ERROR
      {cipstart, {"ALREADY CONNECTED\r\n\r\nERROR\r\n", "ALREADY CONNECTED\r\r\nERROR\r\n", "ALREADY CONNECTED\r\nERROR\r\n"},
       {}, {}, {}, 1000ms, false, "AT+CIPSTART again"},
      // "can only be changed after all connections are disconnected"
      {"AT+CIPMUX=0", {"\r\nERROR\r\n"}, {}, {}},
      {"AT+CIPDINFO=1", {"\r\nOK\r\n"}, {}, {}},  // +IPD carries the sender's address and port
      {fmt::format("AT+CIPSEND=4,{}", payload.size()), {"\r\nOK\r\n\r\n>", "\r\nOK\r\n>"}, {}, {}, {">"}},
      {payload, {fmt::format("\r\nRecv {} bytes\r\n\r\nSEND OK\r\n", payload.size())}, {}, {},
       {"SEND OK\r\n", "SEND FAIL\r\n"}, 2000ms, true},
  };
  Outcome o = at_steps(c, steps, "\r\n", kEspAtEnds, "esp_at.md");
  if (o.verdict != Verdict::Pass) return o;
  if (auto failed = peer.expect(o, payload, "SEND OK")) return *failed;
  peer.reply(back);
  const std::string ipd = at_read(c, {":" + back}, 2000ms);
  c.engine.note(fmt::format("AT (datagram {:?} to the module) -> {:?}", back, ipd));
  o.measured["+IPD"] = ipd;
  const std::string want = fmt::format("\r\n+IPD,4,{},\"127.0.0.1\",{}:{}", back.size(), peer.port, back);
  if (ipd != want) return fail(fmt::format("a datagram to link 4 gave {:?}; esp_at.md: {:?}", ipd, want), o.measured);
  // A TCP link whose peer hangs up: the unsolicited "<link ID>,CLOSED" (esp_at.md AT+CIPCLOSE, remote close).
  Socket listener(SOCK_STREAM);
  sockaddr_in la = ipv4("127.0.0.1", 0);
  socklen_t la_len = sizeof la;
  if (listener.fd < 0 || ::bind(listener.fd, reinterpret_cast<sockaddr*>(&la), sizeof la) != 0 ||
      ::listen(listener.fd, 1) != 0 || ::getsockname(listener.fd, reinterpret_cast<sockaddr*>(&la), &la_len) != 0)
    throw std::runtime_error(std::string("loopback TCP listener: ") + std::strerror(errno));
  const std::vector<AtStep> mid = {
      {"AT+CIPDINFO=0", {"\r\nOK\r\n"}, {}, {}},
      {"AT+CIPCLOSE=4", {"4,CLOSED\r\n\r\nOK\r\n"}, {}, {}},
      {fmt::format("AT+CIPSTART=0,\"TCP\",\"127.0.0.1\",{}", ntohs(la.sin_port)), {"0,CONNECT\r\n\r\nOK\r\n"}, {}, {}, {},
       5000ms, false, "AT+CIPSTART=0 (TCP)"},
  };
  const Outcome opened = at_steps(c, mid, "\r\n", kEspAtEnds, "esp_at.md");
  for (const auto& [k, v] : opened.measured.items()) o.measured[k] = v;
  if (opened.verdict != Verdict::Pass) return fail(opened.reason, o.measured);
  if (!listener.readable(2000ms))
    return fail(no_response(2000ms) + ": the loopback TCP peer got no connection after 0,CONNECT", o.measured);
  ::close(::accept(listener.fd, nullptr, nullptr));
  const std::string closed = at_read(c, {"CLOSED\r\n"}, 2000ms);
  c.engine.note(fmt::format("AT (the TCP peer closes link 0) -> {:?}", closed));
  o.measured["remote close"] = closed;
  if (closed != "0,CLOSED\r\n")
    return fail(fmt::format("the TCP peer's close gave {:?}; esp_at.md: \"0,CLOSED\\r\\n\"", closed), o.measured);
  const std::vector<AtStep> tail = {
      {"AT+CIPMUX=0", {"\r\nOK\r\n"}, {}, {}, {}, 1000ms, false, "AT+CIPMUX=0 (no link)"},
      // leaving the AP: OK and the unsolicited WIFI DISCONNECT (either order)
      {"AT+CWQAP", {"\r\nOK\r\nWIFI DISCONNECT\r\n", "WIFI DISCONNECT\r\n\r\nOK\r\n"}, {}, {}, quit_ends, 2000ms, false,
       "AT+CWQAP (joined)"},
  };
  const Outcome t = at_steps(c, tail, "\r\n", kEspAtEnds, "esp_at.md");
  for (const auto& [k, v] : t.measured.items()) o.measured[k] = v;
  if (t.verdict != Verdict::Pass) return fail(t.reason, o.measured);
  return o;
}

// --- Realtek AT v2 conformance (../shared/reference/realtek_at.md) --------------------------------------------------

Outcome cert095(RunContext& c) {
  at_settle(c, "\n# ");  // the banner "\r\nAT COMMAND READY" and its prompt
  // Every answer line starts with "\r\n" and carries no line end of its own; the prompt "\r\n\n# " closes it. Echo
  // is on after boot: each typed byte comes back, the CR that ends the line does not.
  const std::string P = "\r\n\n# ";
  const std::vector<AtStep> steps = {
      {"ATSE=0", {"ATSE=0\r\n[ATSE] OK" + P, "\r\n[ATSE] OK" + P}, {}, {}},
      {"AT", {"\r\n[AT] OK" + P}, {}, {}},
      {"ATSV", {}, std::regex("\r\n\\[ATSV\\] OK:[^,\r\n]+,[^(\r\n]+\\([^)\r\n]+\\)\r\n\n# "),
       "\"\\r\\n[ATSV] OK:<at-version>,<sdk-version>(<compile_time>)\\r\\n\\n# \""},
      {"ATZZ", {"\r\nunknown command 'ATZZ'" + P}, {}, {}},
      {"ATSE=2", {"\r\n[ATSE] ERROR:3" + P}, {}, {}},
      {"ATSE=1", {"\r\n[ATSE] OK" + P}, {}, {}},
      {"AT", {"AT\r\n[AT] OK" + P}, {}, {}},
      // echo on: a line that does not start with 'A' is refused at its first byte
      {"x", {"\r\nERROR:command should start with 'A'" + P}, {}, {}, {}, 1000ms, true},
      {"ATSE=0", {"ATSE=0\r\n[ATSE] OK" + P}, {}, {}},
      {"ATPW=4", {"\r\n[ATPW] ERROR:2" + P}, {}, {}},  // mode 1..3
      {"ATPW", {"\r\n[ATPW] ERROR:1" + P}, {}, {}},    // no parameter
      // ATSR: "[ATSR] OK", the reboot, then the banner "\r\nAT COMMAND READY" and its prompt; echo is on again
      {"ATSR", {}, std::regex("\r\n\\[ATSR\\] OK[\\s\\S]*\r\nAT COMMAND READY\r\n\n# "),
       "\"\\r\\n[ATSR] OK\", the reboot, then \"\\r\\nAT COMMAND READY\\r\\n\\n# \"", {"AT COMMAND READY\r\n\n# "},
       10000ms},
      {"AT", {"AT\r\n[AT] OK" + P}, {}, {}, {}, 1000ms, false, "AT (after ATSR)"},
      {"ATSE=0", {"ATSE=0\r\n[ATSE] OK" + P}, {}, {}},
  };
  return at_steps(c, steps, "\r\n", kRealtekAtEnds, "realtek_at.md");
}

Outcome cert096(RunContext& c) {
  if (c.wifi_ssid.empty()) return not_run("no access point to join: give --ssid (and --password)");
  at_settle(c, "\n# ");
  LoopbackUdp peer;
  const std::string payload = fmt::format("iotw-cert-096 {:016x}", c.rng());
  const std::string back = fmt::format("iotw-reply {:016x}", c.rng());
  const std::string P = "\r\n\n# ";
  // ATPC prints the prompt at once and "[ATPC] OK / con_id=x" when the client task has its socket (AN0075: x in
  // 1..9; a module that has no other connection takes 1).
  static const std::vector<std::string> con_ids = [] {
    std::vector<std::string> v;
    for (int i = 1; i <= 9; i++) v.push_back(fmt::format("[ATPC] con_id={}\r\n\n# ", i));
    return v;
  }();
  const std::vector<std::string_view> con_id_ends(con_ids.begin(), con_ids.end());
  const std::vector<AtStep> steps = {
      {"ATSE=0", {"ATSE=0\r\n[ATSE] OK" + P, "\r\n[ATSE] OK" + P}, {}, {}},
      {"ATPW=1", {"\r\n[ATPW] OK" + P}, {}, {}},
      {fmt::format("ATPN={},{}", c.wifi_ssid, c.wifi_password), {"\r\n[ATPN] OK" + P}, {}, {}, {}, 15000ms},
      {"ATPK=1", {"\r\n[ATPK] OK" + P}, {}, {}},
      {fmt::format("ATPC=1,127.0.0.1,{}", peer.port), {}, std::regex("\r\n\n# \r\n\\[ATPC\\] OK\r\n\\[ATPC\\] con_id=1\r\n\n# "),
       "\"\\r\\n\\n# \\r\\n[ATPC] OK\\r\\n[ATPC] con_id=1\\r\\n\\n# \"", con_id_ends, 5000ms},
      {fmt::format("ATPT={},1:{}", payload.size(), payload), {"\r\n[ATPT] OK,1" + P}, {}, {}, {}, 2000ms,
       true},  // a data command: exactly N bytes after ':', no line end
  };
  Outcome o = at_steps(c, steps, "\r\n", kRealtekAtEnds, "realtek_at.md");
  if (o.verdict != Verdict::Pass) return o;
  if (auto failed = peer.expect(o, payload, "[ATPT] OK")) return *failed;
  peer.reply(back);
  const std::string rx = at_read(c, kRealtekAtEnds, 2000ms);  // auto-receive (ATPK=1)
  c.engine.note(fmt::format("AT (datagram {:?} to the module) -> {:?}", back, rx));
  o.measured["[ATPR]"] = rx;
  const std::string want = fmt::format("\r\n[ATPR] OK,{},1:{}{}", back.size(), back, P);
  if (rx != want) return fail(fmt::format("a datagram to the module gave {:?}; realtek_at.md: {:?}", rx, want), o.measured);
  return o;
}

Outcome cert097(RunContext& c) {
  if (c.wifi_ssid.empty()) return not_run("no access point to join: give --ssid (and --password)");
  at_settle(c, "\n# ");
  LoopbackUdp peer;
  const std::string P = "\r\n\n# ";  // no character of it is special in a pattern
  const std::vector<std::string_view> con_id_1 = {"[ATPC] con_id=1\r\n\n# "};
  const std::vector<AtStep> steps = {
      {"ATSE=0", {"ATSE=0\r\n[ATSE] OK" + P, "\r\n[ATSE] OK" + P}, {}, {}},
      {"ATPD=0", {"\r\n[ATPD] OK" + P}, {}, {}},  // 0 closes every connection an earlier test left
      {"ATPK=0", {"\r\n[ATPK] OK" + P}, {}, {}},
      {"ATPW=1", {"\r\n[ATPW] OK" + P}, {}, {}},
      // WPA/WPA2 passwords are 8..64 characters (WEP 5 or 13): a 3-character one is a parameter error
      {fmt::format("ATPN={},abc", c.wifi_ssid), {"\r\n[ATPN] ERROR:2" + P}, {}, {}, {}, 15000ms, false, "ATPN (short password)"},
      {fmt::format("ATPN={},{}", c.wifi_ssid, c.wifi_password), {"\r\n[ATPN] OK" + P}, {}, {}, {}, 15000ms},
      {"ATW?", {},
       std::regex("\r\nSTA," + regex_quote(c.wifi_ssid) + ",\\d+,[A-Z0-9_]+,(\\d,)?" + regex_quote(c.wifi_password) +
                  ",[0-9a-f]{2}(:[0-9a-f]{2}){5},\\d+\\.\\d+\\.\\d+\\.\\d+,\\d+\\.\\d+\\.\\d+\\.\\d+\r\n\\[ATW\\?\\] OK" + P),
       "\"\\r\\nSTA,<SSID>,<chl>,<sec>[,<key_id>],<pwd>,<mac>,<ip>,<gw>\\r\\n[ATW?] OK\\r\\n\\n# \""},
      {"ATWS", {},
       std::regex("(\r\nAP : \\d+,[^\r\n]*)*\r\nAP : \\d+," + regex_quote(c.wifi_ssid) +
                  ",\\d+,[A-Z0-9_]+,-\\d+,[0-9a-f]{2}(:[0-9a-f]{2}){5}(\r\nAP : \\d+,[^\r\n]*)*\r\n\\[ATWS\\] OK" + P),
       "\"\\r\\nAP : <num>,<ssid>,<chl>,<sec>,<rssi>,<bssid>\" per AP (the lab's among them), then \"\\r\\n[ATWS] OK\\r\\n\\n# \"",
       {}, 5000ms},
      {fmt::format("ATPC=1,127.0.0.1,{}", peer.port), {"\r\n\n# \r\n[ATPC] OK\r\n[ATPC] con_id=1" + P}, {}, {}, con_id_1,
       5000ms},
      {"ATPI", {},
       std::regex(fmt::format("\r\ncon_id:1,client,udp,address:127\\.0\\.0\\.1,port:{},socket:\\d+\r\n\\[ATPI\\] OK", peer.port) + P),
       fmt::format("\"\\r\\ncon_id:1,client,udp,address:127.0.0.1,port:{},socket:<n>\\r\\n[ATPI] OK\\r\\n\\n# \"", peer.port)},
      {"ATPT=5,1:hello", {"\r\n[ATPT] OK,1" + P}, {}, {}, {}, 2000ms, true},
  };
  Outcome o = at_steps(c, steps, "\r\n", kRealtekAtEnds, "realtek_at.md");
  if (o.verdict != Verdict::Pass) return o;
  if (auto failed = peer.expect(o, "hello", "[ATPT] OK")) return *failed;
  // ATPR (auto-receive off) reads what is queued; before the datagram has arrived it reads 0 bytes, so it is asked
  // again for at most 2 s. The AN0075 example: "[ATPR] OK,8,2:12345678".
  peer.reply("12345678");
  const std::string empty = "\r\n[ATPR] OK,0,1:" + P, want = "\r\n[ATPR] OK,8,1:12345678" + P;
  std::string rx;
  for (const double t0 = c.engine.now_s();;) {
    rx = at_exchange(c, "ATPR=1,1500\r\n", kRealtekAtEnds);
    if (rx != empty || c.engine.now_s() - t0 > 2) break;
    ::poll(nullptr, 0, 50);
  }
  o.measured["ATPR=1,1500"] = rx;
  if (rx != want) return fail(fmt::format("ATPR=1,1500 answered {:?}; realtek_at.md: {:?}", rx, want), o.measured);
  const std::vector<AtStep> tail = {
      {"ATPD=1", {"\r\n[ATPD] OK" + P}, {}, {}},
      {"ATPD=1", {"\r\n[ATPD] ERROR:3" + P}, {}, {}, {}, 1000ms, false, "ATPD=1 (closed)"},  // no such con_id
      // ATPT to a closed con_id: error 3; the firmware adds ",<con_id>" (AN0075 shows the number alone)
      {"ATPT=4,1:abcd", {"\r\n[ATPT] ERROR:3,1" + P, "\r\n[ATPT] ERROR:3" + P}, {}, {}, {}, 1000ms, true},
      {"ATWD", {"\r\n[ATWD] OK" + P}, {}, {}, {}, 5000ms},
  };
  const Outcome t = at_steps(c, tail, "\r\n", kRealtekAtEnds, "realtek_at.md");
  for (const auto& [k, v] : t.measured.items()) o.measured[k] = v;
  if (t.verdict != Verdict::Pass) return fail(t.reason, o.measured);
  return o;
}

const std::vector<std::string> kFirmware = {"soc", "dps", "bulb"};
const std::vector<std::string> kPowered = {"dps", "bulb"};  // devices with a supply rail and usage metering

}  // namespace

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::Pass: return "pass";
    case Verdict::Fail: return "fail";
    case Verdict::NotRun: return "not_run";
  }
  return "?";
}

std::string no_response(std::chrono::milliseconds waited) {
  return "no response from the DUT within " + secs(waited) + " s";
}

const std::vector<std::string>& profiles() {
  static const std::vector<std::string> p = {"soc", "at-esp", "at-realtek", "dps", "bulb"};
  return p;
}

const std::vector<CertTest>& catalogue() {
  static const std::vector<CertTest> tests = with_fleet_tests({
      {"CERT-001", "bad CRC ignored", kFirmware,
       "a Challenge with a wrong CRC is not answered, the next good Challenge is; no reset", cert001},
      {"CERT-002", "oversize frame ignored", kFirmware,
       "600 bytes without a delimiter are dropped, the next Challenge is answered; no reset", cert002},
      {"CERT-003", "broken COBS ignored", kFirmware,
       "a frame whose COBS code points past its end is not answered, the next Challenge is; no reset", cert003},
      {"CERT-004", "garbage between frames", kFirmware,
       "256 random bytes and a delimiter are dropped, the next Challenge is answered; no reset", cert004},
      {"CERT-005", "a frame split across writes", kFirmware,
       "a Challenge written one byte per write, 20 ms apart, is answered with a Prove", cert005},
      {"CERT-006", "two frames in one write", kFirmware, "two Challenges in one write get two Proves", cert006},
      {"CERT-010", "Hello well-formed", kFirmware,
       "pubkey a valid Ed25519 point, model 1..15 bytes, name at most 31, boot_count at least 1", cert010},
      {"CERT-011", "key possession", kFirmware,
       "the Prove to the node's Challenge verifies over REGISTER(nonce, pubkey) under the Hello's pubkey", cert011},
      {"CERT-012", "a fresh signature per nonce", kFirmware,
       "two Challenges with different nonces: each Prove verifies over its own nonce", cert012},
      {"CERT-013", "identity kept across a reset", kFirmware,
       "after a reset: the same pubkey, boot_count + 1, reset_reason 3 (software) or 2 (external)", cert013},
      {"CERT-014", "identity kept across power loss", kFirmware,
       "--power-cmd off, then on: a Hello within 15 s with the same pubkey, boot_count + 1, reset_reason 1 (power-on), "
       "attached again", cert014},
      {"CERT-015", "Error 1 means Hello", kFirmware, "Error{code 1} is answered with a Hello within 1 s", cert015},
      {"CERT-020", "correct block hash, signed", kFirmware,
       "10 Assignments: each Result's block_hash = SHA-256(header), its signature verifies over RESULT, within deadline_ms",
       cert020},
      {"CERT-021", "mining latency", kFirmware,
       "10 Assignments: every one answered; p50 and p99 of Assignment to Result reported; p99 < deadline_ms", cert021},
      {"CERT-022", "no answer to another miner's job", kFirmware,
       "an Assignment whose header names another miner gets no Result within deadline_ms", cert022},
      {"CERT-030", "valid header -> VALID", kFirmware,
       "Attestation VALID, round_id and block_hash echoed, signature over ATTEST verifies", cert030},
      {"CERT-031", "wrong hash -> INVALID", kFirmware,
       "block_hash != SHA-256(header): Attestation INVALID, echoed and signed", cert031},
      {"CERT-032", "wrong previous hash -> INVALID", kFirmware,
       "after a node-signed Checkpoint at H, a header at H + 1 with another prev_hash: Attestation INVALID (provisioned DUTs)",
       cert032},
      {"CERT-033", "bad header version -> INVALID", kFirmware,
       "a header with version 2 and its true hash: Attestation INVALID, signed", cert033},
      {"CERT-034", "no answer to a replayed request", kFirmware,
       "the same WitnessRequest again gets nothing or the same Attestation byte for byte; the same round with other "
       "contents gets nothing", cert034},
      {"CERT-035", "no answer to a stale request", kFirmware,
       "a WitnessRequest with a round_id below one already answered: no Attestation within deadline_ms", cert035},
      {"CERT-036", "signatures under the right domain", kFirmware,
       "a Result verifies under RESULT and under no other domain; an Attestation under ATTEST and no other", cert036},
      {"CERT-037", "no answer to an unsigned or forged request", kFirmware,
       "a WitnessRequest without or with a forged node signature, and an Assignment with a forged one, get no answer; "
       "the request signed gets its Attestation",
       cert037},
      {"CERT-039", "bad miner signature -> INVALID", kFirmware,
       "a node-signed WitnessRequest with a correct header and hash whose miner_signature does not verify over RESULT "
       "under the header's miner_pubkey: Attestation INVALID, echoed and signed",
       cert039},
      {"CERT-040", "VRF claim, TAI", kFirmware,
       "VrfRoundSeed suite 3: a VrfClaim whose pi verifies (RFC 9381 TAI) for alpha = VRF(height, prev_hash)", cert040},
      {"CERT-041", "VRF claim, ELL2", kFirmware, "as CERT-040 with suite 4 (ELL2)", cert041},
      {"CERT-050", "checkpoint adopted", kFirmware,
       "after a node-signed Checkpoint at H: a linked header at H + 1 VALID, an unlinked one INVALID (provisioned DUTs)",
       cert050},
      {"CERT-051", "forged checkpoint refused", kFirmware,
       "a Checkpoint with a bad signature naming a fork, then a request linked to the fork: an Attestation, never VALID (provisioned DUTs)",
       cert051},
      {"CERT-060", "heartbeats", kFirmware,
       "3 heartbeat intervals: a Heartbeat in every interval (+20 %), seq strictly increasing, uptime_ms non-decreasing",
       cert060},
      {"CERT-061", "usage report well-formed and signed", kPowered,
       "3 UsageReports (each within the period + 2 s): signature over USAGE verifies, period_s > 0, on_seconds <= "
       "period_s, seq strictly increasing", cert061},
      {"CERT-062", "usage seq monotonic across a reset", kPowered,
       "a UsageReport, a reset, a UsageReport: seq strictly greater after the reset, signed", cert062},
      {"CERT-070", "bounded fuzz", kFirmware,
       "--fuzz-s of seeded mutated frames: no reset, no silence over heartbeat_interval_ms + 1 s, a Challenge answered after",
       cert070},
      {"CERT-080", "brown-out recovery", {"soc", "dps"},
       "--power-cmd brownout, then on: a Hello within 15 s with the same pubkey, boot_count + 1, reset_reason 9 "
       "(brown-out), attached again", cert080},
      {"CERT-081", "Modbus register map", {"dps"},
       "FC 03 of 0x0000-0x000C and 0x0050-0x0057: a DPS MODEL, VERSION >= 1, every value in its range, UIN > 0, the "
       "M0 group aliasing the set-points; FC 06 and FC 16 set-points read back (docs/dps-register-map.md)", cert081},
      {"CERT-082", "Modbus exceptions", {"dps"},
       "FC 01: exception 1; FC 03 at 0x0023: exception 2; FC 06 U-SET = 5001: exception 3, U-SET unchanged", cert082},
      {"CERT-085", "Yeelight control", {"bulb"},
       "an M-SEARCH gets the search response (HTTP/1.1 200 OK, Location naming the control port); get_prop (\"\" for "
       "an unknown property), set_power, set_bright give [\"ok\"] and take effect; an unsupported method gives "
       "error code -1 (bulb_lan.md)", cert085},
      {"CERT-090", "AT basics", {"at-esp"},
       "ATE0, AT, AT+GMR, an unknown command, AT+SYSLOG=1 and AT+FAKE (ERR CODE:0x01090000), AT+CWMODE?, AT+CIPMUX?, "
       "ATE1 and AT with echo, AT+RST (OK, boot output, ready; echo on again): the answers of esp_at.md byte for byte "
       "(\\r\\nOK\\r\\n, \\r\\nERROR\\r\\n, the AT+GMR lines, the command line echoed verbatim)",
       cert090},
      {"CERT-091", "AT join and UDP", {"at-esp"},
       "ATE0, AT+CWMODE=1, AT+CWJAP (--ssid/--password), AT+CIPSTART=\"UDP\" to a loopback peer, AT+CIPSEND and the "
       "data, a datagram back: the answers of esp_at.md byte for byte (WIFI CONNECTED / WIFI GOT IP, CONNECT, >, "
       "Recv N bytes / SEND OK, +IPD,N:data), the peer gets the data; AT+CIPCLOSE: CLOSED, OK",
       cert091},
      {"CERT-092", "AT station queries, multiple links, busy, disconnect", {"at-esp"},
       "AT+CWQAP, AT+CIPMUX?, AT+CWJAP with an AT typed while it runs (busy p...), AT+CWJAP?, AT+CIFSR, AT+CIPSTA?, "
       "AT+CIPMUX=1, AT+CIPSTART=4 (UDP, loopback peer) twice (ALREADY CONNECTED), AT+CIPMUX=0 refused, AT+CIPSEND=4 "
       "with AT+CIPDINFO=1 and a datagram back (+IPD,4,N,\"ip\",port:data), AT+CIPCLOSE=4, AT+CIPSTART=0 (TCP) and the peer's close (0,CLOSED), "
       "AT+CIPMUX=0, AT+CWQAP (OK and WIFI DISCONNECT): the answers "
       "of esp_at.md byte for byte",
       cert092},
      {"CERT-095", "Realtek AT basics", {"at-realtek"},
       "ATSE=0, AT, ATSV, an unknown command, ATSE=2, ATSE=1 and AT with echo, a line not starting with 'A', ATSE=0, "
       "ATPW=4 and ATPW (errors 2, 1), ATSR (reboot, banner, echo on again): the answers of realtek_at.md "
       "byte for byte (\\r\\n[CMD] OK, [ATSE] ERROR:3, unknown command '...', each closed by the prompt \\r\\n\\n# , "
       "the command line echoed)",
       cert095},
      {"CERT-096", "Realtek join and UDP", {"at-realtek"},
       "ATSE=0, ATPW=1, ATPN (--ssid/--password), ATPK=1, ATPC=1 (UDP) to a loopback peer, ATPT with the data, a "
       "datagram back: the answers of realtek_at.md byte for byte ([ATPN] OK, the prompt then [ATPC] OK / con_id=1, "
       "[ATPT] OK,1, [ATPR] OK,N,1:data), the peer gets the data",
       cert096},
      {"CERT-097", "Realtek station queries, connections, errors", {"at-realtek"},
       "ATPD=0, ATPK=0, ATPW=1, ATPN with a 3-character password (ERROR:2) and then the right one, ATW?, ATWS, ATPC=1 "
       "(UDP, loopback peer), ATPI, ATPT and a datagram back read with ATPR, ATPD=1 twice (ERROR:3), ATPT to the closed "
       "con_id (ERROR:3), ATWD: the answers of "
       "realtek_at.md byte for byte",
       cert097},
  });
  return tests;
}

std::vector<const CertTest*> tests_of(const std::string& profile) {
  std::vector<const CertTest*> out;
  for (const CertTest& t : catalogue())
    if (std::find(t.profiles.begin(), t.profiles.end(), profile) != t.profiles.end()) out.push_back(&t);
  return out;
}

}  // namespace iotw::certify
