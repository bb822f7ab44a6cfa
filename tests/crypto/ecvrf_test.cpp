// RFC 9381 ECVRF (crypto/include/iotw/ecvrf.h): every vector of tests/data/ecvrf_vectors.txt, RFC 9380 J.5.2
// encode_to_curve vectors, and the rejections that make a VRF proof binding.
#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "iotw/ecvrf.h"
#include "test_hex.hpp"

namespace {

using Bytes = std::vector<std::uint8_t>;
using Pi = std::array<std::uint8_t, IOTW_ECVRF_PROOF_BYTES>;
using Beta = std::array<std::uint8_t, IOTW_ECVRF_OUTPUT_BYTES>;
using Point = std::array<std::uint8_t, 32>;

template <size_t N>
std::array<std::uint8_t, N> unhex_n(const std::string& h) {
  const Bytes b = unhex(h);
  std::array<std::uint8_t, N> out{};
  EXPECT_EQ(b.size(), N) << h;
  std::copy_n(b.begin(), std::min(N, b.size()), out.begin());
  return out;
}

/// One example of a "name = value" vector file: `example = NAME ...` starts it; fields keep their first token
/// ("(0 bytes)" means empty). Only sections whose header starts with the given prefix are read.
struct Example {
  std::string section, name;
  std::map<std::string, std::string> f;
};

std::vector<Example> read_examples(const std::string& file, const std::string& section_prefix) {
  std::ifstream in(file);
  EXPECT_TRUE(in.good()) << file;
  std::vector<Example> out;
  std::string line, section;
  bool active = false;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line[0] == ' ') continue;
    if (line[0] == '[') {
      section = line.substr(1, line.find(']') - 1);
      active = section.rfind(section_prefix, 0) == 0;
      continue;
    }
    const auto eq = line.find(" = ");
    if (!active || eq == std::string::npos) continue;
    const std::string key = line.substr(0, eq);
    std::string value = line.substr(eq + 3);
    value = value.substr(0, value.find(' '));
    if (value == "(0") value.clear();
    if (key == "example")
      out.push_back({section, value, {}});
    else if (!out.empty())
      out.back().f[key] = value;
  }
  return out;
}

const std::string kData = IOTW_TEST_DATA_DIR;

iotw_ecvrf_suite suite_of(const Example& e) {
  return e.section == "ECVRF-EDWARDS25519-SHA512-TAI" ? IOTW_ECVRF_TAI : IOTW_ECVRF_ELL2;
}

bool is_rfc9381(const Example& e) { return e.name.rfind("draft03", 0) != 0; }

class Ecvrf : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_GE(sodium_init(), 0); }
};

TEST_F(Ecvrf, EveryRfc9381VectorProvesVerifiesAndHashes) {
  const auto all = read_examples(kData + "/ecvrf_vectors.txt", "ECVRF-");
  int tai = 0, ell2 = 0;
  for (const auto& e : all) {
    if (!is_rfc9381(e)) continue;
    SCOPED_TRACE(e.section + " example " + e.name);
    const iotw_ecvrf_suite suite = suite_of(e);
    (suite == IOTW_ECVRF_TAI ? tai : ell2)++;
    const auto sk = unhex_n<32>(e.f.at("SK"));
    const Bytes alpha = unhex(e.f.at("alpha"));
    Point pk{};
    ASSERT_EQ(iotw_ecvrf_public_key(pk.data(), sk.data()), IOTW_ECVRF_OK);
    EXPECT_EQ(to_hex(pk), e.f.at("PK"));

    Pi pi{};
    ASSERT_EQ(iotw_ecvrf_prove(suite, pi.data(), sk.data(), alpha.data(), alpha.size()), IOTW_ECVRF_OK);
    EXPECT_EQ(to_hex(pi), e.f.at("pi"));

    Beta beta{};
    const auto want_pi = unhex_n<80>(e.f.at("pi"));
    ASSERT_EQ(iotw_ecvrf_verify(suite, beta.data(), pk.data(), want_pi.data(), alpha.data(), alpha.size()),
              IOTW_ECVRF_OK);
    EXPECT_EQ(to_hex(beta), e.f.at("beta"));
    Beta beta2{};
    ASSERT_EQ(iotw_ecvrf_proof_to_hash(suite, beta2.data(), want_pi.data()), IOTW_ECVRF_OK);
    EXPECT_EQ(beta2, beta);

    if (suite == IOTW_ECVRF_ELL2) {  // H = encode_to_curve(pk || alpha) with the RFC 9381 DST
      static const std::string dst = std::string("ECVRF_edwards25519_XMD:SHA-512_ELL2_NU_") + '\x04';
      Bytes msg(pk.begin(), pk.end());
      msg.insert(msg.end(), alpha.begin(), alpha.end());
      Point h{};
      ASSERT_EQ(iotw_h2c_edwards25519_nu(h.data(), msg.data(), msg.size(),
                                          reinterpret_cast<const std::uint8_t*>(dst.data()), dst.size()),
                IOTW_ECVRF_OK);
      EXPECT_EQ(to_hex(h), e.f.at("H"));
    }
  }
  EXPECT_GE(tai, 1);
  EXPECT_GE(ell2, 1);
}

