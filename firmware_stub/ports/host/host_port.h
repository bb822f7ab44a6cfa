/* ports/host: runs the firmware core on Linux. Crypto from libsodium (SHA-256 crypto_hash_sha256, Ed25519
 * crypto_sign_seed_keypair / crypto_sign_detached); randomness from the ports' seeded hash DRBG when ctx carries
 * a seed (a rig's devices: the seed derives from the rig seed and the device name), else from the OS
 * (randombytes_buf); time from CLOCK_MONOTONIC, NVS as one file per key in a directory. The link (one per trust node),
 * the trust-node choice and the log are callbacks, so the caller (the emulator) owns every socket and PTY. C11, no
 * heap. */
#ifndef IOTW_HOST_PORT_H
#define IOTW_HOST_PORT_H
#include <stddef.h>
#include <stdint.h>
#include "iotw/port.h"
#include "sodium_crypto.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  /** NVS directory (created with parents on the first write). Each key is the file <nvs_dir>/<key>,
   *  replaced atomically (temp file + fsync + rename). Keys: [A-Za-z0-9._-], not starting with '.'. */
  char nvs_dir[256];
  /** Transmit bytes on the link; returns 0, or < 0 if refused. NULL: every send fails with -1. */
  int (*send)(void *user, const uint8_t *bytes, size_t len);
  /** Log sink. NULL: lines "level event detail" go to stderr. */
  void (*log)(void *user, iotw_log_level level, const char *event, const char *detail);
  void *user; /**< passed to send, log and select_node */
  iotw_link_kind kind;
  /** Several trust nodes (docs/protocol.md §6 "Several trust nodes (mesh failover)"): the caller owns one link per
   *  node (a serial fd, a UDP peer) and send writes to the one select_node chose last (index 0 at every boot); bytes
   *  the caller reads from the other links are not fed to the core. node_count 0 or 1, or select_node NULL: one
   *  trust node (the port's node_count is then 0). reason as in iotw_port.select_node. */
  uint8_t node_count;
  void (*select_node)(void *user, uint8_t index, const char *reason);
  /** Non-zero: NVS lives in nvs_ram only and nvs_dir is never touched (the no_nvs mutant: a device whose flash
   *  writes never land). Values read back until iotw_host_port_nvs_ram_clear, which the host calls at every
   *  (re)boot. nvs_set fails (-1) for a key longer than 23 bytes, a value over 64 bytes or a ninth key. */
  int nvs_ram_only;
  struct {
    char key[24];
    uint8_t value[64];
    size_t len;
  } nvs_ram[8]; /**< nvs_ram_only: the keys set since the last clear (key[0] == 0: free) */
  /** Non-zero: random_bytes draws from drbg, started by iotw_host_port_init from seed with boot 0 (one stream per
   *  process: a reboot inside the process continues it), so the identity a blank NVS gets at first boot follows
   *  from seed. Zero: random_bytes is the OS's (randombytes_buf). */
  int seeded;
  uint8_t seed[32]; /**< seeded: the device's 32-byte seed (docs/architecture.md "Determinism") */
  iotw_hash_drbg drbg; /**< seeded: the stream's state (set by iotw_host_port_init) */
} iotw_host_port_ctx;

/** Fill port with the host implementation bound to ctx (which must outlive port). Calls sodium_init();
 *  returns 0, or -1 if libsodium cannot be initialised (port is then unusable). */
int iotw_host_port_init(iotw_port *port, iotw_host_port_ctx *ctx);

/** Forget every value in ctx->nvs_ram (RAM is lost at a reboot). No effect on nvs_dir. */
void iotw_host_port_nvs_ram_clear(iotw_host_port_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif
