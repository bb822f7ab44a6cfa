/* Domain-separated signing messages: docs/protocol.md §5. */
#include "iotw/signing.h"

#include <string.h>

#include "iotw/block_header.h"

static size_t put_tag(uint8_t *out, const char *tag) {
  size_t n = strlen(tag) + 1u; /* tag and its terminating 0x00 */
  memcpy(out, tag, n);
  return n;
}

size_t iotw_sigmsg_register(const uint8_t nonce[32], const uint8_t pubkey[32], uint8_t *out) {
  size_t n = put_tag(out, IOTW_TAG_REGISTER);
  memcpy(out + n, nonce, 32);
  memcpy(out + n + 32, pubkey, 32);
  return n + 64;
}

size_t iotw_sigmsg_result(uint64_t assignment_id, const uint8_t block_hash[32], uint8_t *out) {
  size_t n = put_tag(out, IOTW_TAG_RESULT);
  iotw_put_u64le(out + n, assignment_id);
  memcpy(out + n + 8, block_hash, 32);
  return n + 40;
}

size_t iotw_sigmsg_attest(uint64_t round_id, const uint8_t block_hash[32], uint8_t verdict, uint8_t *out) {
  size_t n = put_tag(out, IOTW_TAG_ATTEST);
  iotw_put_u64le(out + n, round_id);
  memcpy(out + n + 8, block_hash, 32);
  out[n + 40] = verdict;
  return n + 41;
}

size_t iotw_sigmsg_usage(uint64_t seq, uint64_t energy_mwh, uint32_t on_seconds, uint32_t period_s, uint8_t *out) {
  size_t n = put_tag(out, IOTW_TAG_USAGE);
  iotw_put_u64le(out + n, seq);
  iotw_put_u64le(out + n + 8, energy_mwh);
  iotw_put_u32le(out + n + 16, on_seconds);
  iotw_put_u32le(out + n + 20, period_s);
  return n + 24;
}

size_t iotw_sigmsg_checkpoint(uint64_t height, const uint8_t block_hash[32], uint8_t *out) {
  size_t n = put_tag(out, IOTW_TAG_CHECKPOINT);
  iotw_put_u64le(out + n, height);
  memcpy(out + n + 8, block_hash, 32);
  return n + 40;
}

size_t iotw_sigmsg_assign(uint64_t assignment_id, const uint8_t header_hash[32], uint32_t deadline_ms, uint8_t *out) {
  size_t n = put_tag(out, IOTW_TAG_ASSIGN);
  iotw_put_u64le(out + n, assignment_id);
  memcpy(out + n + 8, header_hash, 32);
  iotw_put_u32le(out + n + 40, deadline_ms);
  return n + 44;
}

size_t iotw_sigmsg_witness(uint64_t round_id, const uint8_t header_hash[32], const uint8_t block_hash[32],
                           uint32_t deadline_ms, uint64_t assignment_id, const uint8_t miner_signature[64],
                           uint8_t *out) {
  size_t n = put_tag(out, IOTW_TAG_WITNESS);
  iotw_put_u64le(out + n, round_id);
  memcpy(out + n + 8, header_hash, 32);
  memcpy(out + n + 40, block_hash, 32);
  iotw_put_u32le(out + n + 72, deadline_ms);
  iotw_put_u64le(out + n + 76, assignment_id);
  memcpy(out + n + 84, miner_signature, 64);
  return n + 148;
}

size_t iotw_sigmsg_seed(uint64_t height, const uint8_t prev_hash[32], uint32_t suite, uint32_t claim_window_ms,
                        uint8_t *out) {
  size_t n = put_tag(out, IOTW_TAG_SEED);
  iotw_put_u64le(out + n, height);
  memcpy(out + n + 8, prev_hash, 32);
  iotw_put_u32le(out + n + 40, suite);
  iotw_put_u32le(out + n + 44, claim_window_ms);
  return n + 48;
}

size_t iotw_vrf_alpha(uint64_t height, const uint8_t prev_hash[32], uint8_t *out) {
  size_t n = put_tag(out, IOTW_TAG_VRF);
  iotw_put_u64le(out + n, height);
  memcpy(out + n + 8, prev_hash, 32);
  return n + 40;
}
