/* CRC-32/ISO-HDLC, table-driven (reflected polynomial 0xEDB88320). */
#include "iotw/crc32.h"

static uint32_t crc_table[256];
static int crc_table_ready;

static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1u) ? (0xEDB88320u ^ (c >> 1)) : (c >> 1);
    crc_table[i] = c;
  }
  crc_table_ready = 1;
}

uint32_t iotw_crc32_update(uint32_t crc, const uint8_t *data, size_t len) {
  if (!crc_table_ready) crc_init();
  crc = ~crc;
  for (size_t i = 0; i < len; i++) crc = crc_table[(crc ^ data[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

uint32_t iotw_crc32(const uint8_t *data, size_t len) { return iotw_crc32_update(0, data, len); }
