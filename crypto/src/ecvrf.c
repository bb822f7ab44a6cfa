/* ECVRF-EDWARDS25519-SHA512-TAI / -ELL2 (RFC 9381) on libsodium 1.0.18's public Ed25519 API.
 *
 * libsodium gives the group (crypto_core_ed25519_*, crypto_scalarmult_ed25519_*_noclamp) and SHA-512. What it
 * lacks for RFC 9380 encode_to_curve is expand_message_xmd and the sign of the Edwards x coordinate that the
 * RFC 9380 Elligator 2 map produces (crypto_core_ed25519_from_uniform takes that sign as the top input bit and
 * computes the same Montgomery u and Edwards y, then multiplies by the cofactor 8). This file computes both,
 * with a small field arithmetic mod 2^255-19 (16 limbs of 16 bits, TweetNaCl layout) used only on public data
 * (pk || alpha), so it need not be constant-time. Everything that touches the secret scalar or the nonce goes
 * through libsodium. */
#include "iotw/ecvrf.h"

#include <sodium.h>
#include <string.h>

/* ---- field arithmetic mod p = 2^255 - 19 (public data only) ---- */

typedef int64_t fe[16];

static const fe kFeOne = {1};
static const fe kFeA = {0x6d06, 0x0007}; /* Montgomery A = 486662 (RFC 9380 J) */
static const uint8_t kSqrtM1[32] = {     /* 2^((p-1)/4), a square root of -1 */
    0xb0, 0xa0, 0x0e, 0x4a, 0x27, 0x1b, 0xee, 0xc4, 0x78, 0xe4, 0x2f, 0xad, 0x06, 0x18, 0x43, 0x2f,
    0xa7, 0xd7, 0xfb, 0x3d, 0x99, 0x00, 0x4d, 0x2b, 0x0b, 0xdf, 0xc1, 0x4f, 0x80, 0x24, 0x83, 0x2b};
static const uint8_t kC1[32] = { /* c1 = sqrt(-486664) with sgn0(c1) = 0 (RFC 9380 Appendix G.2.2) */
    0x06, 0x7e, 0x45, 0xff, 0xaa, 0x04, 0x6e, 0xcc, 0x82, 0x1a, 0x7d, 0x4b, 0xd1, 0xd3, 0xa1, 0xc5,
    0x7e, 0x4f, 0xfc, 0x03, 0xdc, 0x08, 0x7b, 0xd2, 0xbb, 0x06, 0xa0, 0x60, 0xf4, 0xed, 0x26, 0x0f};

static void fe_carry(fe o) {
  for (int i = 0; i < 16; i++) {
    o[i] += (int64_t)1 << 16;
    const int64_t c = o[i] >> 16; /* arithmetic shift (floor), as GCC and Clang define it */
    if (i < 15)
      o[i + 1] += c - 1;
    else
      o[0] += 38 * (c - 1); /* 2^256 = 38 (mod p) */
    o[i] -= c * 65536;
  }
}

static void fe_copy(fe o, const fe a) { memcpy(o, a, sizeof(fe)); }
static void fe_add(fe o, const fe a, const fe b) {
  for (int i = 0; i < 16; i++) o[i] = a[i] + b[i];
}
static void fe_sub(fe o, const fe a, const fe b) {
  for (int i = 0; i < 16; i++) o[i] = a[i] - b[i];
}
static void fe_mul(fe o, const fe a, const fe b) {
  int64_t t[31] = {0};
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 16; j++) t[i + j] += a[i] * b[j];
  for (int i = 0; i < 15; i++) t[i] += 38 * t[i + 16];
  for (int i = 0; i < 16; i++) o[i] = t[i];
  fe_carry(o);
  fe_carry(o);
}
static void fe_sq(fe o, const fe a) { fe_mul(o, a, a); }

static void fe_frombytes(fe o, const uint8_t s[32]) { /* ignores bit 255 */
  for (int i = 0; i < 16; i++) o[i] = s[2 * i] + ((int64_t)s[2 * i + 1] << 8);
  o[15] &= 0x7fff;
}

