/* Instruction counts of the firmware's costly operations on a Cortex-M3 (iotw_fw_icount_lm3s6965.elf; run by
 * bench/firmware_icount.sh). Under `qemu-system-arm -icount shift=0` QEMU's virtual clock advances exactly 1 ns per
 * guest instruction, and the board's core clock (50 MHz, SysTick) counts that clock: instructions = 20 x core
 * ticks, to within 20 instructions per measurement. Each operation runs through the same code as the device
 * image: libsodium's SHA-256 and Ed25519 through the MCU port, and the whole core (firmware.h) for an
 * attestation (a node-signed WitnessRequest in, a signed Attestation out: two Ed25519 verifications, the header
 * hash, one signature, the codec) and a VRF claim (a node-signed VrfRoundSeed in, an ECVRF TAI proof out).
 * Prints one line per operation on the semihosting console: `icount OP N INSTRUCTIONS_PER_OP`, then `icount done`. */
#include <sodium/crypto_hash_sha256.h>
#include <sodium/crypto_sign_ed25519.h>
#include <stdio.h>
#include <string.h>

#include "board_lm3s6965.h"
#include "iotw/block_header.h"
#include "iotw/ecvrf.h"
#include "iotw/firmware.h"
#include "iotw/frame_codec.h"
#include "iotw/message_codec.h"
#include "iotw/signing.h"

#define NS_PER_TICK (1000000000u / LM3S6965_CORE_HZ)

static iotw_fw fw;
static iotw_mcu_port_ctx port_ctx;
static iotw_port port;
static iotw_mcu_board board;
static unsigned frames_out;
static iotw_frame_decoder out_decoder;
static unsigned last_out_body;

/* The device's link: frames it sends are decoded here (the bench checks what came out). */
static int capture_write(const uint8_t *bytes, size_t len) {
  for (size_t i = 0; i < len; i++) {
    const uint8_t *payload;
    size_t n;
    if (iotw_frame_decoder_push(&out_decoder, bytes[i], &payload, &n) == IOTW_FRAME_OK) {
      iotw_v1_Envelope env;
      if (iotw_msg_decode(payload, n, &env) == 0) last_out_body = env.which_body;
      frames_out++;
    }
  }
  return 0;
}
static size_t no_read(uint8_t *out, size_t cap) {
  (void)out;
  (void)cap;
  return 0;
}
static void quiet_log(const char *line) { (void)line; }

static void deliver(const iotw_v1_Envelope *env) {
  static uint8_t payload[IOTW_FRAME_MAX_PAYLOAD], wire[IOTW_FRAME_MAX_WIRE];
  size_t n = iotw_msg_encode(env, payload, sizeof payload);
  size_t w = iotw_frame_encode(payload, n, wire, sizeof wire);
  iotw_fw_on_rx(&fw, wire, w);
}

static void report(const char *op, unsigned n, uint64_t ticks) {
  unsigned long long per_op = (unsigned long long)(ticks * NS_PER_TICK / n);
  printf("icount %s %u %llu\n", op, n, per_op);
}

