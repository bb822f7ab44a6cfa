/* The micro-mining firmware core (docs/protocol.md §6). Sans-IO: every clock read, random byte, NVS access,
 * hash, signature, transmission and log line goes through fw->port. C11, no heap. */
#include "iotw/firmware.h"

#include <stdio.h>
#include <string.h>

#include "iotw/block_header.h"
#include "iotw/ecvrf.h"
#include "iotw/message_codec.h"
#include "iotw/signing.h"

#define NVS_KEY_SEED "id.seed"
#define NVS_KEY_BOOTS "boot.count"
#define NVS_KEY_USAGE_SEQ "usage.seq"
#define NVS_KEY_CHECKPOINT "lv.ckpt" /* height u64 LE || block_hash[32] */
#define CHECKPOINT_NVS_SIZE 40u
#define SEED_SIZE 32u

/* Larger of a serial frame and a UDP datagram. */
#define TX_WIRE_MAX (IOTW_FRAME_MAX_WIRE > IOTW_DATAGRAM_MAX ? IOTW_FRAME_MAX_WIRE : IOTW_DATAGRAM_MAX)

/* Zero secret material so the optimiser cannot drop the stores. */
static void wipe(void *p, size_t n) {
  volatile uint8_t *v = (volatile uint8_t *)p;
  while (n--) *v++ = 0;
}

static uint64_t now(const iotw_fw *fw) { return fw->port->now_ms(fw->port->ctx); }

/* Milliseconds from since to t; 0 if the clock went backwards. */
static uint64_t elapsed(uint64_t t, uint64_t since) { return t >= since ? t - since : 0; }

static void log_ev(const iotw_fw *fw, iotw_log_level lvl, const char *event, const char *detail) {
  if (fw->port->log) fw->port->log(fw->port->ctx, lvl, event, detail ? detail : "");
}

static void hex(const uint8_t *in, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 0x0f];
  }
  out[2 * n] = '\0';
}

/* Copy a C string into a nanopb char[cap] field, truncating to cap - 1 characters. */
static void copy_str(char *dst, size_t cap, const char *src) {
  size_t n = src ? strlen(src) : 0;
  if (n > cap - 1) n = cap - 1;
  if (n) memcpy(dst, src, n);
  dst[n] = '\0';
}

static void sign(const iotw_fw *fw, const uint8_t *msg, size_t len, uint8_t sig[64]) {
  fw->port->ed25519_sign(fw->port->ctx, fw->sk, msg, len, sig);
}

/* Encode env, frame it for the link and transmit. Returns 0, or -1 (logged) on failure. */
static int send_env(iotw_fw *fw, const iotw_v1_Envelope *env) {
  uint8_t payload[IOTW_FRAME_MAX_PAYLOAD];
  uint8_t wire[TX_WIRE_MAX];
  size_t plen = iotw_msg_encode(env, payload, sizeof payload);
  size_t wlen = 0;
  if (plen) {
    wlen = fw->port->link_kind == IOTW_LINK_DATAGRAM ? iotw_datagram_encode(payload, plen, wire, sizeof wire)
                                                     : iotw_frame_encode(payload, plen, wire, sizeof wire);
  }
  if (!wlen) {
    log_ev(fw, IOTW_LOG_ERROR, "encode_error", iotw_msg_name(env->which_body));
    return -1;
  }
  if (fw->port->link_send(fw->port->ctx, wire, wlen) < 0) {
    log_ev(fw, IOTW_LOG_WARN, "send_error", iotw_msg_name(env->which_body));
    return -1;
  }
  fw->stats.frames_tx++;
  return 0;
}

static void send_hello(iotw_fw *fw) {
  iotw_v1_Envelope env = iotw_v1_Envelope_init_zero;
  env.which_body = iotw_v1_Envelope_hello_tag;
  iotw_v1_Hello *h = &env.body.hello;
  memcpy(h->pubkey, fw->pk, sizeof h->pubkey);
  copy_str(h->name, sizeof h->name, fw->cfg.name);
  copy_str(h->model, sizeof h->model, fw->cfg.model);
  copy_str(h->fw_version, sizeof h->fw_version, fw->cfg.fw_version);
  h->boot_count = fw->boot_count;
  h->reset_reason = fw->cfg.reset_reason;
  if (fw->cfg.faults.wrong_reset_reason && h->reset_reason != IOTW_RESET_BROWNOUT)
    h->reset_reason = IOTW_RESET_POWERON; /* a reset-reason switch that knows only brown-out */
  fw->state = IOTW_FW_HELLO_SENT;
  fw->last_tx_hello_ms = now(fw);
  fw->nonce_cached = 0; /* faults.cached_nonce: a new session caches the next nonce */
  if (fw->hellos_unanswered < 255u) fw->hellos_unanswered++;
  if (send_env(fw, &env) == 0) log_ev(fw, IOTW_LOG_INFO, "hello_sent", "");
}

/* The port knows several trust nodes (a mesh; docs/protocol.md §6 "Several trust nodes"). */
static int multi_node(const iotw_fw *fw) { return fw->port->node_count > 1u && fw->port->select_node != NULL; }

/* Move to the next trust node and send Hello there. What was in flight (a held Attestation or Result) belongs to
 * the old node's round and is dropped: a request of one node is never answered on another. Once every node was
 * tried without a Welcome, the Hello waits for the retry period (no Hello storm while no node assigns). */
