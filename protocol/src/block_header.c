/* Block header layout: docs/protocol.md §4. */
#include "iotw/block_header.h"

#include <string.h>

void iotw_put_u32le(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
void iotw_put_u64le(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
uint32_t iotw_get_u32le(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}
uint64_t iotw_get_u64le(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

void iotw_block_header_pack(const iotw_block_header *h, uint8_t out[IOTW_BLOCK_HEADER_SIZE]) {
  iotw_put_u32le(out + 0, h->version);
  iotw_put_u64le(out + 4, h->height);
  memcpy(out + 12, h->prev_hash, 32);
  memcpy(out + 44, h->tx_root, 32);
  iotw_put_u64le(out + 76, h->timestamp_ms);
  memcpy(out + 84, h->miner_pubkey, 32);
  iotw_put_u32le(out + 116, h->tx_count);
}

int iotw_block_header_unpack(const uint8_t in[IOTW_BLOCK_HEADER_SIZE], iotw_block_header *h) {
  h->version = iotw_get_u32le(in + 0);
  h->height = iotw_get_u64le(in + 4);
  memcpy(h->prev_hash, in + 12, 32);
  memcpy(h->tx_root, in + 44, 32);
  h->timestamp_ms = iotw_get_u64le(in + 76);
  memcpy(h->miner_pubkey, in + 84, 32);
  h->tx_count = iotw_get_u32le(in + 116);
  return h->version == IOTW_BLOCK_VERSION ? 0 : -1;
}
