/* The micro-mining firmware core: a sans-IO state machine (docs/protocol.md §6). C11, no heap; all
 * state lives in iotw_fw, which the caller allocates (sizeof(iotw_fw) is its static RAM).
 *
 *   OFF --iotw_fw_boot--> HELLO_SENT --Challenge--> PROVING --Welcome--> ATTACHED
 *   not attached: Hello resent every IOTW_FW_HELLO_RETRY_MS (a late Welcome is still accepted).
 *   ATTACHED: Heartbeat every heartbeat_interval_ms; nothing received for IOTW_FW_LINK_TIMEOUT_BEATS x heartbeat_interval_ms, or
 *   Error code 1 from the node -> HELLO_SENT with a fresh Hello (re-attach, stats.reattaches).
 *   Several trust nodes (port node_count > 1; docs/protocol.md §6 "Several trust nodes"): Error code 6 (not
 *   assigning), the silence rule above, or IOTW_FW_FAILOVER_HELLOS Hellos in a row unanswered while not attached ->
 *   failover: the next node (index + 1 mod node_count, port select_node), HELLO_SENT and a Hello there (held
 *   Attestations and Results dropped; logged failover "from=I to=J reason=R", stats.failovers). Once every node in
 *   turn was left without a Welcome in between, the Hello after an Error 6 failover waits for the Hello retry
 *   period. One node: Error 6 while attached re-attaches to the same node; otherwise it is only logged.
 *   any state --panic (faults.reset_on_garbage only)--> OFF: the firmware stops; the host resets the chip.
 *   Assignment, WitnessRequest and VrfRoundSeed are answered only when ATTACHED (else counted in stats.dropped).
 *   An Assignment whose header's miner_pubkey is not this device's key gets no Result (logged
 *   assignment_foreign, stats.assignments_foreign). A WitnessRequest whose round_id is not above the highest
 *   round_id answered since boot (RAM only: a reboot forgets it) gets no new Attestation: the same request as the
 *   last one answered (round_id and block_hash) gets that signed Attestation again, byte for byte (the node asks
 *   again when the answer was lost; logged attestation_resent, stats.attestations_resent); any other is replayed
 *   or stale and gets nothing (logged witness_stale, stats.witness_stale). A WitnessRequest whose miner_signature
 *   does not verify over RESULT(assignment_id, block_hash) under the header's miner_pubkey gets verdict invalid
 *   (logged witness_bad_miner_signature, stats.witness_bad_miner_signature). docs/protocol.md §6 steps 4 and 5.
 *   Node requests (docs/protocol.md §6 "Node requests"): with cfg.node_pubkey set and the port's ed25519_verify,
 *   an Assignment, WitnessRequest or VrfRoundSeed is acted on only if its node_signature verifies under the node
 *   key over ASSIGN / WITNESS / SEED; any other is logged request_unauthenticated, counted
 *   (stats.requests_unauthenticated) and not answered. Without the node key every request is acted on.
 *   VrfRoundSeed: ECVRF prove (crypto/, RFC 9381) over alpha = VRF(height, prev_hash) with the identity seed as
 *   sk, answered with VrfClaim (docs/vrf.md "Miner selection"). The caller's stack must allow about 11 KB
 *   on x86-64 for iotw_fw_on_rx while a seed is handled (libsodium's scalar multiplication; docs/vrf.md); the
 *   cross builds' worst case is 9.0 KB on the ESP8266 and 13.0 KB on the Cortex-M3 with its fault handlers
 *   (tools/firmware_size_report.py, docs/firmware.md "Size report and budgets").
 *
 * Light verification (docs/protocol.md §6 "Light verification"), only when cfg.node_pubkey is set and the port
 * has ed25519_verify: the device keeps the last checkpoint it verified (height, block hash; RAM and NVS
 * "lv.ckpt" = height u64 LE || hash[32]). A Checkpoint whose signature verifies under node_pubkey over
 * CHECKPOINT(height, block_hash) is adopted (any height: the latest verified one wins); a forged one is logged
 * checkpoint_rejected and ignored. A WitnessRequest for height = checkpoint height + 1 whose prev_hash is not
 * the checkpoint's hash gets verdict invalid (logged witness_unlinked). A device that is behind (no checkpoint,
 * or a WitnessRequest / Welcome / HeartbeatAck beyond checkpoint + 1 / the checkpoint) does not judge linkage;
 * it sends a CheckpointRequest (at most one per IOTW_FW_CHECKPOINT_RETRY_MS). Headers the device witnessed
 * are never adopted: only the trust node's signed checkpoints of finalized blocks move the known header.
 *
 * Log events (port->log): boot, identity_created, identity_loaded, identity_corrupt, boot_count_corrupt,
 * usage_seq_corrupt, nvs_error, hello_sent, prove_sent, registered, assignment, result_sent, witness,
 * attestation_sent, usage_sent, vrf_claim_sent, vrf_error, node_error, reattach, failover, dropped, decode_error,
 * encode_error, send_error, checkpoint_loaded, checkpoint_corrupt, checkpoint_requested, checkpoint_adopted,
 * checkpoint_rejected, witness_unlinked, witness_bad_miner_signature, request_unauthenticated, assignment_foreign, witness_stale, attestation_replayed,
 * collusion_decided (Byzantine fault flags only), panic (faults.reset_on_garbage only).
 * The secret key is never logged.
 *
 * The caller feeds received bytes (iotw_fw_on_rx) and calls iotw_fw_poll at least every 50 ms; every
 * output goes through the port (link_send, log). */
