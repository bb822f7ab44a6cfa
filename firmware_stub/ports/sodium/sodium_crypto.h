/* The port's cryptography from libsodium, shared by every port (host, sim, mcu): SHA-256 (FIPS 180-4) and Ed25519
 * (RFC 8032) through libsodium's crypto_hash_sha256 and crypto_sign_ed25519_*, which both the host's libsodium and
 * the cross builds' subset of it (docs/firmware.md "Cross builds") provide; and the ports' one seeded random
 * source, a hash DRBG on that SHA-256 (docs/architecture.md "Determinism"). C11. */
#ifndef IOTW_SODIUM_CRYPTO_H
#define IOTW_SODIUM_CRYPTO_H
#include <stddef.h>
#include <stdint.h>

#include "iotw/port.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Set port->sha256, ed25519_seed_keypair, ed25519_sign and ed25519_verify (they ignore ctx). The caller has
 *  initialised libsodium where its platform needs it (sodium_init on the host). */
void iotw_port_use_sodium_crypto(iotw_port *port);

/** The ports' seeded random source (ports/mcu always; ports/host when its ctx carries a seed). Output block i is
 *  SHA-256(seed || boot (u32 LE) || i (u64 LE)), 32 bytes; the stream is the blocks in order, each block used
 *  whole or its first bytes at the end of a request (a request never starts inside an earlier block). seed: the
 *  device's 32-byte component seed (support/seeded_random.hpp derives it from the rig seed and the device name);
 *  boot: which power-on this is (ports/mcu: NVS "drbg.boots", so no stream repeats after a reset; ports/host: 0,
 *  one stream per process). Same seed and boot: the same bytes. */
typedef struct {
  uint8_t seed[32];
  uint32_t boot;
  uint64_t counter; /**< blocks drawn so far */
} iotw_hash_drbg;

/** Start drbg at block 0 of (seed, boot). */
void iotw_hash_drbg_init(iotw_hash_drbg *drbg, const uint8_t seed[32], uint32_t boot);

/** The next len bytes of the stream (see above). */
void iotw_hash_drbg_fill(iotw_hash_drbg *drbg, uint8_t *out, size_t len);

#ifdef __cplusplus
}
#endif
#endif
