/* The one port header of the micro-mining firmware (lwIP sys_arch pattern; ARCHITECTURE.md principle 2).
 * Everything the firmware core needs from a chip comes through this table; the core never touches a clock,
 * socket, file or random source itself. ports/host implements it with libsodium and POSIX files. C11. */
#ifndef IOTW_PORT_H
#define IOTW_PORT_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

/** How link_send bytes are carried. */
typedef enum {
  IOTW_LINK_SERIAL = 0,  /**< byte stream: the core sends whole COBS frames with delimiter */
  IOTW_LINK_DATAGRAM = 1 /**< one link_send = one UDP datagram (payload || CRC-32) */
} iotw_link_kind;

/** Log levels for iotw_port.log. */
typedef enum { IOTW_LOG_DEBUG = 0, IOTW_LOG_INFO = 1, IOTW_LOG_WARN = 2, IOTW_LOG_ERROR = 3 } iotw_log_level;

typedef struct iotw_port {
  void *ctx; /**< passed back as the first argument of every call */
  iotw_link_kind link_kind;
  /** Transmit len bytes on the link to the trust node. Returns 0, or < 0 if the link refused them. */
  int (*link_send)(void *ctx, const uint8_t *bytes, size_t len);
  /** Monotonic milliseconds since an arbitrary origin (virtual in ports/sim). */
  uint64_t (*now_ms)(void *ctx);
  /** Fill out with len random bytes (a seeded generator in ports/sim). */
  void (*random_bytes)(void *ctx, uint8_t *out, size_t len);
  /** Non-volatile storage. nvs_get: 0 and *out_len on success, -1 if key absent, -2 on error or if the
   *  value exceeds cap. nvs_set: 0, or < 0 on error. Keys are short ASCII names ("id.seed"). */
  int (*nvs_get)(void *ctx, const char *key, uint8_t *out, size_t cap, size_t *out_len);
  int (*nvs_set)(void *ctx, const char *key, const uint8_t *data, size_t len);
  /** SHA-256 (FIPS 180-4). */
  void (*sha256)(void *ctx, const uint8_t *in, size_t len, uint8_t out[32]);
  /** Ed25519 (RFC 8032): derive a key pair from a 32-byte seed; sign a message (64-byte signature). */
  void (*ed25519_seed_keypair)(void *ctx, const uint8_t seed[32], uint8_t pk[32], uint8_t sk[64]);
  void (*ed25519_sign)(void *ctx, const uint8_t sk[64], const uint8_t *msg, size_t len, uint8_t sig[64]);
  /** A log line: event is a short snake_case kind ("registered"), detail free text (may be ""). */
  void (*log)(void *ctx, iotw_log_level level, const char *event, const char *detail);
  /** Ed25519 verification (RFC 8032): 0 if sig is pk's signature over msg, else non-zero. Optional (NULL =
   *  the device cannot verify trust-node checkpoints, so light verification stays off; docs/protocol.md §6; nor a
   *  WitnessRequest's miner_signature, so it attests every request invalid). */
  int (*ed25519_verify)(void *ctx, const uint8_t pk[32], const uint8_t *msg, size_t len, const uint8_t sig[64]);
  /** Trust nodes the device knows (a mesh, docs/protocol.md §6 "Several trust nodes"): 0 or 1 = one node (select_node
   *  is then never called). Index 0 is the node link_send reaches at boot. */
  uint8_t node_count;
  /** Switch the link to trust node index (0 .. node_count - 1): from now on link_send goes to that node, and only
   *  bytes from that node are fed to iotw_fw_on_rx. reason: "boot" (index 0 at every boot), "not_assigning"
   *  (Error 6), "link_timeout" (silence) or "no_answer" (Hellos unanswered), for the port's log. Optional (NULL =
   *  one node). */
  void (*select_node)(void *ctx, uint8_t index, const char *reason);
} iotw_port;

#ifdef __cplusplus
}
#endif
#endif