static void failover(iotw_fw *fw, const char *reason) {
  const unsigned from = fw->node_index;
  fw->node_index = (uint8_t)((from + 1u) % fw->port->node_count);
  fw->stats.failovers++;
  char d[48];
  snprintf(d, sizeof d, "from=%u to=%u reason=%s", from, (unsigned)fw->node_index, reason);
  log_ev(fw, IOTW_LOG_WARN, "failover", d);
  fw->port->select_node(fw->port->ctx, fw->node_index, reason);
  fw->held_valid = 0;
  fw->slow_valid = 0;
  iotw_frame_decoder_init(&fw->decoder); /* a partial frame of the old node's */
  fw->rx_run = 0;
  fw->hellos_unanswered = 0;
  const uint64_t t = now(fw);
  fw->last_rx_ms = t;
  const int paced = fw->failovers_unwelcomed + 1u >= fw->port->node_count &&
                    elapsed(t, fw->last_tx_hello_ms) < IOTW_FW_HELLO_RETRY_MS;
  if (fw->failovers_unwelcomed < 255u) fw->failovers_unwelcomed++;
  fw->state = IOTW_FW_HELLO_SENT;
  if (!paced) send_hello(fw); /* else iotw_fw_poll sends it when the retry period is up */
}

/* Re-attach: back to HELLO_SENT with a fresh Hello. */
static void reattach(iotw_fw *fw, const char *reason) {
  fw->stats.reattaches++;
  log_ev(fw, IOTW_LOG_WARN, "reattach", reason);
  send_hello(fw);
}

/* Load the identity seed from NVS, or create and store one. Returns 0, or -1 if it cannot be stored. */
static int load_identity(iotw_fw *fw) {
  const iotw_port *p = fw->port;
  uint8_t seed[SEED_SIZE];
  size_t len = 0;
  int rc = p->nvs_get(p->ctx, NVS_KEY_SEED, seed, sizeof seed, &len);
  int loaded = rc == 0 && len == SEED_SIZE;
  if (!loaded) {
    if (rc != -1) log_ev(fw, IOTW_LOG_WARN, "identity_corrupt", "id.seed unreadable or not 32 bytes");
    p->random_bytes(p->ctx, seed, sizeof seed);
    if (p->nvs_set(p->ctx, NVS_KEY_SEED, seed, sizeof seed) < 0) {
      wipe(seed, sizeof seed);
      log_ev(fw, IOTW_LOG_ERROR, "nvs_error", "cannot store id.seed");
      return -1;
    }
  }
  p->ed25519_seed_keypair(p->ctx, seed, fw->pk, fw->sk);
  memcpy(fw->seed, seed, sizeof fw->seed);
  wipe(seed, sizeof seed);
  char detail[8 + 2 * IOTW_PUBKEY_SIZE];
  memcpy(detail, "pubkey=", 7);
  hex(fw->pk, IOTW_PUBKEY_SIZE, detail + 7);
  log_ev(fw, IOTW_LOG_INFO, loaded ? "identity_loaded" : "identity_created", detail);
  return 0;
}

/* Increment the persisted boot counter. Returns 0, or -1 if it cannot be stored. */
static int count_boot(iotw_fw *fw) {
  const iotw_port *p = fw->port;
  uint8_t buf[4];
  size_t len = 0;
  int rc = p->nvs_get(p->ctx, NVS_KEY_BOOTS, buf, sizeof buf, &len);
  uint32_t prev = 0;
  if (rc == 0 && len == sizeof buf) {
    prev = iotw_get_u32le(buf);
  } else if (rc != -1) {
    log_ev(fw, IOTW_LOG_WARN, "boot_count_corrupt", "restarting from 0");
  }
  fw->boot_count = prev + 1u;
  iotw_put_u32le(buf, fw->boot_count);
  if (p->nvs_set(p->ctx, NVS_KEY_BOOTS, buf, sizeof buf) < 0) {
    log_ev(fw, IOTW_LOG_ERROR, "nvs_error", "cannot store boot.count");
    return -1;
  }
  return 0;
}

/* Light verification is on when the device was provisioned with the node key and can verify signatures. */
static int lv_on(const iotw_fw *fw) { return fw->cfg.node_pubkey != NULL && fw->port->ed25519_verify != NULL; }

/* Load the last adopted checkpoint from NVS (absent: none; unreadable: logged, none). */
static void load_checkpoint(iotw_fw *fw) {
  const iotw_port *p = fw->port;
  uint8_t buf[CHECKPOINT_NVS_SIZE];
  size_t len = 0;
  int rc = p->nvs_get(p->ctx, NVS_KEY_CHECKPOINT, buf, sizeof buf, &len);
  if (rc == -1) return;
  if (rc != 0 || len != sizeof buf) {
    log_ev(fw, IOTW_LOG_WARN, "checkpoint_corrupt", "lv.ckpt unreadable or not 40 bytes; ignored");
    return;
  }
  fw->ckpt_valid = 1;
  fw->ckpt_height = iotw_get_u64le(buf);
  memcpy(fw->ckpt_hash, buf + 8, sizeof fw->ckpt_hash);
  char detail[32];
  snprintf(detail, sizeof detail, "height=%llu", (unsigned long long)fw->ckpt_height);
  log_ev(fw, IOTW_LOG_INFO, "checkpoint_loaded", detail);
}

/* Behind: ask the trust node for a signed checkpoint of its tip (rate-limited). */
static void request_checkpoint(iotw_fw *fw, const char *why) {
  if (!lv_on(fw)) return;
  uint64_t t = now(fw);
  if (fw->ckpt_requested && elapsed(t, fw->ckpt_request_ms) < IOTW_FW_CHECKPOINT_RETRY_MS) return;
  iotw_v1_Envelope env = iotw_v1_Envelope_init_zero;
  env.which_body = iotw_v1_Envelope_checkpoint_request_tag;
  env.body.checkpoint_request.have_height = fw->ckpt_valid ? fw->ckpt_height : 0;
  fw->ckpt_requested = 1;
  fw->ckpt_request_ms = t;
  if (send_env(fw, &env) == 0) {
    fw->stats.checkpoints_requested++;
    char detail[64];
    snprintf(detail, sizeof detail, "have_height=%llu reason=%s", (unsigned long long)env.body.checkpoint_request.have_height,
             why);
    log_ev(fw, IOTW_LOG_INFO, "checkpoint_requested", detail);
  }
}