#ifndef IOTW_FIRMWARE_H
#define IOTW_FIRMWARE_H
#include <stddef.h>
#include <stdint.h>
#include "iotw/firmware_options.h"
#include "iotw/frame_codec.h"
#include "iotw/port.h"
#ifdef __cplusplus
extern "C" {
#endif

/** Reset-reason codes for iotw_fw_config.reset_reason, numbered as ESP-IDF's esp_reset_reason_t
 *  (esp_system.h: ESP_RST_POWERON = 1, ESP_RST_BROWNOUT = 9) so a trust node reads one code space.
 *  POWERON: supply came up from nothing (power-on or power restored after a loss); RAM was lost.
 *  BROWNOUT: the supply sagged below the brown-out threshold longer than the hold-up time, the
 *  brown-out detector held the chip in reset, and it rebooted when the supply recovered. NVS survives both. */
#define IOTW_RESET_POWERON 1u
#define IOTW_RESET_BROWNOUT 9u

typedef enum {
  IOTW_FW_OFF = 0,
  IOTW_FW_HELLO_SENT = 1,
  IOTW_FW_PROVING = 2,
  IOTW_FW_ATTACHED = 3
} iotw_fw_state;

/** Deliberate misbehaviour for fault injection (Byzantine devices). All zero = honest. */
typedef struct {
  uint8_t invert_verdict; /**< witness signs the opposite of what it computed */
  uint8_t wrong_hash;     /**< miner returns a block hash with its first byte flipped */
  uint8_t collude;        /**< witness signs the colluding group's agreed verdict: invalid, whatever it computed */
  uint8_t forge_vrf;      /**< VrfClaim carries a proof with one byte of s flipped (does not verify) */
  uint8_t verdict_other_hash; /**< witness signs its verdict over a different block hash (last byte flipped) */
  uint8_t inflate_usage;  /**< UsageReports carry twice the energy_mwh the caller measured (usage farming) */
  uint8_t replay_attestation; /**< witness answers its first request honestly, then replays that signed
                                   Attestation (old round_id, hash, verdict, signature) to every later request */
  uint8_t wrong_key;      /**< witness signs its Attestation with another key (an Ed25519 key derived from
                               SHA-256("IOTW/wrong_key" 00 || seed)), not the one it registered */
  uint8_t collude_all_slots; /**< colluding-group member that signs the false verdict invalid only when the
                                  group holds every witness slot of the round (cfg.collusion decides) */
  /* Certification mutants (docs/certification.md "Mutants"): plausible firmware bugs. */
  uint8_t wrong_domain;     /**< Result signed with the ATTEST message (round_id = assignment_id, verdict valid)
                                 instead of RESULT: a copy-paste of the witness path */
  uint8_t ignore_crc;       /**< frames (and datagrams) whose CRC-32 does not match are decoded anyway */
  uint8_t stale_witness;    /**< no replay check: answers replayed and stale WitnessRequests */
  uint8_t slow_miner;       /**< holds each Result until IOTW_FW_SLOW_MINER_LATE_MS after the Assignment's
                                 deadline_ms (port time; sent from iotw_fw_poll) */
  uint8_t reset_on_garbage; /**< a rejected frame (bad COBS or CRC) of >= IOTW_FW_GARBAGE_PANIC_BYTES wire bytes
                                 overruns the hex dump buffer of its log line: the firmware panics (state OFF,
                                 log "panic"); the host then resets the chip */
  uint8_t drop_heartbeats;  /**< skips every other heartbeat (the timer fires, nothing is sent) */
  uint8_t wrong_reset_reason; /**< Hello reports IOTW_RESET_POWERON for every reset but a brown-out */
  uint8_t accept_forged_checkpoint; /**< adopts Checkpoints without verifying the node's signature */
  uint8_t usage_seq_reset;  /**< usage seq kept in RAM only: restarts at 1 after every reset */
  uint8_t foreign_assignment; /**< no miner check: answers Assignments whose header names another miner */
  uint8_t cached_nonce;     /**< signs REGISTER over the first Challenge nonce since its last Hello for every
                                 later Challenge too (a Prove cached per session): re-Challenges while attached
                                 get a Prove that does not verify over their nonce */
  uint8_t accept_unsigned_request; /**< acts on Assignments, WitnessRequests and VrfRoundSeeds without checking the
                                        node's signature, although provisioned with the node key */
  uint8_t skip_miner_signature_check; /**< witness never verifies the request's miner_signature: a header whose
                                           hash matches is VALID even when the miner's signature is bad */
} iotw_fw_faults;

/** Out-of-band coordination of a colluding group (faults.collude_all_slots; docs/faults.md). The host asks
 *  the group whether it holds every witness slot of round_id. decide registers the caller as a witness of
 *  round_id on its first call for it and returns 1 (lie: every slot is the group's), 0 (answer honestly) or
 *  -1 (not decided yet: the firmware holds the Attestation and asks again from iotw_fw_poll). */
typedef struct {
  int (*decide)(void *ctx, uint64_t round_id, uint64_t now_ms);
  void *ctx;
} iotw_fw_collusion;

typedef struct {
  const char *name;       /**< label sent in Hello; truncated to 31 bytes (nanopb max_size includes NUL) */
  const char *model;      /**< "esp8266", "esp32", ...; truncated to 15 bytes */
  const char *fw_version; /**< truncated to 15 bytes */
  uint32_t reset_reason;  /**< chip reset-reason code reported in Hello */
  iotw_fw_faults faults;
  /** The trust node's Ed25519 node public key (32 bytes, provisioned; must outlive fw), or NULL: light
   *  verification off (no linkage check, no CheckpointRequest, Checkpoints dropped). */
  const uint8_t *node_pubkey;
  /** The colluding group's channel for faults.collude_all_slots (must outlive fw), or NULL: such a device
   *  then never learns that its group holds every slot and always answers honestly. */
  const iotw_fw_collusion *collusion;
} iotw_fw_config;

/** A signed Attestation as it went out, kept to send the same bytes again: the last one (a retransmission,
 *  docs/protocol.md §6 step 5) and, for faults.replay_attestation, the first one. 110 bytes of fields. */
typedef struct {
  uint8_t valid;
  uint8_t verdict;     /**< iotw_v1_Verdict */
  uint64_t round_id;
  uint8_t block_hash[32];
  uint8_t signature[64];
} iotw_fw_kept_attestation;

/** Counters since boot (RAM only). frames_rx counts decoded messages; decode_errors bad frames, bad
 *  CRCs, overflows and undecodable payloads; dropped well-formed messages not valid in the current state. */
typedef struct {
  uint32_t frames_rx, frames_tx, decode_errors, assignments, results, witness_requests, attestations,
      heartbeats, reattaches, dropped, usage_reports, vrf_seeds, vrf_claims;
  uint32_t checkpoints_requested, checkpoints_adopted, checkpoints_rejected, witness_unlinked;
  uint32_t attestations_replayed, collusion_lies; /**< Byzantine faults acted on */
  uint32_t assignments_foreign; /**< Assignments whose header's miner is not this device: no Result */
  uint32_t witness_stale;       /**< WitnessRequests with round_id <= the highest answered: no Attestation */
  uint32_t attestations_resent; /**< the last answered request asked again: its Attestation re-sent unchanged */
  uint32_t requests_unauthenticated; /**< node requests whose node_signature did not verify: not answered */
  uint32_t witness_bad_miner_signature; /**< WitnessRequests whose miner_signature did not verify: INVALID */
  uint32_t failovers; /**< moves to the next trust node (several nodes only); re-attaches to the same node are in
                           reattaches */
} iotw_fw_stats;

typedef struct {
  iotw_fw_config cfg;
  const iotw_port *port;
  iotw_fw_state state;
  uint8_t pk[32];
  uint8_t sk[64];
  uint8_t seed[32]; /**< the Ed25519 seed from NVS "id.seed"; also the ECVRF secret key (RFC 9381 sk) */
  uint32_t boot_count;
  uint64_t boot_ms, last_rx_ms, last_tx_hello_ms, last_heartbeat_ms; /**< port now_ms values */
  uint32_t heartbeat_interval_ms;
  uint64_t heartbeat_seq;
  uint64_t known_height;
  /* Light verification: the last checkpoint verified under cfg.node_pubkey (also in NVS "lv.ckpt"). */
  uint8_t ckpt_valid;
  uint64_t ckpt_height;
  uint8_t ckpt_hash[32];
  uint8_t ckpt_requested;      /**< a CheckpointRequest was sent at ckpt_request_ms */
  uint64_t ckpt_request_ms;
  /* faults.replay_attestation: the first Attestation sent (replayed to every later WitnessRequest). */
  iotw_fw_kept_attestation replay;
  /* faults.collude_all_slots: an Attestation held until cfg.collusion decides. */
  uint8_t held_valid;
  uint8_t held_verdict_ok; /**< the verdict computed honestly (1 valid) */
  uint8_t held_behind;     /**< send a CheckpointRequest after answering */
  const char *held_linkage; /**< the light-verification outcome for the log line (a static string) */
  uint64_t held_round_id;
  uint8_t held_block_hash[32];
  /* Witness replay protection: the highest round_id answered since boot (RAM only). */
  uint8_t witness_answered;
  uint64_t witness_round_max;
  /* The last Attestation sent and the request's block_hash it answered: re-sent unchanged when the same request
   * comes again (its answer was lost). */
  iotw_fw_kept_attestation last_att;
  uint8_t last_att_request_hash[32];
  /* faults.slow_miner: a Result held until slow_due_ms. */
  uint8_t slow_valid;
  uint64_t slow_due_ms;
  uint64_t slow_assignment_id;
  uint8_t slow_block_hash[32];
  uint8_t slow_signature[64];
  /* faults.cached_nonce: the first Challenge nonce since the last Hello. */
  uint8_t nonce_cached;
  uint8_t cached_nonce[32];
  uint64_t usage_seq_ram;    /**< faults.usage_seq_reset: the RAM-only usage seq */
  uint32_t heartbeat_ticks;  /**< faults.drop_heartbeats: heartbeat timer firings since attach */
  size_t rx_run;             /**< serial: wire bytes received since the last 0x00 */
  /* Several trust nodes (port node_count > 1). */
  uint8_t node_index;        /**< the trust node the link reaches now (0 at boot) */
  uint8_t hellos_unanswered; /**< Hellos sent to this node since the last valid frame from it */
  uint8_t heartbeat_now;     /**< a Welcome came: the next poll sends the first Heartbeat at once (protocol.md §6 step 3) */
  uint8_t failovers_unwelcomed; /**< failovers since the last Welcome (saturates at 255) */
  iotw_frame_decoder decoder;
  iotw_fw_stats stats;
} iotw_fw;

/** Boot: load the Ed25519 seed from NVS key "id.seed" (32 bytes) or create one with random_bytes and
 *  store it; increment NVS "boot.count" (u32 LE); send Hello. Returns 0, or -1 if NVS cannot be written
 *  (the device then stays OFF and logs "nvs_error"). Strings in cfg must outlive fw. */
int iotw_fw_boot(iotw_fw *fw, const iotw_fw_config *cfg, const iotw_port *port);

/** Bytes received from the link. Serial: any chunking; frames are reassembled. Datagram: one call per
 *  datagram. Malformed input is counted in stats.decode_errors and otherwise ignored. */
void iotw_fw_on_rx(iotw_fw *fw, const uint8_t *data, size_t len);

/** Timers: Hello retry, heartbeat, link timeout. Reads now_ms through the port. */
void iotw_fw_poll(iotw_fw *fw);

iotw_fw_state iotw_fw_get_state(const iotw_fw *fw);

/** The earliest port time (ms, the clock of port.now_ms) at which iotw_fw_poll has something to do: a Hello to
 *  resend, a Heartbeat due (0 when one is due at once, after a Welcome), the link timeout, or 0 while an Attestation
 *  (collude_all_slots) or a Result (slow_miner) is held and polls decide when it leaves. UINT64_MAX when OFF. A poll
 *  before it changes nothing, so a host may poll only then (and again after each iotw_fw_on_rx, which can move it). */
uint64_t iotw_fw_next_poll_ms(const iotw_fw *fw);

/** Usage data (docs/protocol.md message 12): energy_mwh (milliwatt-hours) delivered and on_seconds the
 *  appliance was on during the last period_s seconds. Only when ATTACHED. Takes the next sequence number
 *  from NVS "usage.seq" (u64 LE, last seq used; absent = 0) and stores it BEFORE sending, so a reset can
 *  never reuse a seq the trust node may have seen (a lost report is lost, never replayed). Signs the USAGE
 *  domain (iotw_sigmsg_usage) and sends UsageReport; stats.usage_reports counts sent reports.
 *  Returns the seq used (>= 1) when sent; 0 if not attached (nothing consumed: the caller keeps the
 *  usage and reports it later); -1 if NVS cannot be written (logged nvs_error); -2 if the link refused
 *  the frame (seq consumed, logged send_error). An unreadable usage.seq is logged usage_seq_corrupt and
 *  restarts from 0. */
int64_t iotw_fw_report_usage(iotw_fw *fw, uint64_t energy_mwh, uint32_t on_seconds, uint32_t period_s);

#ifdef __cplusplus
}
#endif
#endif