/* Canonical little-endian encoding (value reduced below p). */
static void fe_tobytes(uint8_t s[32], const fe a) {
  fe t, m;
  fe_copy(t, a);
  fe_carry(t);
  fe_carry(t);
  fe_carry(t);
  for (int pass = 0; pass < 2; pass++) {
    m[0] = t[0] - 0xffed;
    for (int i = 1; i < 15; i++) {
      m[i] = t[i] - 0xffff - ((m[i - 1] >> 16) & 1);
      m[i - 1] &= 0xffff;
    }
    m[15] = t[15] - 0x7fff - ((m[14] >> 16) & 1);
    const int borrow = (int)((m[15] >> 16) & 1);
    m[14] &= 0xffff;
    if (!borrow) fe_copy(t, m); /* t >= p: keep t - p */
  }
  for (int i = 0; i < 16; i++) {
    s[2 * i] = (uint8_t)(t[i] & 0xff);
    s[2 * i + 1] = (uint8_t)(t[i] >> 8);
  }
}

static int fe_eq(const fe a, const fe b) {
  uint8_t x[32], y[32];
  fe_tobytes(x, a);
  fe_tobytes(y, b);
  return memcmp(x, y, 32) == 0;
}

static int fe_parity(const fe a) { /* sgn0 for a prime field (RFC 9380 §4.1) */
  uint8_t s[32];
  fe_tobytes(s, a);
  return s[0] & 1;
}

static void fe_invert(fe o, const fe a) { /* a^(p-2); 0 -> 0 (inv0) */
  fe c;
  fe_copy(c, a);
  for (int i = 253; i >= 0; i--) {
    fe_sq(c, c);
    if (i != 2 && i != 4) fe_mul(c, c, a);
  }
  fe_copy(o, c);
}

static void fe_pow2523(fe o, const fe a) { /* a^((p-5)/8) = a^(2^252 - 3) */
  fe c;
  fe_copy(c, a);
  for (int i = 250; i >= 0; i--) {
    fe_sq(c, c);
    if (i != 1) fe_mul(c, c, a);
  }
  fe_copy(o, c);
}

/* r = a square root of a; returns 1 if a is a square (0 counts, RFC 9380 is_square), 0 otherwise. p = 5 mod 8:
 * r = a^((p+3)/8) satisfies r^2 = a or r^2 = -a when a is a square; in the second case r*sqrt(-1) works. */
static int fe_sqrt(fe r, const fe a) {
  fe chk, sqrtm1;
  fe_pow2523(r, a);
  fe_mul(r, r, a);
  fe_sq(chk, r);
  if (fe_eq(chk, a)) return 1;
  fe_frombytes(sqrtm1, kSqrtM1);
  fe_mul(r, r, sqrtm1);
  fe_sq(chk, r);
  return fe_eq(chk, a);
}

/* Montgomery g(x) = x^3 + A x^2 + x = x (x (x + A) + 1). */
static void mont_g(fe o, const fe x) {
  fe t;
  fe_add(t, x, kFeA);
  fe_mul(t, t, x);
  fe_add(t, t, kFeOne);
  fe_mul(o, t, x);
}

/* RFC 9380 §6.7.1 Elligator 2 on curve25519 (Z = 2, K = 1) followed by the rational map of Appendix G.2.2
 * (x_ed = c1 * s / t): returns sgn0(x_ed). The exceptional case t = 0 (u = 0) maps to the identity, x_ed = 0. */
static int ell2_edwards_x_sign(const fe u) {
  fe tv, s, t, gx, c1;
  fe_sq(tv, u); /* x1 = -A / (1 + 2 u^2); 1 + 2u^2 != 0 since -1/2 is not a square */
  fe_add(tv, tv, tv);
  fe_add(tv, tv, kFeOne);
  fe_invert(tv, tv);
  fe_mul(s, kFeA, tv);
  fe_sub(s, (const int64_t[16]){0}, s);
  mont_g(gx, s);
  if (fe_sqrt(t, gx)) { /* x = x1, y = sqrt(gx1) with sgn0(y) = 1 */
    if (fe_parity(t) != 1) fe_sub(t, (const int64_t[16]){0}, t);
  } else { /* x = x2 = -x1 - A, y = sqrt(gx2) with sgn0(y) = 0 */
    fe_sub(s, (const int64_t[16]){0}, s);
    fe_sub(s, s, kFeA);
    mont_g(gx, s);
    fe_sqrt(t, gx); /* gx2 = gx1 * Z u^2 is a square whenever gx1 is not */
    if (fe_parity(t) != 0) fe_sub(t, (const int64_t[16]){0}, t);
  }
  fe_invert(t, t);
  fe_frombytes(c1, kC1);
  fe_mul(t, t, s);
  fe_mul(t, t, c1);
  return fe_parity(t);
}

