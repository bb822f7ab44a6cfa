/* The port's cryptography from libsodium (sodium_crypto.h). */
#include "sodium_crypto.h"

#include <sodium/crypto_hash_sha256.h>
#include <sodium/crypto_sign_ed25519.h>
#include <stddef.h>
#include <string.h>

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

void iotw_hash_drbg_init(iotw_hash_drbg *drbg, const uint8_t seed[32], uint32_t boot) {
  memcpy(drbg->seed, seed, 32);
  drbg->boot = boot;
  drbg->counter = 0;
}

void iotw_hash_drbg_fill(iotw_hash_drbg *drbg, uint8_t *out, size_t len) {
  while (len > 0) {
    uint8_t in[32 + 4 + 8], block[32];
    memcpy(in, drbg->seed, 32);
    for (int i = 0; i < 4; i++) in[32 + i] = (uint8_t)(drbg->boot >> (8 * i));
    for (int i = 0; i < 8; i++) in[36 + i] = (uint8_t)(drbg->counter >> (8 * i));
    crypto_hash_sha256(block, in, sizeof in);
    drbg->counter++;
    size_t n = len < sizeof block ? len : sizeof block;
    memcpy(out, block, n);
    out += n;
    len -= n;
  }
}