/* The chain is at `height` (Welcome, HeartbeatAck): request a checkpoint when ours is older. */
static void chain_height_seen(iotw_fw *fw, uint64_t height) {
  if (lv_on(fw) && (!fw->ckpt_valid || height > fw->ckpt_height)) request_checkpoint(fw, "chain_advanced");
}

static void on_checkpoint(iotw_fw *fw, const iotw_v1_Checkpoint *c) {
  char detail[64];
  snprintf(detail, sizeof detail, "height=%llu", (unsigned long long)c->height);
  uint8_t msg[IOTW_SIG_MSG_MAX];
  size_t n = iotw_sigmsg_checkpoint(c->height, c->block_hash, msg);
  if (!fw->cfg.faults.accept_forged_checkpoint &&
      fw->port->ed25519_verify(fw->port->ctx, fw->cfg.node_pubkey, msg, n, c->signature) != 0) {
    fw->stats.checkpoints_rejected++;
    log_ev(fw, IOTW_LOG_WARN, "checkpoint_rejected", detail);
    return;
  }
  fw->ckpt_valid = 1;
  fw->ckpt_height = c->height;
  memcpy(fw->ckpt_hash, c->block_hash, sizeof fw->ckpt_hash);
  fw->ckpt_requested = 0; /* answered: the next need may ask at once */
  fw->stats.checkpoints_adopted++;
  uint8_t buf[CHECKPOINT_NVS_SIZE];
  iotw_put_u64le(buf, c->height);
  memcpy(buf + 8, c->block_hash, 32);
  if (fw->port->nvs_set(fw->port->ctx, NVS_KEY_CHECKPOINT, buf, sizeof buf) < 0)
    log_ev(fw, IOTW_LOG_ERROR, "nvs_error", "cannot store lv.ckpt (kept in RAM)");
  log_ev(fw, IOTW_LOG_INFO, "checkpoint_adopted", detail);
}

int iotw_fw_boot(iotw_fw *fw, const iotw_fw_config *cfg, const iotw_port *port) {
  memset(fw, 0, sizeof *fw);
  fw->cfg = *cfg;
  fw->port = port;
  fw->state = IOTW_FW_OFF;
  iotw_frame_decoder_init(&fw->decoder);
  if (load_identity(fw) < 0 || count_boot(fw) < 0) {
    wipe(fw->sk, sizeof fw->sk);
    wipe(fw->seed, sizeof fw->seed);
    return -1;
  }
  fw->boot_ms = now(fw);
  fw->last_rx_ms = fw->boot_ms;
  fw->heartbeat_interval_ms = IOTW_FW_HEARTBEAT_MS;
  if (lv_on(fw)) load_checkpoint(fw);
  if (multi_node(fw)) fw->port->select_node(fw->port->ctx, 0, "boot"); /* every boot starts at the first node */
  char detail[48];
  snprintf(detail, sizeof detail, "boot_count=%lu reset_reason=%lu", (unsigned long)fw->boot_count,
           (unsigned long)cfg->reset_reason);
  log_ev(fw, IOTW_LOG_INFO, "boot", detail);
  send_hello(fw);
  return 0;
}

static void on_challenge(iotw_fw *fw, const iotw_v1_Challenge *c) {
  uint8_t msg[IOTW_SIG_MSG_MAX];
  iotw_v1_Envelope env = iotw_v1_Envelope_init_zero;
  env.which_body = iotw_v1_Envelope_prove_tag;
  memcpy(env.body.prove.pubkey, fw->pk, sizeof fw->pk);
  const uint8_t *nonce = c->nonce;
  if (fw->cfg.faults.cached_nonce) { /* the session's first nonce, signed for every later Challenge */
    if (!fw->nonce_cached) {
      memcpy(fw->cached_nonce, c->nonce, sizeof fw->cached_nonce);
      fw->nonce_cached = 1;
    }
    nonce = fw->cached_nonce;
  }
  sign(fw, msg, iotw_sigmsg_register(nonce, fw->pk, msg), env.body.prove.signature);
  if (fw->state != IOTW_FW_ATTACHED) fw->state = IOTW_FW_PROVING; /* a re-challenge keeps us attached */
  if (send_env(fw, &env) == 0) log_ev(fw, IOTW_LOG_INFO, "prove_sent", "");
}

static void on_welcome(iotw_fw *fw, const iotw_v1_Welcome *w) {
  fw->state = IOTW_FW_ATTACHED;
  fw->failovers_unwelcomed = 0;
  fw->known_height = w->height;
  if (w->heartbeat_interval_ms) fw->heartbeat_interval_ms = w->heartbeat_interval_ms;
  fw->last_heartbeat_ms = now(fw);
  fw->heartbeat_now = 1; /* the node gives no work before our first Heartbeat after this Welcome: send it now */
  char detail[64];
  snprintf(detail, sizeof detail, "height=%llu heartbeat_ms=%lu", (unsigned long long)w->height,
           (unsigned long)fw->heartbeat_interval_ms);
  log_ev(fw, IOTW_LOG_INFO, "registered", detail);
  chain_height_seen(fw, w->height);
}

