/* ports/sim: runs the firmware core under a simulator, deterministically (ARCHITECTURE.md principle 1).
 * Time is a virtual clock the simulator advances (ctx->now_ms); randomness is the ports' one seeded source, the
 * hash DRBG of ports/sodium/sodium_crypto.h, from the device's 32-byte component seed (boot 0); NVS is a fixed table in ctx, so it survives iotw_fw_boot "reboots" as long as ctx lives.
 * SHA-256 and Ed25519 come from libsodium (both deterministic). Same seed + same inputs = same bytes.
 * C11, no heap. */
#ifndef IOTW_SIM_PORT_H
#define IOTW_SIM_PORT_H
#include <stddef.h>
#include <stdint.h>
#include "iotw/port.h"
#include "sodium_crypto.h"
#ifdef __cplusplus
extern "C" {
#endif

#define IOTW_SIM_NVS_SLOTS 8u      /**< keys the simulated flash holds */
#define IOTW_SIM_NVS_KEY_MAX 24u   /**< key length limit, NUL included */
#define IOTW_SIM_NVS_VALUE_MAX 64u /**< bytes per value */

typedef struct {
  char key[IOTW_SIM_NVS_KEY_MAX]; /**< "" = free slot */
  uint8_t value[IOTW_SIM_NVS_VALUE_MAX];
  size_t len;
} iotw_sim_nvs_slot;

typedef struct {
  uint64_t now_ms;   /**< virtual clock (ms); the simulator writes it, now_ms reads it */
  iotw_hash_drbg drbg; /**< the random source; set by iotw_sim_port_init from the seed */
  iotw_sim_nvs_slot nvs[IOTW_SIM_NVS_SLOTS];
  /** Transmit on the simulated link; returns 0, or < 0 if refused. NULL: every send fails with -1. */
  int (*send)(void *user, const uint8_t *bytes, size_t len);
  /** Log sink; NULL drops log lines. */
  void (*log)(void *user, iotw_log_level level, const char *event, const char *detail);
  void *user; /**< passed to send and log */
  iotw_link_kind kind;
} iotw_sim_port_ctx;

/** Fill port bound to ctx (which must outlive port). Starts the DRBG at block 0 of (seed, boot 0): seed is the
 *  device's component seed (support/seeded_random.hpp: from the rig seed and the device name); leaves now_ms, nvs and
 *  the callbacks as the caller set them (zero ctx first for a blank device). Calls sodium_init(); returns 0,
 *  or -1 if libsodium cannot be initialised. nvs_set fails (-1) when the table is full, the key is too long
 *  or the value exceeds IOTW_SIM_NVS_VALUE_MAX. */
int iotw_sim_port_init(iotw_port *port, iotw_sim_port_ctx *ctx, const uint8_t seed[32]);

#ifdef __cplusplus
}
#endif
#endif
