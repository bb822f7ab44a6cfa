/* Messages the trust node signs with its node key for the exported ledger (docs/protocol.md §5, §8): the
 * per-block FINALIZE record and the TIP at the end of an export. Devices never see them. Like signing.h,
 * these functions only build bytes (ASCII tag || 0x00 || fixed fields, integers little-endian); hashing and
 * Ed25519 are the caller's (libsodium). C11, no heap. */
#ifndef IOTW_LEDGER_SIGNING_H
#define IOTW_LEDGER_SIGNING_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

/* || height u64 || block_hash[32] || policy u8 || n u32 || t u32 || selection u8
 * || attestations_hash[32] || selection_hash[32]                                              -> 130 bytes */
#define IOTW_TAG_FINALIZE "IOTW/1/FINALIZE"
#define IOTW_FINALIZE_SIZE 130u
/* || height u64 || block_hash[32] || time_ms u64                                              -> 59 bytes */
#define IOTW_TAG_TIP "IOTW/1/TIP"
#define IOTW_TIP_SIZE 59u

/* Witness policy codes in FINALIZE (docs/protocol.md §7). */
#define IOTW_POLICY_STRICT 1u
#define IOTW_POLICY_THRESHOLD 2u
/* Selection codes in FINALIZE: how the block's miner was chosen. */
#define IOTW_SELECTION_UNIFORM 1u
#define IOTW_SELECTION_REPUTATION 2u
#define IOTW_SELECTION_VRF 3u

/* One attestation's bytes in attestations_hash = SHA-256(entry_1 || ... || entry_k), in ledger order:
 * witness[32] || round_id u64 || verdict u8 || signature[64]. */
#define IOTW_FINALIZE_ATT_ENTRY_SIZE 105u
/* The head of selection_hash = SHA-256(head || claim_1 || ... || claim_k) under selection VRF:
 * suite u8 || rank u32 || claim_count u32, then each claim in ledger order as device[32] || pi[80].
 * Under uniform and reputation selection, selection_hash is 32 zero bytes. */
#define IOTW_FINALIZE_VRF_HEAD_SIZE 9u

/** FINALIZE: the node's statement that the block (height, block_hash) was finalized under the witness policy
 *  (policy, n, t) with the attestations and the miner selection hashed as above. out >= IOTW_FINALIZE_SIZE
 *  bytes; returns IOTW_FINALIZE_SIZE. */
size_t iotw_sigmsg_finalize(uint64_t height, const uint8_t block_hash[32], uint8_t policy, uint32_t n, uint32_t t,
                            uint8_t selection, const uint8_t attestations_hash[32], const uint8_t selection_hash[32],
                            uint8_t *out);

/** TIP: the node's statement that at time_ms (Unix ms, node clock) its finalized chain ended at
 *  (height, block_hash). out >= IOTW_TIP_SIZE bytes; returns IOTW_TIP_SIZE. */
size_t iotw_sigmsg_tip(uint64_t height, const uint8_t block_hash[32], uint64_t time_ms, uint8_t *out);

/** One attestations_hash entry (IOTW_FINALIZE_ATT_ENTRY_SIZE bytes into out); returns that size. */
size_t iotw_finalize_att_entry(const uint8_t witness[32], uint64_t round_id, uint8_t verdict,
                               const uint8_t signature[64], uint8_t *out);

/** The selection_hash head (IOTW_FINALIZE_VRF_HEAD_SIZE bytes into out); returns that size. */
size_t iotw_finalize_vrf_head(uint8_t suite, uint32_t rank, uint32_t claim_count, uint8_t *out);

#ifdef __cplusplus
}
#endif
#endif
