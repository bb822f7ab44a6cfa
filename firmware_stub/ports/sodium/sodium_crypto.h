/* The port's cryptography from libsodium, shared by every port (host, sim, mcu): SHA-256 (FIPS 180-4) and Ed25519
 * (RFC 8032) through libsodium's crypto_hash_sha256 and crypto_sign_ed25519_*, which both the host's libsodium and
 * the cross builds' subset of it (docs/firmware.md "Cross builds") provide. C11. */
#ifndef IOTW_SODIUM_CRYPTO_H
#define IOTW_SODIUM_CRYPTO_H
#include "iotw/port.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Set port->sha256, ed25519_seed_keypair, ed25519_sign and ed25519_verify (they ignore ctx). The caller has
 *  initialised libsodium where its platform needs it (sodium_init on the host). */
void iotw_port_use_sodium_crypto(iotw_port *port);

#ifdef __cplusplus
}
#endif
#endif