/* Send a Result (now, or late: faults.slow_miner). */
static void send_result(iotw_fw *fw, uint64_t assignment_id, const uint8_t block_hash[32], const uint8_t sig[64]) {
  iotw_v1_Envelope env = iotw_v1_Envelope_init_zero;
  env.which_body = iotw_v1_Envelope_result_tag;
  iotw_v1_Result *r = &env.body.result;
  r->assignment_id = assignment_id;
  memcpy(r->block_hash, block_hash, sizeof r->block_hash);
  memcpy(r->signature, sig, sizeof r->signature);
  char detail[40];
  snprintf(detail, sizeof detail, "assignment_id=%llu", (unsigned long long)assignment_id);
  if (send_env(fw, &env) == 0) {
    fw->stats.results++;
    log_ev(fw, IOTW_LOG_INFO, "result_sent", detail);
  }
}

/* faults.slow_miner: the held Result leaves once it is due. */
static void poll_slow_result(iotw_fw *fw, int force) {
  if (!fw->slow_valid || (!force && now(fw) < fw->slow_due_ms)) return;
  fw->slow_valid = 0;
  send_result(fw, fw->slow_assignment_id, fw->slow_block_hash, fw->slow_signature);
}

/* A node request (Assignment, WitnessRequest, VrfRoundSeed) is acted on only when node_signature verifies under the
 * provisioned node key over msg (docs/protocol.md §6 "Node requests"); a device without the node key cannot check
 * and acts on every request. Returns 1 to act on it; 0: logged request_unauthenticated, counted, not answered. */
static int node_signed(iotw_fw *fw, const char *what, uint64_t id, const uint8_t *msg, size_t len,
                       const uint8_t sig[64]) {
  if (!lv_on(fw) || fw->cfg.faults.accept_unsigned_request) return 1;
  if (fw->port->ed25519_verify(fw->port->ctx, fw->cfg.node_pubkey, msg, len, sig) == 0) return 1;
  fw->stats.requests_unauthenticated++;
  char d[64];
  snprintf(d, sizeof d, "%s id=%llu", what, (unsigned long long)id);
  log_ev(fw, IOTW_LOG_WARN, "request_unauthenticated", d);
  return 0;
}

static void on_assignment(iotw_fw *fw, const iotw_v1_Assignment *a) {
  fw->stats.assignments++;
  {
    uint8_t hh[32], msg[IOTW_SIG_MSG_MAX];
    fw->port->sha256(fw->port->ctx, a->header, sizeof a->header, hh);
    size_t n = iotw_sigmsg_assign(a->assignment_id, hh, a->deadline_ms, msg);
    if (!node_signed(fw, "assignment", a->assignment_id, msg, n, a->node_signature)) return;
  }
  char detail[40];
  snprintf(detail, sizeof detail, "assignment_id=%llu", (unsigned long long)a->assignment_id);
  /* Only the miner the header names mines it (§6 step 4); the version does not matter for this check. */
  iotw_block_header hdr;
  (void)iotw_block_header_unpack(a->header, &hdr);
  if (memcmp(hdr.miner_pubkey, fw->pk, sizeof fw->pk) != 0 && !fw->cfg.faults.foreign_assignment) {
    fw->stats.assignments_foreign++;
    char d[96], miner[17];
    hex(hdr.miner_pubkey, 8, miner);
    snprintf(d, sizeof d, "assignment_id=%llu miner=%s..", (unsigned long long)a->assignment_id, miner);
    log_ev(fw, IOTW_LOG_WARN, "assignment_foreign", d);
    return;
  }
  log_ev(fw, IOTW_LOG_INFO, "assignment", detail);

  uint8_t block_hash[32], sig[64];
  fw->port->sha256(fw->port->ctx, a->header, sizeof a->header, block_hash);
  if (fw->cfg.faults.wrong_hash) block_hash[0] ^= 0xffu;
  uint8_t msg[IOTW_SIG_MSG_MAX];
  size_t mlen = fw->cfg.faults.wrong_domain
                    ? iotw_sigmsg_attest(a->assignment_id, block_hash, (uint8_t)iotw_v1_Verdict_VERDICT_VALID, msg)
                    : iotw_sigmsg_result(a->assignment_id, block_hash, msg);
  sign(fw, msg, mlen, sig);
  if (fw->cfg.faults.slow_miner) {
    poll_slow_result(fw, 1); /* an older held Result goes out first */
    fw->slow_valid = 1;
    fw->slow_due_ms = now(fw) + a->deadline_ms + IOTW_FW_SLOW_MINER_LATE_MS;
    fw->slow_assignment_id = a->assignment_id;
    memcpy(fw->slow_block_hash, block_hash, sizeof fw->slow_block_hash);
    memcpy(fw->slow_signature, sig, sizeof fw->slow_signature);
    return;
  }
  send_result(fw, a->assignment_id, block_hash, sig);
}

/* Keeps a sent Attestation's fields, to send the same bytes again. */
static void keep_attestation(iotw_fw_kept_attestation *k, const iotw_v1_Attestation *a) {
  k->valid = 1;
  k->verdict = (uint8_t)a->verdict;
  k->round_id = a->round_id;
  memcpy(k->block_hash, a->block_hash, sizeof k->block_hash);
  memcpy(k->signature, a->signature, sizeof k->signature);
}

/* Sends a kept Attestation unchanged (nothing is signed). Returns send_env's result. */
static int send_kept_attestation(iotw_fw *fw, const iotw_fw_kept_attestation *k) {
  iotw_v1_Envelope env = iotw_v1_Envelope_init_zero;
  env.which_body = iotw_v1_Envelope_attestation_tag;
  iotw_v1_Attestation *a = &env.body.attestation;
  a->round_id = k->round_id;
  memcpy(a->block_hash, k->block_hash, sizeof a->block_hash);
  a->verdict = (iotw_v1_Verdict)k->verdict;
  memcpy(a->signature, k->signature, sizeof a->signature);
  return send_env(fw, &env);
}

/* Sign ATTEST(round_id, block_hash, verdict) and send the Attestation, applying the signing faults
 * (verdict_other_hash, wrong_key); remembered for faults.replay_attestation. */