// draft-irtf-cfrg-vrf-03 (the libsodium VRF forks) hashes to the curve and builds the challenge differently: its
// proofs must not pass as RFC 9381 proofs under either suite, and the keys are the same Ed25519 keys.
TEST_F(Ecvrf, Draft03ProofsAreNotRfc9381Proofs) {
  int n = 0;
  for (const auto& e : read_examples(kData + "/ecvrf_vectors.txt", "ECVRF-")) {
    if (is_rfc9381(e)) continue;
    SCOPED_TRACE(e.name);
    ++n;
    const auto sk = unhex_n<32>(e.f.at("SK"));
    const Bytes alpha = unhex(e.f.at("alpha"));
    Point pk{};
    iotw_ecvrf_public_key(pk.data(), sk.data());
    EXPECT_EQ(to_hex(pk), e.f.at("PK"));
    const auto pi = unhex_n<80>(e.f.at("pi"));
    for (auto suite : {IOTW_ECVRF_TAI, IOTW_ECVRF_ELL2})
      EXPECT_EQ(iotw_ecvrf_verify(suite, nullptr, pk.data(), pi.data(), alpha.data(), alpha.size()),
                IOTW_ECVRF_INVALID);
    Pi ours{};
    iotw_ecvrf_prove(IOTW_ECVRF_ELL2, ours.data(), sk.data(), alpha.data(), alpha.size());
    EXPECT_NE(to_hex(ours), e.f.at("pi"));
  }
  EXPECT_EQ(n, 3);
}

// RFC 9380 Appendix J.5.2 (edwards25519_XMD:SHA-512_ELL2_NU_): checks expand_message_xmd, hash_to_field, the
// Elligator 2 map with its sign rules, and cofactor clearing on messages of 0..512 bytes.
TEST_F(Ecvrf, Rfc9380EncodeToCurveVectors) {
  const auto all = read_examples(kData + "/h2c_edwards25519_nu_vectors.txt", "edwards25519_XMD:SHA-512_ELL2_NU_");
  ASSERT_EQ(all.size(), 5u);
  static const std::string dst = "QUUX-V01-CS02-with-edwards25519_XMD:SHA-512_ELL2_NU_";
  for (const auto& e : all) {
    SCOPED_TRACE("msg " + e.name);
    const std::string msg = e.f.at("msg");
    Point p{};
    ASSERT_EQ(iotw_h2c_edwards25519_nu(p.data(), reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size(),
                                       reinterpret_cast<const std::uint8_t*>(dst.data()), dst.size()),
              IOTW_ECVRF_OK);
    // RFC 8032 encoding of the affine (P.x, P.y), both given big-endian: y little-endian, sign of x in bit 255.
    auto want = unhex_n<32>(e.f.at("P.y"));
    std::reverse(want.begin(), want.end());
    want[31] |= static_cast<std::uint8_t>((unhex_n<32>(e.f.at("P.x"))[31] & 1) << 7);
    EXPECT_EQ(to_hex(p), to_hex(want));
  }
}