/* ---- group helpers on RFC 8032 encodings ---- */

static const uint8_t kIdentity[32] = {1};
static const uint8_t kOrder[32] = { /* q = 2^252 + 27742317777372353535851937790883648493, little-endian */
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10};

/* RFC 8032 §5.1.3 decoding succeeds: y < p, not x = 0 with the sign bit set, and a curve point. */
static int point_decodes(const uint8_t s[32]) {
  int ones = 1, zeros = 1;
  for (int i = 1; i < 31; i++) {
    ones &= s[i] == 0xff;
    zeros &= s[i] == 0x00;
  }
  const uint8_t top = s[31] & 0x7f;
  if (ones && top == 0x7f && s[0] >= 0xed) return 0; /* y >= p */
  if (s[31] & 0x80) {                                /* x = 0 only for y = 1 and y = p - 1 */
    if (zeros && top == 0 && s[0] == 0x01) return 0;
    if (ones && top == 0x7f && s[0] == 0xec) return 0;
  }
  uint8_t r[32];
  return crypto_core_ed25519_add(r, s, kIdentity) == 0; /* decodes (x exists) and is on the curve */
}

static int is_identity(const uint8_t p[32]) { return memcmp(p, kIdentity, 32) == 0; }

/* out = 8 * p for a decodable p (crypto_core_ed25519_add accepts any curve point). */
static void mul_cofactor(uint8_t out[32], const uint8_t p[32]) {
  crypto_core_ed25519_add(out, p, p);
  crypto_core_ed25519_add(out, out, out);
  crypto_core_ed25519_add(out, out, out);
}

static void mul_small(uint8_t out[32], unsigned k, const uint8_t p[32]) {
  uint8_t acc[32];
  memcpy(acc, kIdentity, 32);
  for (unsigned i = 0; i < k; i++) crypto_core_ed25519_add(acc, acc, p);
  memcpy(out, acc, 32);
}

static void mul_base(uint8_t out[32], const uint8_t n[32]) {
  if (crypto_scalarmult_ed25519_base_noclamp(out, n) != 0) memcpy(out, kIdentity, 32); /* n = 0 mod q */
}

/* out = n * p for an integer n < 2^255 and any decodable p. libsodium's noclamp multiplication only takes points
 * of the prime-order subgroup and refuses an identity result; RFC 9381 also multiplies points with a torsion
 * component (an attacker's pk or Gamma). Then p = p0 + t with p0 = (8^-1 mod q) * 8p and t of order | 8, and
 * n * p = n * p0 + (n mod 8) * t. */
static void mul_point(uint8_t out[32], const uint8_t n[32], const uint8_t p[32]) {
  if (crypto_scalarmult_ed25519_noclamp(out, n, p) == 0) return;
  uint8_t p8[32], p0[32], t[32], inv8[32], np0[32];
  static const uint8_t kEight[32] = {8};
  mul_cofactor(p8, p);
  if (is_identity(p8)) { /* p has small order */
    mul_small(out, n[0] & 7u, p);
    return;
  }
  crypto_core_ed25519_scalar_invert(inv8, kEight);
  if (crypto_scalarmult_ed25519_noclamp(p0, inv8, p8) != 0) memcpy(p0, kIdentity, 32); /* p8 has order q: never */
  crypto_core_ed25519_sub(t, p, p0);
  if (crypto_scalarmult_ed25519_noclamp(np0, n, p0) != 0) memcpy(np0, kIdentity, 32); /* n = 0 mod q */
  mul_small(t, n[0] & 7u, t);
  crypto_core_ed25519_add(out, np0, t);
}

static int scalar_canonical(const uint8_t s[32]) { /* s < q */
  for (int i = 31; i >= 0; i--) {
    if (s[i] < kOrder[i]) return 1;
    if (s[i] > kOrder[i]) return 0;
  }
  return 0;
}

/* ---- RFC 9380 hash_to_field / encode_to_curve (edwards25519_XMD:SHA-512_ELL2_NU_) ---- */

/* Message of up to two parts (m1 || m2), so pk || alpha needs no buffer. */
typedef struct msg2 {
  const uint8_t *m1, *m2;
  size_t l1, l2;
} msg2;

static void sha512_update(crypto_hash_sha512_state* st, const uint8_t* p, size_t n) {
  if (n > 0) crypto_hash_sha512_update(st, p, n);
}

