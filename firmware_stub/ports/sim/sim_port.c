/* ports/sim implementation (see sim_port.h). */
#include "sim_port.h"

#include "sodium_crypto.h"

#include <sodium.h>
#include <string.h>

static int sim_send(void *c, const uint8_t *bytes, size_t len) {
  iotw_sim_port_ctx *ctx = c;
  return ctx->send ? ctx->send(ctx->user, bytes, len) : -1;
}

static uint64_t sim_now_ms(void *c) { return ((iotw_sim_port_ctx *)c)->now_ms; }

static void sim_random(void *c, uint8_t *out, size_t len) {
  iotw_hash_drbg_fill(&((iotw_sim_port_ctx *)c)->drbg, out, len);
}

static iotw_sim_nvs_slot *find(iotw_sim_port_ctx *ctx, const char *key) {
  for (size_t i = 0; i < IOTW_SIM_NVS_SLOTS; i++)
    if (ctx->nvs[i].key[0] && strcmp(ctx->nvs[i].key, key) == 0) return &ctx->nvs[i];
  return NULL;
}

static int sim_nvs_get(void *c, const char *key, uint8_t *out, size_t cap, size_t *out_len) {
  const iotw_sim_nvs_slot *s = find(c, key);
  if (!s) return -1;
  if (s->len > cap) return -2;
  memcpy(out, s->value, s->len);
  *out_len = s->len;
  return 0;
}

static int sim_nvs_set(void *c, const char *key, const uint8_t *data, size_t len) {
  iotw_sim_port_ctx *ctx = c;
  size_t klen = strlen(key);
  if (!klen || klen >= IOTW_SIM_NVS_KEY_MAX || len > IOTW_SIM_NVS_VALUE_MAX) return -1;
  iotw_sim_nvs_slot *s = find(ctx, key);
  for (size_t i = 0; !s && i < IOTW_SIM_NVS_SLOTS; i++)
    if (!ctx->nvs[i].key[0]) s = &ctx->nvs[i];
  if (!s) return -1;
  memcpy(s->key, key, klen + 1);
  memcpy(s->value, data, len);
  s->len = len;
  return 0;
}

static void sim_log(void *c, iotw_log_level level, const char *event, const char *detail) {
  iotw_sim_port_ctx *ctx = c;
  if (ctx->log) ctx->log(ctx->user, level, event, detail);
}

int iotw_sim_port_init(iotw_port *port, iotw_sim_port_ctx *ctx, const uint8_t seed[32]) {
  memset(port, 0, sizeof *port);
  if (sodium_init() < 0) return -1;
  iotw_hash_drbg_init(&ctx->drbg, seed, 0);
  port->ctx = ctx;
  port->link_kind = ctx->kind;
  port->link_send = sim_send;
  port->now_ms = sim_now_ms;
  port->random_bytes = sim_random;
  port->nvs_get = sim_nvs_get;
  port->nvs_set = sim_nvs_set;
  port->log = sim_log;
  iotw_port_use_sodium_crypto(port);
  return 0;
}
