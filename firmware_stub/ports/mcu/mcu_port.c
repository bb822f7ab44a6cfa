/* The microcontroller port (mcu_port.h). */
#include "mcu_port.h"

#include "sodium_crypto.h"

#include <sodium/crypto_hash_sha256.h>
#include <sodium/utils.h>
#include <stdio.h>
#include <string.h>

static iotw_mcu_port_ctx *ctx_of(void *ctx) { return (iotw_mcu_port_ctx *)ctx; }

static int port_link_send(void *ctx, const uint8_t *bytes, size_t len) {
  return ctx_of(ctx)->board->link_write(bytes, len);
}

static uint64_t port_now_ms(void *ctx) { return ctx_of(ctx)->board->millis(); }

static void port_random_bytes(void *ctx, uint8_t *out, size_t len) { iotw_hash_drbg_fill(&ctx_of(ctx)->drbg, out, len); }

static int port_nvs_get(void *ctx, const char *key, uint8_t *out, size_t cap, size_t *out_len) {
  return ctx_of(ctx)->board->nvs_get(key, out, cap, out_len);
}

static int port_nvs_set(void *ctx, const char *key, const uint8_t *data, size_t len) {
  return ctx_of(ctx)->board->nvs_set(key, data, len);
}





static void port_log(void *ctx, iotw_log_level level, const char *event, const char *detail) {
  static const char *const names[] = {"debug", "info", "warn", "error"};
  char line[192];
  const char *lv = (unsigned)level < 4 ? names[level] : "info";
  snprintf(line, sizeof line, "%s %s%s%s\n", lv, event, detail && detail[0] ? " " : "", detail ? detail : "");
  size_t n = strlen(line);
  if (n > 0 && line[n - 1] != '\n') line[n - 1] = '\n';  /* truncated: still one line */
  ctx_of(ctx)->board->log_write(line);
}

int iotw_mcu_port_init(iotw_port *port, iotw_mcu_port_ctx *ctx, const iotw_mcu_board *board, const uint8_t seed[32]) {
  memset(ctx, 0, sizeof *ctx);
  ctx->board = board;
  uint8_t b[4];
  size_t n = 0;
  uint32_t boots = 0;
  if (board->nvs_get("drbg.boots", b, sizeof b, &n) == 0 && n == 4)
    boots = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
  boots++;
  for (int i = 0; i < 4; i++) b[i] = (uint8_t)(boots >> (8 * i));
  if (board->nvs_set("drbg.boots", b, sizeof b) != 0) return -1;
  iotw_hash_drbg_init(&ctx->drbg, seed, boots);
  memset(port, 0, sizeof *port);
  port->ctx = ctx;
  port->link_kind = IOTW_LINK_SERIAL;
  port->link_send = port_link_send;
  port->now_ms = port_now_ms;
  port->random_bytes = port_random_bytes;
  port->nvs_get = port_nvs_get;
  port->nvs_set = port_nvs_set;
  port->log = port_log;
  iotw_port_use_sodium_crypto(port);
  return 0;
}

int iotw_mcu_run(iotw_fw *fw, const iotw_fw_config *cfg, const iotw_port *port) {
  const iotw_mcu_board *board = ctx_of(port->ctx)->board;
  if (iotw_fw_boot(fw, cfg, port) != 0) return -1;
  for (;;) {
    uint8_t buf[64];
    size_t n = board->link_read(buf, sizeof buf);
    if (n > 0) iotw_fw_on_rx(fw, buf, n);
    iotw_fw_poll(fw);
    if (n == 0) board->idle();
  }
}

int iotw_mcu_hex32(const char *hex, uint8_t out[32]) {
  size_t n = 0;
  const char *end = NULL;
  if (!hex || strlen(hex) != 64) return -1;
  if (sodium_hex2bin(out, 32, hex, 64, NULL, &n, &end) != 0 || n != 32 || *end != '\0') return -1;
  return 0;
}
