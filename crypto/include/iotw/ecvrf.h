/* ECVRF over edwards25519 (RFC 9381, "Verifiable Random Functions"), suites
 *   ECVRF-EDWARDS25519-SHA512-TAI  (suite_string 0x03, try-and-increment encode_to_curve, RFC 9381 §5.4.1.1)
 *   ECVRF-EDWARDS25519-SHA512-ELL2 (suite_string 0x04, RFC 9380 edwards25519_XMD:SHA-512_ELL2_NU_, §5.4.1.2)
 * built on libsodium's Ed25519 point/scalar operations and SHA-512 (docs/vrf.md).
 *
 * Encodings (RFC 9381 §5.5): sk = 32-byte Ed25519 seed (RFC 8032), pk = 32-byte RFC 8032 point,
 * pi = Gamma[32] || c[16] || s[32] (little-endian integers), beta = 64-byte SHA-512 output.
 * Public keys are validated (§5.4.5, validate_key = TRUE): canonical RFC 8032 encoding of a curve point that
 * does not have small order. Points are decoded strictly per RFC 8032 §5.1.3 (y < p, no "-0").
 * A proof decodes only with s < q (§5.4.4), so proofs are not malleable through s.
 *
 * C11, no heap, no stdio, no global state: safe to call from firmware ports and from several threads.
 * Secret intermediates are wiped before return. Call sodium_init() once before use (libsodium rule).
 * Stack: about 3 KB in this file plus libsodium's scalar multiplication; a whole prove or verify peaks near
 * 11 KB on x86-64 (docs/vrf.md). Timing: constant-time in sk (libsodium); encode_to_curve works on public data. */
#ifndef IOTW_ECVRF_H
#define IOTW_ECVRF_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

#define IOTW_ECVRF_SK_BYTES 32u     /* Ed25519 seed */
#define IOTW_ECVRF_PK_BYTES 32u     /* RFC 8032 point encoding */
#define IOTW_ECVRF_PROOF_BYTES 80u  /* pi = Gamma[32] || c[16] || s[32] */
#define IOTW_ECVRF_OUTPUT_BYTES 64u /* beta = SHA-512 output */

/** Cipher suite; the value is the RFC 9381 suite_string octet. */
typedef enum iotw_ecvrf_suite {
  IOTW_ECVRF_TAI = 0x03,  /* ECVRF-EDWARDS25519-SHA512-TAI */
  IOTW_ECVRF_ELL2 = 0x04, /* ECVRF-EDWARDS25519-SHA512-ELL2 */
} iotw_ecvrf_suite;

typedef enum iotw_ecvrf_status {
  IOTW_ECVRF_OK = 0,
  IOTW_ECVRF_BAD_SUITE = 1,  /* suite is neither IOTW_ECVRF_TAI nor IOTW_ECVRF_ELL2 */
  IOTW_ECVRF_BAD_ARG = 2,    /* a NULL pointer with a non-zero length, or a DST longer than 255 bytes */
  IOTW_ECVRF_BAD_KEY = 3,    /* pk is not a canonical curve point, or has small order (§5.4.5) */
  IOTW_ECVRF_BAD_PROOF = 4,  /* pi does not decode: Gamma is not a canonical curve point, or s >= q (§5.4.4) */
  IOTW_ECVRF_INVALID = 5,    /* pi decodes but does not verify for this pk and alpha (c != c', §5.3 step 8) */
  IOTW_ECVRF_NO_POINT = 6,   /* TAI: no counter 0..255 gave a point (probability ~2^-256) */
} iotw_ecvrf_status;

/** A short English description of a status ("proof does not verify", ...); never NULL. */
const char* iotw_ecvrf_status_str(iotw_ecvrf_status status);

/** pk for the 32-byte seed sk: the Ed25519 public key (RFC 8032 §5.1.5). Always IOTW_ECVRF_OK. */
iotw_ecvrf_status iotw_ecvrf_public_key(uint8_t pk[IOTW_ECVRF_PK_BYTES], const uint8_t sk[IOTW_ECVRF_SK_BYTES]);

/** ECVRF_prove (RFC 9381 §5.1): writes the 80-byte proof of alpha (alpha_len bytes; alpha may be NULL when
 *  alpha_len is 0) under sk. Deterministic. Errors: BAD_SUITE, BAD_ARG, NO_POINT (pi left unspecified). */
iotw_ecvrf_status iotw_ecvrf_prove(iotw_ecvrf_suite suite, uint8_t pi[IOTW_ECVRF_PROOF_BYTES],
                                   const uint8_t sk[IOTW_ECVRF_SK_BYTES], const uint8_t* alpha, size_t alpha_len);

/** ECVRF_verify (RFC 9381 §5.3, validate_key = TRUE): checks pi for pk and alpha; on IOTW_ECVRF_OK writes the
 *  64-byte beta (beta may be NULL to only check). Errors: BAD_SUITE, BAD_ARG, BAD_KEY, BAD_PROOF, INVALID,
 *  NO_POINT; beta is untouched on any error. */
iotw_ecvrf_status iotw_ecvrf_verify(iotw_ecvrf_suite suite, uint8_t beta[IOTW_ECVRF_OUTPUT_BYTES],
                                    const uint8_t pk[IOTW_ECVRF_PK_BYTES], const uint8_t pi[IOTW_ECVRF_PROOF_BYTES],
                                    const uint8_t* alpha, size_t alpha_len);

/** ECVRF_proof_to_hash (RFC 9381 §5.2): beta = SHA-512(suite || 0x03 || 8*Gamma || 0x00). Does NOT verify pi:
 *  only use beta from a proof that iotw_ecvrf_verify accepted. Errors: BAD_SUITE, BAD_PROOF. */
iotw_ecvrf_status iotw_ecvrf_proof_to_hash(iotw_ecvrf_suite suite, uint8_t beta[IOTW_ECVRF_OUTPUT_BYTES],
                                           const uint8_t pi[IOTW_ECVRF_PROOF_BYTES]);

/** RFC 9380 encode_to_curve for suite edwards25519_XMD:SHA-512_ELL2_NU_ (§6.8.2, Appendix G.2.2) with any DST
 *  of 1..255 bytes: writes the RFC 8032 encoding of P = clear_cofactor(map_to_curve(hash_to_field(msg, 1))).
 *  The ELL2 suite uses it with DST "ECVRF_edwards25519_XMD:SHA-512_ELL2_NU_" || 0x04 and msg = pk || alpha.
 *  Errors: BAD_ARG (dst_len 0 or > 255, NULL with non-zero length). */
iotw_ecvrf_status iotw_h2c_edwards25519_nu(uint8_t point[32], const uint8_t* msg, size_t msg_len, const uint8_t* dst,
                                           size_t dst_len);

#ifdef __cplusplus
}
#endif
#endif
