/* ports/host implementation (see host_port.h). */
#define _POSIX_C_SOURCE 200809L
#include "host_port.h"

#include "sodium_crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int host_send(void *c, const uint8_t *bytes, size_t len) {
  iotw_host_port_ctx *ctx = c;
  return ctx->send ? ctx->send(ctx->user, bytes, len) : -1;
}

static uint64_t host_now_ms(void *c) {
  (void)c;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void host_random(void *c, uint8_t *out, size_t len) {
  iotw_host_port_ctx *ctx = c;
  if (ctx->seeded)
    iotw_hash_drbg_fill(&ctx->drbg, out, len);
  else
    randombytes_buf(out, len);
}

static int key_ok(const char *key) {
  if (!key || !*key || *key == '.' || strlen(key) > 64) return 0;
  for (const char *k = key; *k; k++) {
    char ch = *k;
    int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
             ch == '_' || ch == '-';
    if (!ok) return 0;
  }
  return 1;
}

/* "<nvs_dir>/<prefix><key>" into out. Returns 0, or -1 on a bad key, no directory or truncation. */
static int key_path(const iotw_host_port_ctx *ctx, const char *prefix, const char *key, char *out, size_t cap) {
  if (!ctx->nvs_dir[0] || !key_ok(key)) return -1;
  int n = snprintf(out, cap, "%s/%s%s", ctx->nvs_dir, prefix, key);
  return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* mkdir -p */
static int make_dirs(const char *dir) {
  char path[sizeof(((iotw_host_port_ctx *)0)->nvs_dir)];
  size_t n = strlen(dir);
  if (n >= sizeof path) return -1;
  memcpy(path, dir, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (path[i] != '/' && path[i] != '\0') continue;
    char saved = path[i];
    path[i] = '\0';
    if (mkdir(path, 0700) < 0 && errno != EEXIST) return -1;
    path[i] = saved;
  }
  return 0;
}

/* nvs_ram_only: the index of the slot holding key, or -1. */
static int ram_slot(iotw_host_port_ctx *ctx, const char *key) {
  for (int i = 0; i < (int)(sizeof ctx->nvs_ram / sizeof ctx->nvs_ram[0]); i++)
    if (ctx->nvs_ram[i].key[0] && strcmp(ctx->nvs_ram[i].key, key) == 0) return i;
  return -1;
}

static int ram_get(iotw_host_port_ctx *ctx, const char *key, uint8_t *out, size_t cap, size_t *out_len) {
  int i = ram_slot(ctx, key);
  if (i < 0) return -1;
  if (ctx->nvs_ram[i].len > cap) return -2;
  memcpy(out, ctx->nvs_ram[i].value, ctx->nvs_ram[i].len);
  *out_len = ctx->nvs_ram[i].len;
  return 0;
}

static int ram_set(iotw_host_port_ctx *ctx, const char *key, const uint8_t *data, size_t len) {
  if (!key_ok(key) || strlen(key) >= sizeof ctx->nvs_ram[0].key || len > sizeof ctx->nvs_ram[0].value) return -1;
  int i = ram_slot(ctx, key);
  for (int j = 0; i < 0 && j < (int)(sizeof ctx->nvs_ram / sizeof ctx->nvs_ram[0]); j++)
    if (!ctx->nvs_ram[j].key[0]) i = j;
  if (i < 0) return -1;
  memcpy(ctx->nvs_ram[i].key, key, strlen(key) + 1);
  memcpy(ctx->nvs_ram[i].value, data, len);
  ctx->nvs_ram[i].len = len;
  return 0;
}

void iotw_host_port_nvs_ram_clear(iotw_host_port_ctx *ctx) { memset(ctx->nvs_ram, 0, sizeof ctx->nvs_ram); }

static int host_nvs_get(void *c, const char *key, uint8_t *out, size_t cap, size_t *out_len) {
  iotw_host_port_ctx *ctx = c;
  if (ctx->nvs_ram_only) return ram_get(ctx, key, out, cap, out_len);
  char path[512];
  if (key_path(c, "", key, path, sizeof path) < 0) return -2;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? -1 : -2;
  struct stat st;
  int rc = -2;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size <= cap) {
    size_t got = 0;
    ssize_t r = 1;
    while (got < (size_t)st.st_size && (r = read(fd, out + got, (size_t)st.st_size - got)) > 0) got += (size_t)r;
    if (got == (size_t)st.st_size) {
      *out_len = got;
      rc = 0;
    }
  }
  close(fd);
  return rc;
}

static int host_nvs_set(void *c, const char *key, const uint8_t *data, size_t len) {
  iotw_host_port_ctx *ctx = c;
  if (ctx->nvs_ram_only) return ram_set(ctx, key, data, len);
  char path[512], tmp[512];
  if (key_path(ctx, "", key, path, sizeof path) < 0 || key_path(ctx, ".tmp.", key, tmp, sizeof tmp) < 0) return -1;
  if (make_dirs(ctx->nvs_dir) < 0) return -1;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  size_t put = 0;
  ssize_t w = 1;
  while (put < len && (w = write(fd, data + put, len - put)) > 0) put += (size_t)w;
  int ok = put == len && fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp, path) < 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

static void host_select_node(void *c, uint8_t index, const char *reason) {
  iotw_host_port_ctx *ctx = c;
  ctx->select_node(ctx->user, index, reason);
}

static void host_log(void *c, iotw_log_level level, const char *event, const char *detail) {
  iotw_host_port_ctx *ctx = c;
  static const char *const names[] = {"debug", "info", "warn", "error"};
  if (ctx->log) {
    ctx->log(ctx->user, level, event, detail);
  } else {
    fprintf(stderr, "%s %s %s\n", (unsigned)level < 4u ? names[level] : "?", event, detail);
  }
}

int iotw_host_port_init(iotw_port *port, iotw_host_port_ctx *ctx) {
  memset(port, 0, sizeof *port);
  if (sodium_init() < 0) return -1;
  if (ctx->seeded) iotw_hash_drbg_init(&ctx->drbg, ctx->seed, 0);
  port->ctx = ctx;
  port->link_kind = ctx->kind;
  port->link_send = host_send;
  port->now_ms = host_now_ms;
  port->random_bytes = host_random;
  port->nvs_get = host_nvs_get;
  port->nvs_set = host_nvs_set;
  port->log = host_log;
  if (ctx->node_count > 1u && ctx->select_node) { /* else one trust node: port node_count 0, no select_node */
    port->node_count = ctx->node_count;
    port->select_node = host_select_node;
  }
  iotw_port_use_sodium_crypto(port);
  return 0;
}