TEST_F(Ecvrf, EncodeToCurveRejectsBadDst) {
  Point p{};
  const std::uint8_t msg[1] = {0};
  std::vector<std::uint8_t> dst(256, 'D');
  EXPECT_EQ(iotw_h2c_edwards25519_nu(p.data(), msg, 1, dst.data(), 0), IOTW_ECVRF_BAD_ARG);
  EXPECT_EQ(iotw_h2c_edwards25519_nu(p.data(), msg, 1, dst.data(), 256), IOTW_ECVRF_BAD_ARG);
  EXPECT_EQ(iotw_h2c_edwards25519_nu(p.data(), nullptr, 1, dst.data(), 255), IOTW_ECVRF_BAD_ARG);
  EXPECT_EQ(iotw_h2c_edwards25519_nu(p.data(), msg, 1, dst.data(), 255), IOTW_ECVRF_OK);
}

/// A valid proof to tamper with, for each suite.
struct Fixture {
  iotw_ecvrf_suite suite;
  std::array<std::uint8_t, 32> sk{};
  Point pk{};
  Bytes alpha{'I', 'O', 'T', 'W'};
  Pi pi{};
  Beta beta{};
  explicit Fixture(iotw_ecvrf_suite s) : suite(s) {
    for (size_t i = 0; i < sk.size(); i++) sk[i] = static_cast<std::uint8_t>(7 * i + 1);
    iotw_ecvrf_public_key(pk.data(), sk.data());
    EXPECT_EQ(iotw_ecvrf_prove(suite, pi.data(), sk.data(), alpha.data(), alpha.size()), IOTW_ECVRF_OK);
    EXPECT_EQ(iotw_ecvrf_verify(suite, beta.data(), pk.data(), pi.data(), alpha.data(), alpha.size()),
              IOTW_ECVRF_OK);
  }
  iotw_ecvrf_status verify(const Point& key, const Pi& proof, const Bytes& a) const {
    return iotw_ecvrf_verify(suite, nullptr, key.data(), proof.data(), a.data(), a.size());
  }
};

class EcvrfSuite : public ::testing::TestWithParam<iotw_ecvrf_suite> {
 protected:
  static void SetUpTestSuite() { ASSERT_GE(sodium_init(), 0); }
};

INSTANTIATE_TEST_SUITE_P(Suites, EcvrfSuite, ::testing::Values(IOTW_ECVRF_TAI, IOTW_ECVRF_ELL2),
                         [](const auto& info) { return info.param == IOTW_ECVRF_TAI ? "Tai" : "Ell2"; });

TEST_P(EcvrfSuite, FlippingAnyBitOfTheProofIsRejected) {
  const Fixture f(GetParam());
  for (size_t byte = 0; byte < f.pi.size(); byte++)
    for (int bit : {0, 7}) {
      Pi t = f.pi;
      t[byte] ^= static_cast<std::uint8_t>(1u << bit);
      const auto st = f.verify(f.pk, t, f.alpha);
      EXPECT_TRUE(st == IOTW_ECVRF_INVALID || st == IOTW_ECVRF_BAD_PROOF) << "byte " << byte << " bit " << bit;
    }
}

TEST_P(EcvrfSuite, WrongKeyWrongAlphaAndWrongSuiteAreInvalid) {
  const Fixture f(GetParam());
  std::array<std::uint8_t, 32> other_sk{};
  other_sk[0] = 1;
  Point other{};
  iotw_ecvrf_public_key(other.data(), other_sk.data());
  EXPECT_EQ(f.verify(other, f.pi, f.alpha), IOTW_ECVRF_INVALID);

  Bytes longer = f.alpha;
  longer.push_back(0);
  EXPECT_EQ(f.verify(f.pk, f.pi, longer), IOTW_ECVRF_INVALID);
  EXPECT_EQ(f.verify(f.pk, f.pi, Bytes{}), IOTW_ECVRF_INVALID);
  Bytes changed = f.alpha;
  changed[0] ^= 1;
  EXPECT_EQ(f.verify(f.pk, f.pi, changed), IOTW_ECVRF_INVALID);

  const auto other_suite = GetParam() == IOTW_ECVRF_TAI ? IOTW_ECVRF_ELL2 : IOTW_ECVRF_TAI;
  EXPECT_EQ(iotw_ecvrf_verify(other_suite, nullptr, f.pk.data(), f.pi.data(), f.alpha.data(), f.alpha.size()),
            IOTW_ECVRF_INVALID);
}

