/* Node-key messages of the exported ledger: docs/protocol.md §5 (FINALIZE, TIP), §8. */
#include "iotw/ledger_signing.h"

#include <string.h>

#include "iotw/block_header.h"

static size_t put_tag(uint8_t *out, const char *tag) {
  size_t n = strlen(tag) + 1u; /* tag and its terminating 0x00 */
  memcpy(out, tag, n);
  return n;
}

size_t iotw_sigmsg_finalize(uint64_t height, const uint8_t block_hash[32], uint8_t policy, uint32_t n, uint32_t t,
                            uint8_t selection, const uint8_t attestations_hash[32], const uint8_t selection_hash[32],
                            uint8_t *out) {
  size_t k = put_tag(out, IOTW_TAG_FINALIZE);
  iotw_put_u64le(out + k, height);
  memcpy(out + k + 8, block_hash, 32);
  out[k + 40] = policy;
  iotw_put_u32le(out + k + 41, n);
  iotw_put_u32le(out + k + 45, t);
  out[k + 49] = selection;
  memcpy(out + k + 50, attestations_hash, 32);
  memcpy(out + k + 82, selection_hash, 32);
  return k + 114;
}

size_t iotw_sigmsg_tip(uint64_t height, const uint8_t block_hash[32], uint64_t time_ms, uint8_t *out) {
  size_t k = put_tag(out, IOTW_TAG_TIP);
  iotw_put_u64le(out + k, height);
  memcpy(out + k + 8, block_hash, 32);
  iotw_put_u64le(out + k + 40, time_ms);
  return k + 48;
}

size_t iotw_finalize_att_entry(const uint8_t witness[32], uint64_t round_id, uint8_t verdict,
                               const uint8_t signature[64], uint8_t *out) {
  memcpy(out, witness, 32);
  iotw_put_u64le(out + 32, round_id);
  out[40] = verdict;
  memcpy(out + 41, signature, 64);
  return IOTW_FINALIZE_ATT_ENTRY_SIZE;
}

size_t iotw_finalize_vrf_head(uint8_t suite, uint32_t rank, uint32_t claim_count, uint8_t *out) {
  out[0] = suite;
  iotw_put_u32le(out + 1, rank);
  iotw_put_u32le(out + 5, claim_count);
  return IOTW_FINALIZE_VRF_HEAD_SIZE;
}