static void send_attestation(iotw_fw *fw, uint64_t round_id, const uint8_t block_hash[32], int valid,
                             const char *linkage) {
  iotw_v1_Verdict verdict = valid ? iotw_v1_Verdict_VERDICT_VALID : iotw_v1_Verdict_VERDICT_INVALID;
  char detail[80];
  if (lv_on(fw) && linkage)
    snprintf(detail, sizeof detail, "round_id=%llu verdict=%s linkage=%s", (unsigned long long)round_id,
             valid ? "valid" : "invalid", linkage);
  else
    snprintf(detail, sizeof detail, "round_id=%llu verdict=%s", (unsigned long long)round_id,
             valid ? "valid" : "invalid");
  log_ev(fw, IOTW_LOG_INFO, "witness", detail);

  iotw_v1_Envelope env = iotw_v1_Envelope_init_zero;
  env.which_body = iotw_v1_Envelope_attestation_tag;
  iotw_v1_Attestation *a = &env.body.attestation;
  a->round_id = round_id;
  memcpy(a->block_hash, block_hash, sizeof a->block_hash);
  if (fw->cfg.faults.verdict_other_hash) a->block_hash[31] ^= 0xffu; /* a verdict about another block */
  a->verdict = verdict;
  uint8_t msg[IOTW_SIG_MSG_MAX];
  size_t mlen = iotw_sigmsg_attest(a->round_id, a->block_hash, (uint8_t)verdict, msg);
  if (fw->cfg.faults.wrong_key) {
    /* Another key: seed' = SHA-256("IOTW/wrong_key" 00 || seed); not the registered one. */
    uint8_t in[15 + SEED_SIZE], seed2[32], pk2[32], sk2[64];
    memcpy(in, "IOTW/wrong_key", 15);
    memcpy(in + 15, fw->seed, SEED_SIZE);
    fw->port->sha256(fw->port->ctx, in, sizeof in, seed2);
    fw->port->ed25519_seed_keypair(fw->port->ctx, seed2, pk2, sk2);
    fw->port->ed25519_sign(fw->port->ctx, sk2, msg, mlen, a->signature);
    wipe(in, sizeof in);
    wipe(seed2, sizeof seed2);
    wipe(sk2, sizeof sk2);
  } else {
    sign(fw, msg, mlen, a->signature);
  }
  if (send_env(fw, &env) == 0) {
    fw->stats.attestations++;
    log_ev(fw, IOTW_LOG_INFO, "attestation_sent", detail);
  }
  keep_attestation(&fw->last_att, a);
  memcpy(fw->last_att_request_hash, block_hash, sizeof fw->last_att_request_hash);
  if (fw->cfg.faults.replay_attestation && !fw->replay.valid) keep_attestation(&fw->replay, a);
}

/* faults.collude_all_slots: answer the held request; lie = the group's false verdict (invalid). */
static void send_held(iotw_fw *fw, int lie) {
  fw->held_valid = 0;
  char d[64];
  snprintf(d, sizeof d, "round_id=%llu decision=%s", (unsigned long long)fw->held_round_id, lie ? "lie" : "honest");
  log_ev(fw, lie ? IOTW_LOG_WARN : IOTW_LOG_INFO, "collusion_decided", d);
  if (lie) fw->stats.collusion_lies++;
  send_attestation(fw, fw->held_round_id, fw->held_block_hash, lie ? 0 : fw->held_verdict_ok, fw->held_linkage);
  if (fw->held_behind) request_checkpoint(fw, "witness_behind");
}

/* Ask the group (out of band) whether it holds every slot of the held round. */
static void poll_collusion(iotw_fw *fw) {
  if (!fw->held_valid) return;
  int r = fw->cfg.collusion->decide(fw->cfg.collusion->ctx, fw->held_round_id, now(fw));
  if (r >= 0) send_held(fw, r > 0);
}

