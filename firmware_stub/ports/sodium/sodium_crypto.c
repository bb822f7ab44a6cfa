/* The port's cryptography from libsodium (sodium_crypto.h). */
#include "sodium_crypto.h"

#include <sodium/crypto_hash_sha256.h>
#include <sodium/crypto_sign_ed25519.h>
#include <stddef.h>

static void sodium_sha256(void *ctx, const uint8_t *in, size_t len, uint8_t out[32]) {
  (void)ctx;
  crypto_hash_sha256(out, in, len);
}

static void sodium_seed_keypair(void *ctx, const uint8_t seed[32], uint8_t pk[32], uint8_t sk[64]) {
  (void)ctx;
  crypto_sign_ed25519_seed_keypair(pk, sk, seed);
}

static void sodium_sign(void *ctx, const uint8_t sk[64], const uint8_t *msg, size_t len, uint8_t sig[64]) {
  (void)ctx;
  crypto_sign_ed25519_detached(sig, NULL, msg, len, sk);
}

static int sodium_verify(void *ctx, const uint8_t pk[32], const uint8_t *msg, size_t len, const uint8_t sig[64]) {
  (void)ctx;
  return crypto_sign_ed25519_verify_detached(sig, msg, len, pk); /* 0, or -1 */
}

void iotw_port_use_sodium_crypto(iotw_port *port) {
  port->sha256 = sodium_sha256;
  port->ed25519_seed_keypair = sodium_seed_keypair;
  port->ed25519_sign = sodium_sign;
  port->ed25519_verify = sodium_verify;
}
