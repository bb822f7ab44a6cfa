/* Fixed-layout block header, 120 bytes, all integers little-endian (docs/protocol.md §4).
 * block hash = SHA-256(the 120 header bytes). C11, no heap. */
#ifndef IOTW_BLOCK_HEADER_H
#define IOTW_BLOCK_HEADER_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

#define IOTW_BLOCK_HEADER_SIZE 120u
#define IOTW_BLOCK_VERSION 1u
#define IOTW_HASH_SIZE 32u
#define IOTW_PUBKEY_SIZE 32u
#define IOTW_SIGNATURE_SIZE 64u

/** Offsets: version@0 (u32), height@4 (u64), prev_hash@12, tx_root@44, timestamp_ms@76 (u64),
 *  miner_pubkey@84, tx_count@116 (u32). */
typedef struct {
  uint32_t version;                      /**< IOTW_BLOCK_VERSION */
  uint64_t height;                       /**< genesis = 0 */
  uint8_t prev_hash[IOTW_HASH_SIZE];     /**< block hash of height-1; zero for genesis */
  uint8_t tx_root[IOTW_HASH_SIZE];       /**< SHA-256 over the concatenated tx hashes, in block order */
  uint64_t timestamp_ms;                 /**< trust node time, Unix epoch ms; 0 for genesis */
  uint8_t miner_pubkey[IOTW_PUBKEY_SIZE]; /**< Ed25519 key of the assigned miner; zero for genesis */
  uint32_t tx_count;
} iotw_block_header;

/** Serialise h into exactly IOTW_BLOCK_HEADER_SIZE bytes at out. */
void iotw_block_header_pack(const iotw_block_header *h, uint8_t out[IOTW_BLOCK_HEADER_SIZE]);

/** Parse IOTW_BLOCK_HEADER_SIZE bytes. Returns 0, or -1 if version != IOTW_BLOCK_VERSION (h still filled). */
int iotw_block_header_unpack(const uint8_t in[IOTW_BLOCK_HEADER_SIZE], iotw_block_header *h);

/** Little-endian helpers used by the layouts in this room. */
void iotw_put_u32le(uint8_t *p, uint32_t v);
void iotw_put_u64le(uint8_t *p, uint64_t v);
uint32_t iotw_get_u32le(const uint8_t *p);
uint64_t iotw_get_u64le(const uint8_t *p);

#ifdef __cplusplus
}
#endif
#endif