static void on_witness(iotw_fw *fw, const iotw_v1_WitnessRequest *w) {
  fw->stats.witness_requests++;
  uint8_t h[IOTW_HASH_SIZE];
  fw->port->sha256(fw->port->ctx, w->header, sizeof w->header, h);
  {
    uint8_t msg[IOTW_SIG_MSG_MAX];
    size_t n = iotw_sigmsg_witness(w->round_id, h, w->block_hash, w->deadline_ms, w->assignment_id,
                                   w->miner_signature, msg);
    if (!node_signed(fw, "witness_request", w->round_id, msg, n, w->node_signature)) return;
  }
  /* Replay protection (§6 step 5): only a round_id above every one answered since boot is answered. */
  if (fw->witness_answered && w->round_id <= fw->witness_round_max && !fw->cfg.faults.stale_witness) {
    if (fw->last_att.valid && w->round_id == fw->last_att.round_id &&
        memcmp(w->block_hash, fw->last_att_request_hash, sizeof fw->last_att_request_hash) == 0) {
      /* The same request again: our Attestation was lost on the way and the node asks once more (it has no
       * other witness to ask). The same signed bytes go out; nothing new is signed. */
      char d[48];
      snprintf(d, sizeof d, "round_id=%llu", (unsigned long long)w->round_id);
      if (send_kept_attestation(fw, &fw->last_att) == 0) {
        fw->stats.attestations_resent++;
        log_ev(fw, IOTW_LOG_INFO, "attestation_resent", d);
      }
      return;
    }
    fw->stats.witness_stale++;
    char d[80];
    snprintf(d, sizeof d, "round_id=%llu highest_answered=%llu", (unsigned long long)w->round_id,
             (unsigned long long)fw->witness_round_max);
    log_ev(fw, IOTW_LOG_WARN, "witness_stale", d);
    return;
  }
  if (!fw->witness_answered || w->round_id > fw->witness_round_max) fw->witness_round_max = w->round_id;
  fw->witness_answered = 1;
  iotw_block_header hdr;
  int parsed = iotw_block_header_unpack(w->header, &hdr) == 0;
  int valid = parsed && memcmp(h, w->block_hash, sizeof h) == 0;
  /* The miner's signature (§6 step 5): RESULT(assignment_id, block_hash) under the header's miner_pubkey. */
  if (valid && !fw->cfg.faults.skip_miner_signature_check) {
    uint8_t msg[IOTW_SIG_MSG_MAX];
    size_t n = iotw_sigmsg_result(w->assignment_id, w->block_hash, msg);
    /* A port that cannot verify cannot vouch for the miner: invalid. */
    if (!fw->port->ed25519_verify ||
        fw->port->ed25519_verify(fw->port->ctx, hdr.miner_pubkey, msg, n, w->miner_signature) != 0) {
      valid = 0;
      fw->stats.witness_bad_miner_signature++;
      char d[96], miner[17];
      hex(hdr.miner_pubkey, 8, miner);
      snprintf(d, sizeof d, "round_id=%llu assignment_id=%llu miner=%s..", (unsigned long long)w->round_id,
               (unsigned long long)w->assignment_id, miner);
      log_ev(fw, IOTW_LOG_WARN, "witness_bad_miner_signature", d);
    }
  }
  /* Light verification: judge linkage only against the checkpoint directly below the header. */
  const char *linkage = "off";
  int behind = 0;
  if (lv_on(fw) && parsed) {
    if (fw->ckpt_valid && hdr.height == fw->ckpt_height + 1u) {
      if (memcmp(hdr.prev_hash, fw->ckpt_hash, sizeof fw->ckpt_hash) == 0) {
        linkage = "linked";
      } else {
        linkage = "does_not_link";
        valid = 0;
        fw->stats.witness_unlinked++;
        char d[128];
        char prev[17], known[17];
        hex(hdr.prev_hash, 8, prev);
        hex(fw->ckpt_hash, 8, known);
        snprintf(d, sizeof d, "round_id=%llu height=%llu prev_hash=%s.. checkpoint_hash=%s..",
                 (unsigned long long)w->round_id, (unsigned long long)hdr.height, prev, known);
        log_ev(fw, IOTW_LOG_WARN, "witness_unlinked", d);
      }
    } else if (!fw->ckpt_valid || hdr.height > fw->ckpt_height + 1u) {
      linkage = "behind"; /* not judged: ask for a checkpoint after answering */
      behind = 1;
    } else {
      linkage = "not_judged"; /* at or below the checkpoint height */
    }
  }
  if (fw->cfg.faults.invert_verdict) valid = !valid;
  if (fw->cfg.faults.collude) valid = 0; /* every colluder signs the same false verdict */
  if (fw->cfg.faults.replay_attestation && fw->replay.valid) {
    /* Replay: the old signed Attestation goes out instead of a fresh one (its round_id is not this round's). */
    char d[80];
    snprintf(d, sizeof d, "round_id=%llu replayed_round_id=%llu", (unsigned long long)w->round_id,
             (unsigned long long)fw->replay.round_id);
    if (send_kept_attestation(fw, &fw->replay) == 0) {
      fw->stats.attestations++;
      fw->stats.attestations_replayed++;
      log_ev(fw, IOTW_LOG_WARN, "attestation_replayed", d);
    }
    if (behind) request_checkpoint(fw, "witness_behind");
    return;
  }
  if (fw->cfg.faults.collude_all_slots && fw->cfg.collusion && fw->cfg.collusion->decide) {
    if (fw->held_valid) send_held(fw, 0); /* a newer request: the old one is answered honestly now */
    fw->held_valid = 1;
    fw->held_verdict_ok = (uint8_t)valid;
    fw->held_behind = (uint8_t)behind;
    fw->held_linkage = linkage;
    fw->held_round_id = w->round_id;
    memcpy(fw->held_block_hash, w->block_hash, sizeof fw->held_block_hash);
    poll_collusion(fw);
    return;
  }
  send_attestation(fw, w->round_id, w->block_hash, valid, linkage);
  if (behind) request_checkpoint(fw, "witness_behind");
}

/* VRF miner selection (docs/vrf.md): prove over the round's alpha with the identity seed and claim. */
static void on_vrf_seed(iotw_fw *fw, const iotw_v1_VrfRoundSeed *r) {
  fw->stats.vrf_seeds++;
  {
    uint8_t msg[IOTW_SIG_MSG_MAX];
    size_t n = iotw_sigmsg_seed(r->height, r->prev_hash, r->suite, r->claim_window_ms, msg);
    if (!node_signed(fw, "vrf_round_seed", r->height, msg, n, r->node_signature)) return;
  }
  char detail[48];
  snprintf(detail, sizeof detail, "height=%llu suite=%lu", (unsigned long long)r->height, (unsigned long)r->suite);
  if (r->suite != IOTW_ECVRF_TAI && r->suite != IOTW_ECVRF_ELL2) {
    log_ev(fw, IOTW_LOG_WARN, "vrf_error", detail);
    return;
  }
  uint8_t alpha[IOTW_VRF_ALPHA_SIZE];
  size_t alen = iotw_vrf_alpha(r->height, r->prev_hash, alpha);
  iotw_v1_Envelope env = iotw_v1_Envelope_init_zero;
  env.which_body = iotw_v1_Envelope_vrf_claim_tag;
  iotw_v1_VrfClaim *c = &env.body.vrf_claim;
  c->height = r->height;
  if (iotw_ecvrf_prove((iotw_ecvrf_suite)r->suite, c->pi, fw->seed, alpha, alen) != IOTW_ECVRF_OK) {
    log_ev(fw, IOTW_LOG_ERROR, "vrf_error", detail);
    return;
  }
  if (fw->cfg.faults.forge_vrf) c->pi[48] ^= 0x01u; /* lowest byte of s: still < q, but c != c' */
  if (send_env(fw, &env) == 0) {
    fw->stats.vrf_claims++;
    log_ev(fw, IOTW_LOG_INFO, "vrf_claim_sent", detail);
  }
}