// RFC 9381 §5.4.5 with RFC 8032 §5.1.3 decoding: non-canonical encodings, non-points and the eight points of
// small order are refused before any proof check.
TEST_P(EcvrfSuite, InvalidPublicKeysAreRejected) {
  const Fixture f(GetParam());
  for (const char* bad : {
           "0100000000000000000000000000000000000000000000000000000000000000",  // identity
           "0100000000000000000000000000000000000000000000000000000000000080",  // identity as "-0"
           "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // (0, -1), order 2
           "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",  // (0, -1) as "-0"
           "0000000000000000000000000000000000000000000000000000000000000000",  // order 4
           "0000000000000000000000000000000000000000000000000000000000000080",  // order 4
           "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  // order 8
           "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",  // order 8
           "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  // order 8
           "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",  // order 8
           "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // y = p, non-canonical
           "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // y = p + 1, non-canonical
           "0200000000000000000000000000000000000000000000000000000000000000",  // y = 2: not on the curve
       }) {
    const Point pk = unhex_n<32>(bad);
    EXPECT_EQ(f.verify(pk, f.pi, f.alpha), IOTW_ECVRF_BAD_KEY) << bad;
  }
  // A key with a torsion component is not of small order: valid per RFC 9381 (libsodium's is_valid_point would
  // refuse it), and this proof is simply not for it.
  Point torsioned{};
  ASSERT_EQ(crypto_core_ed25519_add(torsioned.data(), f.pk.data(),
                                    unhex_n<32>("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
                                        .data()),
            0);
  EXPECT_EQ(crypto_core_ed25519_is_valid_point(torsioned.data()), 0);
  EXPECT_EQ(f.verify(torsioned, f.pi, f.alpha), IOTW_ECVRF_INVALID);
}

// RFC 9381 §5.4.4: s must be below q, so (Gamma, c, s + q) is not a second valid proof of the same value.
TEST_P(EcvrfSuite, NonCanonicalScalarsAndGammaAreRejected) {
  const Fixture f(GetParam());
  static const auto q = unhex_n<32>("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
  Pi t = f.pi;
  unsigned carry = 0;
  for (size_t i = 0; i < 32; i++) {  // s + q (< 2^254, still 32 bytes)
    const unsigned sum = t[48 + i] + q[i] + carry;
    t[48 + i] = static_cast<std::uint8_t>(sum);
    carry = sum >> 8;
  }
  EXPECT_EQ(f.verify(f.pk, t, f.alpha), IOTW_ECVRF_BAD_PROOF);
  Beta b{};
  EXPECT_EQ(iotw_ecvrf_proof_to_hash(f.suite, b.data(), t.data()), IOTW_ECVRF_BAD_PROOF);
  t = f.pi;
  std::copy(q.begin(), q.end(), t.begin() + 48);  // s = q
  EXPECT_EQ(f.verify(f.pk, t, f.alpha), IOTW_ECVRF_BAD_PROOF);
  std::fill(t.begin() + 48, t.end(), 0xff);
  EXPECT_EQ(f.verify(f.pk, t, f.alpha), IOTW_ECVRF_BAD_PROOF);

  for (const char* gamma : {"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",   // y = p
                            "0200000000000000000000000000000000000000000000000000000000000000"}) {  // off curve
    t = f.pi;
    const auto g = unhex_n<32>(gamma);
    std::copy(g.begin(), g.end(), t.begin());
    EXPECT_EQ(f.verify(f.pk, t, f.alpha), IOTW_ECVRF_BAD_PROOF) << gamma;
    EXPECT_EQ(iotw_ecvrf_proof_to_hash(f.suite, b.data(), t.data()), IOTW_ECVRF_BAD_PROOF) << gamma;
  }
}

// Gamma with a torsion component or of small order decodes (RFC 9381 does not check its order): verification
// must compute with it and fail cleanly, and beta = H(8 * Gamma) ignores the torsion part.
TEST_P(EcvrfSuite, TorsionInGammaFailsVerificationButNotTheCofactorHash) {
  const Fixture f(GetParam());
  for (const char* tors : {"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
                           "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"}) {
    Pi t = f.pi;
    ASSERT_EQ(crypto_core_ed25519_add(t.data(), f.pi.data(), unhex_n<32>(tors).data()), 0);
    EXPECT_EQ(f.verify(f.pk, t, f.alpha), IOTW_ECVRF_INVALID) << tors;
    Beta b{};
    ASSERT_EQ(iotw_ecvrf_proof_to_hash(f.suite, b.data(), t.data()), IOTW_ECVRF_OK);
    EXPECT_EQ(b, f.beta) << tors;
  }
  Pi t = f.pi;
  const auto identity = unhex_n<32>("0100000000000000000000000000000000000000000000000000000000000000");
  std::copy(identity.begin(), identity.end(), t.begin());
  EXPECT_EQ(f.verify(f.pk, t, f.alpha), IOTW_ECVRF_INVALID);
}

// A key with a torsion component has valid proofs under RFC 9381: a prover who knows x for Y = x*B + T (T of
// order 8) grinds the nonce until c = j (mod 8) with U = k*B - j*T. Verification must then compute c*Y' exactly,
// which libsodium's noclamp multiplication refuses for such points (ecvrf.c falls back to p0 + torsion).
TEST_F(Ecvrf, TorsionedKeyHasValidProofsPerRfc9381) {
  std::array<std::uint8_t, 64> h{};
  const std::uint8_t sk[32] = {42};
  crypto_hash_sha512(h.data(), sk, sizeof sk);
  h[0] &= 248;
  h[31] &= 127;
  h[31] |= 64;
  Point y{}, t = unhex_n<32>("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"), yt{};
  ASSERT_EQ(crypto_scalarmult_ed25519_base_noclamp(y.data(), h.data()), 0);
  ASSERT_EQ(crypto_core_ed25519_add(yt.data(), y.data(), t.data()), 0);
  const Bytes alpha{'r', 'o', 'u', 'n', 'd'};
  const std::string dst = std::string("ECVRF_edwards25519_XMD:SHA-512_ELL2_NU_") + '\x04';
  Bytes msg(yt.begin(), yt.end());
  msg.insert(msg.end(), alpha.begin(), alpha.end());
  Point hp{}, gamma{};
  ASSERT_EQ(iotw_h2c_edwards25519_nu(hp.data(), msg.data(), msg.size(),
                                      reinterpret_cast<const std::uint8_t*>(dst.data()), dst.size()),
            IOTW_ECVRF_OK);
  ASSERT_EQ(crypto_scalarmult_ed25519_noclamp(gamma.data(), h.data(), hp.data()), 0);
  std::array<std::uint8_t, 64> x{};
  std::copy_n(h.begin(), 32, x.begin());
  crypto_core_ed25519_scalar_reduce(x.data(), x.data());
  for (std::uint8_t kk = 1; kk < 200; kk++) {
    std::uint8_t k[32] = {kk};
    Point kb{}, kh{}, jt{}, u{};
    ASSERT_EQ(crypto_scalarmult_ed25519_base_noclamp(kb.data(), k), 0);
    ASSERT_EQ(crypto_scalarmult_ed25519_noclamp(kh.data(), k, hp.data()), 0);
    jt = unhex_n<32>("0100000000000000000000000000000000000000000000000000000000000000");
    for (unsigned j = 0; j < 8; j++) {
      if (j > 0) {
        ASSERT_EQ(crypto_core_ed25519_add(jt.data(), jt.data(), t.data()), 0);
      }
      ASSERT_EQ(crypto_core_ed25519_sub(u.data(), kb.data(), jt.data()), 0);
      Bytes in{0x04, 0x02};
      for (const Point* p : {&yt, &hp, &gamma, &u, &kh}) in.insert(in.end(), p->begin(), p->end());
      in.push_back(0x00);
      std::uint8_t c[64] = {0};
      crypto_hash_sha512(c, in.data(), in.size());
      if ((c[0] & 7u) != j) continue;
      std::fill(c + 16, c + 64, 0);
      Pi pi{};
      std::copy(gamma.begin(), gamma.end(), pi.begin());
      std::copy_n(c, 16, pi.begin() + 32);
      std::uint8_t cx[32];
      crypto_core_ed25519_scalar_mul(cx, c, x.data());
      crypto_core_ed25519_scalar_add(pi.data() + 48, k, cx);
      Beta beta{}, want{};
      EXPECT_EQ(iotw_ecvrf_verify(IOTW_ECVRF_ELL2, beta.data(), yt.data(), pi.data(), alpha.data(), alpha.size()),
                IOTW_ECVRF_OK)
          << "k " << int(kk) << " j " << j;
      ASSERT_EQ(iotw_ecvrf_proof_to_hash(IOTW_ECVRF_ELL2, want.data(), pi.data()), IOTW_ECVRF_OK);
      EXPECT_EQ(beta, want);
      EXPECT_EQ(iotw_ecvrf_verify(IOTW_ECVRF_ELL2, nullptr, y.data(), pi.data(), alpha.data(), alpha.size()),
                IOTW_ECVRF_INVALID);
      return;
    }
  }
  FAIL() << "no nonce gave c = j (mod 8)";
}

// Many keys and inputs (fixed seed, printed): proofs verify, are deterministic, and beta matches proof_to_hash.
TEST_P(EcvrfSuite, RandomKeysRoundTrip) {
  const std::uint64_t seed = 0x10757e5d;
  std::cout << "seed: " << seed << "\n";
  std::mt19937_64 rng(seed);
  for (int n = 0; n < 40; n++) {
    std::array<std::uint8_t, 32> sk{};
    for (auto& b : sk) b = static_cast<std::uint8_t>(rng());
    Bytes alpha(rng() % 80);
    for (auto& b : alpha) b = static_cast<std::uint8_t>(rng());
    Point pk{};
    iotw_ecvrf_public_key(pk.data(), sk.data());
    Pi pi{}, again{};
    ASSERT_EQ(iotw_ecvrf_prove(GetParam(), pi.data(), sk.data(), alpha.data(), alpha.size()), IOTW_ECVRF_OK);
    ASSERT_EQ(iotw_ecvrf_prove(GetParam(), again.data(), sk.data(), alpha.data(), alpha.size()), IOTW_ECVRF_OK);
    EXPECT_EQ(pi, again);
    Beta b1{}, b2{};
    ASSERT_EQ(iotw_ecvrf_verify(GetParam(), b1.data(), pk.data(), pi.data(), alpha.data(), alpha.size()),
              IOTW_ECVRF_OK)
        << "n " << n;
    ASSERT_EQ(iotw_ecvrf_proof_to_hash(GetParam(), b2.data(), pi.data()), IOTW_ECVRF_OK);
    EXPECT_EQ(b1, b2);
  }
}

TEST_F(Ecvrf, BadSuiteAndNullAlphaAreErrors) {
  const Fixture f(IOTW_ECVRF_TAI);
  Pi pi{};
  Beta b{};
  const auto bad = static_cast<iotw_ecvrf_suite>(5);
  EXPECT_EQ(iotw_ecvrf_prove(bad, pi.data(), f.sk.data(), nullptr, 0), IOTW_ECVRF_BAD_SUITE);
  EXPECT_EQ(iotw_ecvrf_verify(bad, b.data(), f.pk.data(), f.pi.data(), nullptr, 0), IOTW_ECVRF_BAD_SUITE);
  EXPECT_EQ(iotw_ecvrf_proof_to_hash(bad, b.data(), f.pi.data()), IOTW_ECVRF_BAD_SUITE);
  EXPECT_EQ(iotw_ecvrf_prove(IOTW_ECVRF_TAI, pi.data(), f.sk.data(), nullptr, 3), IOTW_ECVRF_BAD_ARG);
  EXPECT_EQ(iotw_ecvrf_verify(IOTW_ECVRF_TAI, b.data(), f.pk.data(), f.pi.data(), nullptr, 3), IOTW_ECVRF_BAD_ARG);
  EXPECT_EQ(iotw_ecvrf_prove(IOTW_ECVRF_TAI, pi.data(), f.sk.data(), nullptr, 0), IOTW_ECVRF_OK);
  EXPECT_STRNE(iotw_ecvrf_status_str(IOTW_ECVRF_INVALID), iotw_ecvrf_status_str(IOTW_ECVRF_BAD_KEY));
}

}  // namespace