int main(void) {
  board = *lm3s6965_board_init();
  board.link_write = capture_write;
  board.link_read = no_read;
  board.log_write = quiet_log;
  iotw_frame_decoder_init(&out_decoder);
  static const uint8_t seed[32] = {7};
  static uint8_t node_pk[32], node_sk[64], miner_pk[32], miner_sk[64];
  static const uint8_t node_seed[32] = {1}, miner_seed[32] = {2};
  crypto_sign_ed25519_seed_keypair(node_pk, node_sk, node_seed);
  crypto_sign_ed25519_seed_keypair(miner_pk, miner_sk, miner_seed);
  if (iotw_mcu_port_init(&port, &port_ctx, &board, seed) != 0) {
    printf("icount error nvs not writable\n");
    return 1;
  }

  /* The header a miner was assigned (the test miner's key) and its block hash. */
  iotw_block_header h = {.version = IOTW_BLOCK_VERSION, .height = 7, .timestamp_ms = 1700000000000ull, .tx_count = 3};
  memcpy(h.miner_pubkey, miner_pk, 32);
  uint8_t header[IOTW_BLOCK_HEADER_SIZE], hash[32], sig[64], msg[IOTW_SIG_MSG_MAX];
  iotw_block_header_pack(&h, header);

  enum { N_HASH = 200, N_SIGN = 10, N_VERIFY = 10, N_ATTEST = 5, N_VRF = 3 };
  /* Calibration: a loop of exactly 2 instructions per pass (SUBS, BNE), 100,000 passes: must read ~200,000. */
  uint32_t passes = 100000;
  uint64_t t0 = lm3s6965_core_ticks();
  __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(passes)::"cc");
  report("calibration_200000_instructions", 1, lm3s6965_core_ticks() - t0);

  t0 = lm3s6965_core_ticks();
  for (int i = 0; i < N_HASH; i++) port.sha256(port.ctx, header, sizeof header, hash);
  report("block_hash_sha256_120B", N_HASH, lm3s6965_core_ticks() - t0);

  size_t mlen = iotw_sigmsg_result(9, hash, msg);
  t0 = lm3s6965_core_ticks();
  for (int i = 0; i < N_SIGN; i++) port.ed25519_sign(port.ctx, miner_sk, msg, mlen, sig);
  report("ed25519_sign", N_SIGN, lm3s6965_core_ticks() - t0);

  int bad = 0;
  t0 = lm3s6965_core_ticks();
  for (int i = 0; i < N_VERIFY; i++) bad |= port.ed25519_verify(port.ctx, miner_pk, msg, mlen, sig);
  report("ed25519_verify", N_VERIFY, lm3s6965_core_ticks() - t0);

  /* Attach the core: Hello out, Challenge in, Prove out, Welcome in. */
  iotw_fw_config cfg = {.name = "icount", .model = "qemu-cortex-m3", .fw_version = "bench",
                        .reset_reason = IOTW_RESET_POWERON, .node_pubkey = node_pk};
  t0 = lm3s6965_core_ticks();
  if (iotw_fw_boot(&fw, &cfg, &port) != 0) return 1;
  report("boot_identity_and_hello", 1, lm3s6965_core_ticks() - t0);
  iotw_v1_Envelope env = iotw_v1_Envelope_init_zero;
  env.which_body = iotw_v1_Envelope_challenge_tag;
  memset(env.body.challenge.nonce, 0x5a, 32);
  t0 = lm3s6965_core_ticks();
  deliver(&env);
  report("challenge_to_prove", 1, lm3s6965_core_ticks() - t0);
  env = (iotw_v1_Envelope)iotw_v1_Envelope_init_zero;
  env.which_body = iotw_v1_Envelope_welcome_tag;
  env.body.welcome.height = 6;
  deliver(&env);
  if (iotw_fw_get_state(&fw) != IOTW_FW_ATTACHED) {
    printf("icount error not attached\n");
    return 1;
  }

  /* Attestations: node-signed WitnessRequests carrying the miner's Result signature. */
  uint8_t header_hash[32];
  crypto_hash_sha256(header_hash, header, sizeof header);
  unsigned attestations = 0;
  uint64_t ticks = 0;
  for (int i = 0; i < N_ATTEST; i++) {
    env = (iotw_v1_Envelope)iotw_v1_Envelope_init_zero;
    env.which_body = iotw_v1_Envelope_witness_request_tag;
    iotw_v1_WitnessRequest *w = &env.body.witness_request;
    w->round_id = 100u + (uint64_t)i;
    memcpy(w->header, header, sizeof header);
    memcpy(w->block_hash, header_hash, 32);
    w->deadline_ms = 2000;
    w->assignment_id = 9;
    crypto_sign_ed25519_detached(w->miner_signature, NULL, msg, iotw_sigmsg_result(9, header_hash, msg), miner_sk);
    crypto_sign_ed25519_detached(w->node_signature, NULL, msg,
                                 iotw_sigmsg_witness(w->round_id, header_hash, header_hash, 2000, 9,
                                                     w->miner_signature, msg),
                                 node_sk);
    last_out_body = 0;
    t0 = lm3s6965_core_ticks();
    deliver(&env);
    ticks += lm3s6965_core_ticks() - t0;
    attestations += last_out_body == iotw_v1_Envelope_attestation_tag;
  }
  if (attestations != N_ATTEST) {
    printf("icount error %u of %u WitnessRequests answered\n", attestations, (unsigned)N_ATTEST);
    return 1;
  }
  report("attestation_request_to_signed_answer", N_ATTEST, ticks);

  /* VRF claims: node-signed VrfRoundSeeds (suite TAI) answered with an ECVRF proof. */
  unsigned claims = 0;
  ticks = 0;
  for (int i = 0; i < N_VRF; i++) {
    env = (iotw_v1_Envelope)iotw_v1_Envelope_init_zero;
    env.which_body = iotw_v1_Envelope_vrf_round_seed_tag;
    iotw_v1_VrfRoundSeed *r = &env.body.vrf_round_seed;
    r->height = 8u + (uint64_t)i;
    memset(r->prev_hash, 0x11 * (i + 1), 32);
    r->suite = IOTW_ECVRF_TAI;
    r->claim_window_ms = 200;
    crypto_sign_ed25519_detached(r->node_signature, NULL, msg,
                                 iotw_sigmsg_seed(r->height, r->prev_hash, r->suite, 200, msg), node_sk);
    last_out_body = 0;
    t0 = lm3s6965_core_ticks();
    deliver(&env);
    ticks += lm3s6965_core_ticks() - t0;
    claims += last_out_body == iotw_v1_Envelope_vrf_claim_tag;
  }
  if (claims != N_VRF) {
    printf("icount error %u of %u VrfRoundSeeds answered\n", claims, (unsigned)N_VRF);
    return 1;
  }
  report("vrf_claim_tai_seed_to_proof", N_VRF, ticks);
  if (bad) {
    printf("icount error a signature did not verify\n");
    return 1;
  }
  printf("icount done\n");
  return 0;
}