static void on_error(iotw_fw *fw, const iotw_v1_Error *e) {
  char detail[96];
  snprintf(detail, sizeof detail, "code=%lu text=%s", (unsigned long)e->code, e->text);
  log_ev(fw, IOTW_LOG_WARN, "node_error", detail);
  if (e->code == 1u) {
    reattach(fw, "not_registered");
  } else if (e->code == 6u) { /* this node of a mesh does not assign jobs now */
    if (multi_node(fw))
      failover(fw, "not_assigning");
    else if (fw->state == IOTW_FW_ATTACHED)
      reattach(fw, "not_assigning"); /* one node: Hello again, retried until it assigns */
  }
}

/* A message that is well-formed but not acceptable in the current state. */
static void drop(iotw_fw *fw, unsigned which) {
  fw->stats.dropped++;
  log_ev(fw, IOTW_LOG_DEBUG, "dropped", iotw_msg_name(which));
}

static void on_payload(iotw_fw *fw, const uint8_t *payload, size_t len) {
  iotw_v1_Envelope env;
  if (iotw_msg_decode(payload, len, &env) < 0) {
    fw->stats.decode_errors++;
    log_ev(fw, IOTW_LOG_WARN, "decode_error", "bad_message");
    return;
  }
  fw->stats.frames_rx++;
  fw->last_rx_ms = now(fw);
  fw->hellos_unanswered = 0;
  int attached = fw->state == IOTW_FW_ATTACHED;
  switch (env.which_body) {
    case iotw_v1_Envelope_challenge_tag:
      on_challenge(fw, &env.body.challenge);
      break;
    case iotw_v1_Envelope_welcome_tag: /* also after a Hello retry overtook our Prove */
      on_welcome(fw, &env.body.welcome);
      break;
    case iotw_v1_Envelope_assignment_tag:
      if (attached) on_assignment(fw, &env.body.assignment);
      else drop(fw, env.which_body);
      break;
    case iotw_v1_Envelope_witness_request_tag:
      if (attached) on_witness(fw, &env.body.witness_request);
      else drop(fw, env.which_body);
      break;
    case iotw_v1_Envelope_vrf_round_seed_tag:
      if (attached) on_vrf_seed(fw, &env.body.vrf_round_seed);
      else drop(fw, env.which_body);
      break;
    case iotw_v1_Envelope_heartbeat_ack_tag:
      fw->known_height = env.body.heartbeat_ack.height;
      if (attached) chain_height_seen(fw, env.body.heartbeat_ack.height);
      break;
    case iotw_v1_Envelope_checkpoint_tag: /* signed: accepted in any state once booted, if provisioned */
      if (lv_on(fw)) on_checkpoint(fw, &env.body.checkpoint);
      else drop(fw, env.which_body);
      break;
    case iotw_v1_Envelope_error_tag:
      on_error(fw, &env.body.error);
      break;
    default: /* device -> node messages echoed back at us */
      drop(fw, env.which_body);
      break;
  }
}

static const char *frame_error_name(iotw_frame_status st) {
  switch (st) {
    case IOTW_FRAME_BAD_COBS: return "bad_cobs";
    case IOTW_FRAME_BAD_CRC: return "bad_crc";
    case IOTW_FRAME_OVERFLOW: return "overflow";
    default: return "bad_frame";
  }
}

/* faults.reset_on_garbage: a rejected run of wire_len bytes; a long one crashes the firmware (the hex dump of its
 * log line overruns a fixed buffer). Returns 1 when the firmware panicked (state OFF: the host resets the chip). */
static int garbage_panics(iotw_fw *fw, size_t wire_len) {
  if (!fw->cfg.faults.reset_on_garbage || wire_len < IOTW_FW_GARBAGE_PANIC_BYTES) return 0;
  char d[48];
  snprintf(d, sizeof d, "rejected_bytes=%lu", (unsigned long)wire_len);
  log_ev(fw, IOTW_LOG_ERROR, "panic", d);
  fw->state = IOTW_FW_OFF;
  return 1;
}

void iotw_fw_on_rx(iotw_fw *fw, const uint8_t *data, size_t len) {
  if (fw->state == IOTW_FW_OFF) return;
  if (fw->port->link_kind == IOTW_LINK_DATAGRAM) {
    long n = iotw_datagram_check(data, len);
    if (n == -2 && fw->cfg.faults.ignore_crc) n = (long)len - 4; /* the CRC is never compared */
    if (n < 0) {
      fw->stats.decode_errors++;
      log_ev(fw, IOTW_LOG_WARN, "decode_error", n == -2 ? "bad_crc" : "bad_length");
      if (n == -2) (void)garbage_panics(fw, len);
      return;
    }
    on_payload(fw, data, (size_t)n);
    return;
  }
  const uint8_t node = fw->node_index; /* a failover drops the rest: those bytes came from the old node */
  for (size_t i = 0; i < len && fw->state != IOTW_FW_OFF && fw->node_index == node; i++) {
    const uint8_t *payload;
    size_t plen;
    const size_t run = fw->rx_run; /* wire bytes of the frame this delimiter ends */
    fw->rx_run = data[i] ? fw->rx_run + 1u : 0u;
    iotw_frame_status st = iotw_frame_decoder_push(&fw->decoder, data[i], &payload, &plen);
    if (st == IOTW_FRAME_BAD_CRC && fw->cfg.faults.ignore_crc && plen > 4) {
      /* The CRC is never compared: the payload is the decoded bytes in front of the 4 CRC bytes. */
      on_payload(fw, payload, plen - 4u);
      continue;
    }
    if (st == IOTW_FRAME_OK) {
      on_payload(fw, payload, plen);
    } else if (st != IOTW_FRAME_NONE && st != IOTW_FRAME_EMPTY) { /* empty frames are legal padding */
      fw->stats.decode_errors++;
      log_ev(fw, IOTW_LOG_WARN, "decode_error", frame_error_name(st));
      if (st != IOTW_FRAME_OVERFLOW && garbage_panics(fw, run)) return;
    }
  }
}

