/* Domain-separated messages covered by Ed25519 signatures (pure Ed25519, RFC 8032; docs/protocol.md §5).
 * Each message = ASCII tag || 0x00 || fixed fields; tags differ per message kind, so a signature for one
 * kind never verifies as another. These functions only build the bytes; signing and verification are done
 * by the caller (libsodium crypto_sign_detached / crypto_sign_verify_detached). C11, no heap. */
#ifndef IOTW_SIGNING_H
#define IOTW_SIGNING_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

#define IOTW_TAG_REGISTER "IOTW/1/REGISTER" /* || nonce[32] || pubkey[32]                 -> 80 bytes */
#define IOTW_TAG_RESULT "IOTW/1/RESULT"     /* || assignment_id u64le || block_hash[32]   -> 54 bytes */
#define IOTW_TAG_ATTEST "IOTW/1/ATTEST"     /* || round_id u64le || block_hash[32] || verdict u8 -> 55 bytes */

#define IOTW_TAG_USAGE "IOTW/1/USAGE" /* || seq u64le || energy_mwh u64le || on_seconds u32le || period_s u32le -> 37 bytes */

/* Signed by the trust node's node key (not a device key): a finalized chain tip for light verification. */
#define IOTW_TAG_CHECKPOINT "IOTW/1/CHECKPOINT" /* || height u64le || block_hash[32] -> 58 bytes */

/* Signed by the trust node's node key: what the node asks a device (docs/protocol.md §5 "Node requests"), so a
 * device provisioned with the node key answers only the real node. header_hash = SHA-256(header[120]). */
#define IOTW_TAG_ASSIGN "IOTW/1/ASSIGN"   /* || assignment_id u64le || header_hash[32] || deadline_ms u32le -> 58 bytes */
/* WITNESS: || round_id u64le || header_hash[32] || block_hash[32] || deadline_ms u32le || assignment_id u64le
 *          || miner_signature[64] -> 163 bytes */
#define IOTW_TAG_WITNESS "IOTW/1/WITNESS"
#define IOTW_TAG_SEED "IOTW/1/SEED"       /* || height u64le || prev_hash[32] || suite u32le || claim_window_ms u32le -> 60 bytes */

/* Not a signing message: the ECVRF input (RFC 9381 alpha) of the round that selects the miner of the block at
 * height on top of prev_hash (docs/protocol.md §5, docs/vrf.md). */
#define IOTW_TAG_VRF "IOTW/1/VRF" /* || height u64le || prev_hash[32] -> 51 bytes */
#define IOTW_VRF_ALPHA_SIZE 51u

/** Large enough for every signing message. */
#define IOTW_SIG_MSG_MAX 168u

/** REGISTER: proves possession of pubkey's secret key for the trust node's 32-byte nonce.
 *  Writes into out (>= IOTW_SIG_MSG_MAX bytes) and returns the length (80). */
size_t iotw_sigmsg_register(const uint8_t nonce[32], const uint8_t pubkey[32], uint8_t *out);

/** RESULT: a miner's answer to an assignment. Returns the length (54). */
size_t iotw_sigmsg_result(uint64_t assignment_id, const uint8_t block_hash[32], uint8_t *out);

/** ATTEST: a witness's verdict (1 = valid, 2 = invalid, as iotw.v1.Verdict). Returns the length (55). */
size_t iotw_sigmsg_attest(uint64_t round_id, const uint8_t block_hash[32], uint8_t verdict, uint8_t *out);

/** USAGE: a device's signed usage-data report. Returns the length (37). */
size_t iotw_sigmsg_usage(uint64_t seq, uint64_t energy_mwh, uint32_t on_seconds, uint32_t period_s, uint8_t *out);

/** CHECKPOINT: the trust node's signed statement that block_hash is the finalized block at height
 *  (docs/protocol.md §5, §6 light verification). Returns the length (58). */
size_t iotw_sigmsg_checkpoint(uint64_t height, const uint8_t block_hash[32], uint8_t *out);

/** ASSIGN: the trust node's signature over an Assignment (node key). header_hash = SHA-256(the 120-byte header).
 *  Returns the length (58). */
size_t iotw_sigmsg_assign(uint64_t assignment_id, const uint8_t header_hash[32], uint32_t deadline_ms, uint8_t *out);

/** WITNESS: the trust node's signature over a WitnessRequest (node key); block_hash is the request's (the miner's)
 *  block hash, header_hash = SHA-256(header); assignment_id and miner_signature are the miner's Result fields the
 *  request carries (so neither can be swapped without breaking the node signature). Returns the length (163). */
size_t iotw_sigmsg_witness(uint64_t round_id, const uint8_t header_hash[32], const uint8_t block_hash[32],
                           uint32_t deadline_ms, uint64_t assignment_id, const uint8_t miner_signature[64],
                           uint8_t *out);

/** SEED: the trust node's signature over a VrfRoundSeed (node key). Returns the length (60). */
size_t iotw_sigmsg_seed(uint64_t height, const uint8_t prev_hash[32], uint32_t suite, uint32_t claim_window_ms,
                        uint8_t *out);

/** VRF alpha for the block at height whose predecessor has block hash prev_hash. Never signed with Ed25519.
 *  Writes into out (>= IOTW_VRF_ALPHA_SIZE bytes) and returns the length (51). */
size_t iotw_vrf_alpha(uint64_t height, const uint8_t prev_hash[32], uint8_t *out);

#ifdef __cplusplus
}
#endif
#endif