/* expand_message_xmd with SHA-512 (RFC 9380 §5.3.1), len <= 255 * 64; dst_len in 1..255 (checked by callers). */
static void expand_message_xmd(uint8_t* out, size_t len, msg2 msg, const uint8_t* dst, size_t dst_len) {
  static const uint8_t kZPad[128] = {0}; /* Z_pad: one SHA-512 block */
  const uint8_t lib[3] = {(uint8_t)(len >> 8), (uint8_t)len, 0}; /* I2OSP(len, 2) || I2OSP(0, 1) */
  const uint8_t dlen = (uint8_t)dst_len;                          /* DST_prime = DST || I2OSP(len(DST), 1) */
  uint8_t b0[64], bi[64], x[64];
  crypto_hash_sha512_state st;
  crypto_hash_sha512_init(&st);
  sha512_update(&st, kZPad, sizeof kZPad);
  sha512_update(&st, msg.m1, msg.l1);
  sha512_update(&st, msg.m2, msg.l2);
  sha512_update(&st, lib, 3);
  sha512_update(&st, dst, dst_len);
  sha512_update(&st, &dlen, 1);
  crypto_hash_sha512_final(&st, b0);
  for (uint8_t i = 1; len > 0; i++) { /* b_i = H((b0 XOR b_(i-1)) || i || DST_prime), b_0 XOR b_0 skipped */
    for (int j = 0; j < 64; j++) x[j] = i == 1 ? b0[j] : (uint8_t)(b0[j] ^ bi[j]);
    crypto_hash_sha512_init(&st);
    sha512_update(&st, x, 64);
    sha512_update(&st, &i, 1);
    sha512_update(&st, dst, dst_len);
    sha512_update(&st, &dlen, 1);
    crypto_hash_sha512_final(&st, bi);
    const size_t n = len < 64 ? len : 64;
    memcpy(out, bi, n);
    out += n;
    len -= n;
  }
}

/* hash_to_field(msg, 1) (RFC 9380 §5.2, L = 48): u = OS2IP(48 bytes) mod p, via 2^256 = 38 and 2^255 = 19. */
static void hash_to_field(fe u, msg2 msg, const uint8_t* dst, size_t dst_len) {
  uint8_t ub[48], hi[32] = {0}, lo[32];
  expand_message_xmd(ub, sizeof ub, msg, dst, dst_len);
  for (int i = 0; i < 16; i++) hi[i] = ub[15 - i];
  for (int i = 0; i < 32; i++) lo[i] = ub[47 - i];
  fe h, l;
  static const fe k38 = {38};
  fe_frombytes(h, hi);
  fe_frombytes(l, lo);
  fe_mul(h, h, k38);
  fe_add(u, h, l);
  u[0] += 19 * (lo[31] >> 7);
}

static void encode_to_curve_ell2(uint8_t point[32], msg2 msg, const uint8_t* dst, size_t dst_len) {
  fe u;
  uint8_t r[32];
  hash_to_field(u, msg, dst, dst_len);
  fe_tobytes(r, u);
  r[31] |= (uint8_t)(ell2_edwards_x_sign(u) << 7);
  crypto_core_ed25519_from_uniform(point, r); /* same Elligator 2 map, x sign from bit 255, times 8 */
}

iotw_ecvrf_status iotw_h2c_edwards25519_nu(uint8_t point[32], const uint8_t* msg, size_t msg_len, const uint8_t* dst,
                                           size_t dst_len) {
  if ((msg == NULL && msg_len > 0) || dst == NULL || dst_len == 0 || dst_len > 255) return IOTW_ECVRF_BAD_ARG;
  encode_to_curve_ell2(point, (msg2){msg, NULL, msg_len, 0}, dst, dst_len);
  return IOTW_ECVRF_OK;
}

/* ---- RFC 9381 ---- */

static const char kEll2Dst[] = "ECVRF_edwards25519_XMD:SHA-512_ELL2_NU_\x04"; /* §5.5: "ECVRF_" || h2c ID || suite */

