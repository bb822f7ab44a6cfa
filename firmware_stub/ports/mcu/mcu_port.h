/* The microcontroller port: iotw_port (port.h) for a bare-metal chip, on a small board interface (the few
 * registers a board differs in) plus libsodium compiled for the target (docs/firmware.md "Cross builds").
 * One board file per chip: ports/lm3s6965 (Cortex-M3, runs in QEMU), ports/esp8266 (Xtensa LX106). C11, no heap.
 *
 * Randomness: the ports' hash DRBG (sodium_crypto.h iotw_hash_drbg), block i = SHA-256(seed || boot (u32 LE) ||
 * i (u64 LE)), seed = 32 bytes the board gets from outside (QEMU: the seed= argument the harness derives from the
 * rig seed; a real chip: its hardware RNG), boot = NVS "drbg.boots", incremented at every init so no stream
 * repeats after a reset. */
#ifndef IOTW_MCU_PORT_H
#define IOTW_MCU_PORT_H
#include <stddef.h>
#include <stdint.h>

#include "iotw/firmware.h"
#include "iotw/port.h"
#include "sodium_crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What a board provides. Every function is required; none may block longer than one UART character. */
typedef struct {
  /** Up to cap bytes the link UART received since the last call (never blocks); returns the count, 0 = none. */
  size_t (*link_read)(uint8_t *out, size_t cap);
  /** Transmit bytes on the link UART (waits for FIFO room). Returns 0, or < 0 if the UART is down. */
  int (*link_write)(const uint8_t *bytes, size_t len);
  /** One log line (NUL-terminated, ends with '\n') on the log UART. */
  void (*log_write)(const char *line);
  /** Milliseconds since reset (the board's 1 kHz tick). */
  uint64_t (*millis)(void);
  /** NVS, with port.h's contract: get 0 / -1 absent / -2 error or too big; set 0 / < 0 error. */
  int (*nvs_get)(const char *key, uint8_t *out, size_t cap, size_t *out_len);
  int (*nvs_set)(const char *key, const uint8_t *data, size_t len);
  /** Sleep until the next interrupt (WFI / waiti); the tick wakes it at least every ms. */
  void (*idle)(void);
} iotw_mcu_board;

typedef struct {
  const iotw_mcu_board *board;
  iotw_hash_drbg drbg; /**< seed, boot = drbg.boots, blocks drawn since init */
} iotw_mcu_port_ctx;

/** Fill port (serial link kind) for board. seed: 32 bytes (see above). Reads and bumps NVS "drbg.boots".
 *  Returns 0, or -1 if NVS cannot be written. */
int iotw_mcu_port_init(iotw_port *port, iotw_mcu_port_ctx *ctx, const iotw_mcu_board *board, const uint8_t seed[32]);

/** Boot the firmware core on port and run it forever: link bytes -> iotw_fw_on_rx, iotw_fw_poll every pass,
 *  board idle in between. Returns only when iotw_fw_boot fails (-1; logged nvs_error by the core). */
int iotw_mcu_run(iotw_fw *fw, const iotw_fw_config *cfg, const iotw_port *port);

/** Parse 64 hex digits (either case; libsodium sodium_hex2bin) into 32 bytes. Returns 0, or -1 on any other input. */
int iotw_mcu_hex32(const char *hex, uint8_t out[32]);

#ifdef __cplusplus
}
#endif
#endif