void iotw_fw_poll(iotw_fw *fw) {
  if (fw->state == IOTW_FW_OFF) return;
  uint64_t t = now(fw);
  if (fw->state != IOTW_FW_ATTACHED) {
    if (elapsed(t, fw->last_tx_hello_ms) < IOTW_FW_HELLO_RETRY_MS) return;
    if (multi_node(fw) && fw->hellos_unanswered >= IOTW_FW_FAILOVER_HELLOS)
      failover(fw, "no_answer");
    else
      send_hello(fw);
    return;
  }
  poll_collusion(fw);
  poll_slow_result(fw, 0);
  if (elapsed(t, fw->last_rx_ms) >= (uint64_t)IOTW_FW_LINK_TIMEOUT_BEATS * fw->heartbeat_interval_ms) {
    if (multi_node(fw))
      failover(fw, "link_timeout"); /* several nodes: the next one, not the silent one again */
    else
      reattach(fw, "link_timeout");
    return;
  }
  if (fw->heartbeat_now || elapsed(t, fw->last_heartbeat_ms) >= fw->heartbeat_interval_ms) {
    fw->heartbeat_now = 0;
    if (fw->cfg.faults.drop_heartbeats && (fw->heartbeat_ticks++ & 1u)) { /* every other one never leaves */
      fw->last_heartbeat_ms = t;
      return;
    }
    iotw_v1_Envelope env = iotw_v1_Envelope_init_zero;
    env.which_body = iotw_v1_Envelope_heartbeat_tag;
    env.body.heartbeat.seq = ++fw->heartbeat_seq;
    env.body.heartbeat.uptime_ms = elapsed(t, fw->boot_ms);
    fw->last_heartbeat_ms = t;
    if (send_env(fw, &env) == 0) fw->stats.heartbeats++;
  }
}

iotw_fw_state iotw_fw_get_state(const iotw_fw *fw) { return fw->state; }

uint64_t iotw_fw_next_poll_ms(const iotw_fw *fw) {
  if (fw->state == IOTW_FW_OFF) return UINT64_MAX;
  if (fw->state != IOTW_FW_ATTACHED) return fw->last_tx_hello_ms + IOTW_FW_HELLO_RETRY_MS;
  if (fw->held_valid || fw->slow_valid || fw->heartbeat_now) return 0;
  const uint64_t timeout = fw->last_rx_ms + (uint64_t)IOTW_FW_LINK_TIMEOUT_BEATS * fw->heartbeat_interval_ms;
  const uint64_t beat = fw->last_heartbeat_ms + fw->heartbeat_interval_ms;
  return timeout < beat ? timeout : beat;
}

int64_t iotw_fw_report_usage(iotw_fw *fw, uint64_t energy_mwh, uint32_t on_seconds, uint32_t period_s) {
  if (fw->state != IOTW_FW_ATTACHED) return 0;
  const iotw_port *p = fw->port;
  uint64_t seq = 0;
  if (fw->cfg.faults.usage_seq_reset) { /* the counter never reaches NVS: 1 again after every reset */
    seq = ++fw->usage_seq_ram;
  } else {
    uint8_t buf[8];
    size_t len = 0;
    int rc = p->nvs_get(p->ctx, NVS_KEY_USAGE_SEQ, buf, sizeof buf, &len);
    if (rc == 0 && len == sizeof buf) {
      seq = iotw_get_u64le(buf);
    } else if (rc != -1) {
      log_ev(fw, IOTW_LOG_WARN, "usage_seq_corrupt", "restarting from 0");
    }
    seq++;
    iotw_put_u64le(buf, seq);
    if (p->nvs_set(p->ctx, NVS_KEY_USAGE_SEQ, buf, sizeof buf) < 0) {
      log_ev(fw, IOTW_LOG_ERROR, "nvs_error", "cannot store usage.seq");
      return -1;
    }
  }
  iotw_v1_Envelope env = iotw_v1_Envelope_init_zero;
  env.which_body = iotw_v1_Envelope_usage_report_tag;
  iotw_v1_UsageReport *u = &env.body.usage_report;
  u->seq = seq;
  if (fw->cfg.faults.inflate_usage) energy_mwh *= 2u; /* more than the meter measured: rewards never earned */
  u->energy_mwh = energy_mwh;
  u->on_seconds = on_seconds;
  u->period_s = period_s;
  uint8_t msg[IOTW_SIG_MSG_MAX];
  sign(fw, msg, iotw_sigmsg_usage(seq, energy_mwh, on_seconds, period_s, msg), u->signature);
  if (send_env(fw, &env) < 0) return -2;
  fw->stats.usage_reports++;
  char detail[96];
  snprintf(detail, sizeof detail, "seq=%llu energy_mwh=%llu on_seconds=%lu period_s=%lu", (unsigned long long)seq,
           (unsigned long long)energy_mwh, (unsigned long)on_seconds, (unsigned long)period_s);
  log_ev(fw, IOTW_LOG_INFO, "usage_sent", detail);
  return (int64_t)seq;
}