/* ECVRF_encode_to_curve (§5.4.1) with encode_to_curve_salt = pk. */
static iotw_ecvrf_status encode_to_curve(iotw_ecvrf_suite suite, uint8_t h[32], const uint8_t pk[32],
                                         const uint8_t* alpha, size_t alpha_len) {
  if (suite == IOTW_ECVRF_ELL2) {
    encode_to_curve_ell2(h, (msg2){pk, alpha, 32, alpha_len}, (const uint8_t*)kEll2Dst, sizeof kEll2Dst - 1);
    return IOTW_ECVRF_OK;
  }
  for (unsigned ctr = 0; ctr < 256; ctr++) { /* try-and-increment, §5.4.1.1 */
    const uint8_t front[2] = {(uint8_t)suite, 0x01}, back[2] = {(uint8_t)ctr, 0x00};
    uint8_t digest[64];
    crypto_hash_sha512_state st;
    crypto_hash_sha512_init(&st);
    sha512_update(&st, front, 2);
    sha512_update(&st, pk, 32);
    sha512_update(&st, alpha, alpha_len);
    sha512_update(&st, back, 2);
    crypto_hash_sha512_final(&st, digest);
    if (point_decodes(digest)) { /* interpret_hash_value_as_a_point = string_to_point(first 32 bytes) */
      mul_cofactor(h, digest);
      return IOTW_ECVRF_OK;
    }
  }
  return IOTW_ECVRF_NO_POINT;
}

/* ECVRF_challenge_generation (§5.4.3): first 16 bytes of SHA-512(suite || 0x02 || Y || H || Gamma || U || V || 0x00). */
static void challenge(uint8_t c[16], iotw_ecvrf_suite suite, const uint8_t* const points[5]) {
  const uint8_t front[2] = {(uint8_t)suite, 0x02}, back = 0x00;
  uint8_t digest[64];
  crypto_hash_sha512_state st;
  crypto_hash_sha512_init(&st);
  sha512_update(&st, front, 2);
  for (int i = 0; i < 5; i++) sha512_update(&st, points[i], 32);
  sha512_update(&st, &back, 1);
  crypto_hash_sha512_final(&st, digest);
  memcpy(c, digest, 16);
}

static int suite_ok(iotw_ecvrf_suite suite) { return suite == IOTW_ECVRF_TAI || suite == IOTW_ECVRF_ELL2; }

/* ECVRF_decode_proof (§5.4.4): Gamma must decode and s < q. */
static int proof_decodes(const uint8_t pi[IOTW_ECVRF_PROOF_BYTES]) {
  return point_decodes(pi) && scalar_canonical(pi + 48);
}

const char* iotw_ecvrf_status_str(iotw_ecvrf_status status) {
  switch (status) {
    case IOTW_ECVRF_OK: return "ok";
    case IOTW_ECVRF_BAD_SUITE: return "unknown suite";
    case IOTW_ECVRF_BAD_ARG: return "bad argument";
    case IOTW_ECVRF_BAD_KEY: return "invalid public key (not a canonical curve point, or small order)";
    case IOTW_ECVRF_BAD_PROOF: return "proof does not decode (Gamma not a canonical curve point, or s >= q)";
    case IOTW_ECVRF_INVALID: return "proof does not verify for this public key and alpha";
    case IOTW_ECVRF_NO_POINT: return "encode_to_curve found no point";
  }
  return "unknown status";
}

iotw_ecvrf_status iotw_ecvrf_public_key(uint8_t pk[IOTW_ECVRF_PK_BYTES], const uint8_t sk[IOTW_ECVRF_SK_BYTES]) {
  uint8_t h[64];
  crypto_hash_sha512(h, sk, IOTW_ECVRF_SK_BYTES);
  h[0] &= 248; /* RFC 8032 §5.1.5 clamping */
  h[31] &= 127;
  h[31] |= 64;
  crypto_scalarmult_ed25519_base_noclamp(pk, h);
  sodium_memzero(h, sizeof h);
  return IOTW_ECVRF_OK;
}

iotw_ecvrf_status iotw_ecvrf_prove(iotw_ecvrf_suite suite, uint8_t pi[IOTW_ECVRF_PROOF_BYTES],
                                   const uint8_t sk[IOTW_ECVRF_SK_BYTES], const uint8_t* alpha, size_t alpha_len) {
  if (!suite_ok(suite)) return IOTW_ECVRF_BAD_SUITE;
  if (alpha == NULL && alpha_len > 0) return IOTW_ECVRF_BAD_ARG;
  uint8_t h[64], x[64] = {0}, k[64], pk[32], hpt[32], gamma[32], kb[32], kh[32], c[32] = {0}, cx[32];
  crypto_hash_sha512(h, sk, IOTW_ECVRF_SK_BYTES); /* x = clamp(h[0..32]), nonce key = h[32..64] (§5.4.2.2) */
  h[0] &= 248;
  h[31] &= 127;
  h[31] |= 64;
  crypto_scalarmult_ed25519_base_noclamp(pk, h);
  iotw_ecvrf_status st = encode_to_curve(suite, hpt, pk, alpha, alpha_len);
  if (st == IOTW_ECVRF_OK) {
    mul_point(gamma, h, hpt); /* Gamma = x * H */
    crypto_hash_sha512_state hs;  /* k = SHA-512(h[32..64] || H) mod q (§5.4.2.2, RFC 8032 nonce) */
    crypto_hash_sha512_init(&hs);
    sha512_update(&hs, h + 32, 32);
    sha512_update(&hs, hpt, 32);
    crypto_hash_sha512_final(&hs, k);
    crypto_core_ed25519_scalar_reduce(k, k);
    mul_base(kb, k);
    mul_point(kh, k, hpt);
    challenge(c, suite, (const uint8_t* const[5]){pk, hpt, gamma, kb, kh});
    memcpy(x, h, 32);
    crypto_core_ed25519_scalar_reduce(x, x); /* x mod q */
    crypto_core_ed25519_scalar_mul(cx, c, x);
    memcpy(pi, gamma, 32);
    memcpy(pi + 32, c, 16);
    crypto_core_ed25519_scalar_add(pi + 48, k, cx); /* s = (k + c x) mod q */
  }
  sodium_memzero(h, sizeof h);
  sodium_memzero(x, sizeof x);
  sodium_memzero(k, sizeof k);
  sodium_memzero(cx, sizeof cx);
  return st;
}

iotw_ecvrf_status iotw_ecvrf_proof_to_hash(iotw_ecvrf_suite suite, uint8_t beta[IOTW_ECVRF_OUTPUT_BYTES],
                                           const uint8_t pi[IOTW_ECVRF_PROOF_BYTES]) {
  if (!suite_ok(suite)) return IOTW_ECVRF_BAD_SUITE;
  if (!proof_decodes(pi)) return IOTW_ECVRF_BAD_PROOF;
  const uint8_t front[2] = {(uint8_t)suite, 0x03}, back = 0x00;
  uint8_t g8[32];
  mul_cofactor(g8, pi);
  crypto_hash_sha512_state st;
  crypto_hash_sha512_init(&st);
  sha512_update(&st, front, 2);
  sha512_update(&st, g8, 32);
  sha512_update(&st, &back, 1);
  crypto_hash_sha512_final(&st, beta);
  return IOTW_ECVRF_OK;
}

iotw_ecvrf_status iotw_ecvrf_verify(iotw_ecvrf_suite suite, uint8_t beta[IOTW_ECVRF_OUTPUT_BYTES],
                                    const uint8_t pk[IOTW_ECVRF_PK_BYTES], const uint8_t pi[IOTW_ECVRF_PROOF_BYTES],
                                    const uint8_t* alpha, size_t alpha_len) {
  if (!suite_ok(suite)) return IOTW_ECVRF_BAD_SUITE;
  if (alpha == NULL && alpha_len > 0) return IOTW_ECVRF_BAD_ARG;
  uint8_t y8[32];
  if (!point_decodes(pk)) return IOTW_ECVRF_BAD_KEY;
  mul_cofactor(y8, pk);
  if (is_identity(y8)) return IOTW_ECVRF_BAD_KEY; /* small order (§5.4.5) */
  if (!proof_decodes(pi)) return IOTW_ECVRF_BAD_PROOF;
  uint8_t hpt[32], c[32] = {0}, sb[32], cy[32], sh[32], cg[32], u[32], v[32], c2[16];
  const iotw_ecvrf_status st = encode_to_curve(suite, hpt, pk, alpha, alpha_len);
  if (st != IOTW_ECVRF_OK) return st;
  memcpy(c, pi + 32, 16);
  const uint8_t* s = pi + 48;
  mul_base(sb, s); /* U = s B - c Y */
  mul_point(cy, c, pk);
  crypto_core_ed25519_sub(u, sb, cy);
  mul_point(sh, s, hpt); /* V = s H - c Gamma */
  mul_point(cg, c, pi);
  crypto_core_ed25519_sub(v, sh, cg);
  challenge(c2, suite, (const uint8_t* const[5]){pk, hpt, pi, u, v});
  if (memcmp(c2, c, 16) != 0) return IOTW_ECVRF_INVALID;
  if (beta != NULL) iotw_ecvrf_proof_to_hash(suite, beta, pi);
  return IOTW_ECVRF_OK;
}
