/* The firmware on an ESP8266EX (Xtensa LX106, 80 MHz), bare metal: the micro-mining core (firmware.h) on the MCU
 * port (ports/mcu) with this chip's registers (ESP8266 Technical Reference: UART §11, the WDEV microsecond
 * counter, the RNG register) and its ROM's SPI flash routines. A link-only image: it gives the size report its
 * ESP8266 figures (docs/firmware.md "Size report"); it is not an esptool image and nothing runs it here (Debian's
 * QEMU has no ESP8266 machine).
 *   UART0 = the link to the trust node, UART1 (TX only) = the log.
 *   NVS: two 4 KiB flash sectors used alternately, each a sequence number and a table of records; a write goes
 *   to the other sector, whose higher sequence number makes it current once complete (a power cut mid-write
 *   leaves the old sector current). Identity from NVS; name "esp8266" unless NVS "cfg.name" says otherwise. */
#include <stdio.h>
#include <string.h>

#include "iotw/firmware.h"
#include "mcu_port.h"

#define REG(addr) (*(volatile uint32_t *)(addr))
#define UART0 0x60000000u
#define UART1 0x60000F00u
#define UART_FIFO 0x00u
#define UART_STATUS 0x1Cu
#define UART_RXFIFO_CNT(s) ((s)&0xFFu)
#define UART_TXFIFO_CNT(s) (((s) >> 16) & 0xFFu)
#define UART_FIFO_DEPTH 128u
#define WDEV_NOW_US 0x3FF20C00u /* free-running microseconds (the SDK's system_get_time) */
#define RNG_REG 0x3FF20E44u     /* hardware random number (the SDK's os_random) */

/* ROM routines (the ESP8266 ROM linker script eagle.rom.addr.v6.ld; addresses given at link time). */
extern int SPIRead(uint32_t addr, void *dst, uint32_t size);
extern int SPIWrite(uint32_t addr, const void *src, uint32_t size);
extern int SPIEraseSector(uint32_t sector);

#define NVS_SECTOR_A 0xFA /* flash offset 0xFA000: the sectors below the SDK's system parameter area */
#define NVS_SECTOR_B 0xFB
#define NVS_RECORDS 24
typedef struct {
  char key[20];
  uint32_t len; /* 0xFFFFFFFF = free (erased flash) */
  uint8_t value[64];
} nvs_record;
typedef struct {
  uint32_t seq; /* 0xFFFFFFFF = erased */
  nvs_record rec[NVS_RECORDS];
} nvs_table; /* 2,116 bytes, fits a 4 KiB sector */

static nvs_table table;
static uint32_t table_sector;
static uint32_t us_last, us_high;

static uint64_t board_millis(void) {
  uint32_t now = REG(WDEV_NOW_US);
  if (now < us_last) us_high++;
  us_last = now;
  return ((uint64_t)us_high << 32 | now) / 1000u;
}

static void uart_put(uint32_t base, uint8_t b) {
  while (UART_TXFIFO_CNT(REG(base + UART_STATUS)) >= UART_FIFO_DEPTH - 1u) {
  }
  REG(base + UART_FIFO) = b;
}

static size_t board_link_read(uint8_t *out, size_t cap) {
  size_t n = 0;
  while (n < cap && UART_RXFIFO_CNT(REG(UART0 + UART_STATUS)) > 0) out[n++] = (uint8_t)REG(UART0 + UART_FIFO);
  return n;
}

static int board_link_write(const uint8_t *bytes, size_t len) {
  for (size_t i = 0; i < len; i++) uart_put(UART0, bytes[i]);
  return 0;
}

static void board_log_write(const char *line) {
  for (; *line; line++) uart_put(UART1, (uint8_t)*line);
}

static void nvs_load(void) {
  static nvs_table other;
  SPIRead(NVS_SECTOR_A * 4096u, &table, sizeof table);
  SPIRead(NVS_SECTOR_B * 4096u, &other, sizeof other);
  table_sector = NVS_SECTOR_A;
  if (table.seq == 0xFFFFFFFFu || (other.seq != 0xFFFFFFFFu && other.seq > table.seq)) {
    memcpy(&table, &other, sizeof table);
    table_sector = NVS_SECTOR_B;
  }
  if (table.seq == 0xFFFFFFFFu) {
    memset(&table, 0xFF, sizeof table);
    table.seq = 0;
  }
}

static nvs_record *nvs_find(const char *key) {
  for (int i = 0; i < NVS_RECORDS; i++)
    if (table.rec[i].len != 0xFFFFFFFFu && strncmp(table.rec[i].key, key, sizeof table.rec[i].key) == 0)
      return &table.rec[i];
  return NULL;
}

static int board_nvs_get(const char *key, uint8_t *out, size_t cap, size_t *out_len) {
  const nvs_record *r = nvs_find(key);
  if (!r) return -1;
  if (r->len > sizeof r->value || r->len > cap) return -2;
  memcpy(out, r->value, r->len);
  *out_len = r->len;
  return 0;
}

static int board_nvs_set(const char *key, const uint8_t *data, size_t len) {
  if (len > sizeof table.rec[0].value || strlen(key) >= sizeof table.rec[0].key) return -1;
  nvs_record *r = nvs_find(key);
  for (int i = 0; !r && i < NVS_RECORDS; i++)
    if (table.rec[i].len == 0xFFFFFFFFu) r = &table.rec[i];
  if (!r) return -1;
  memset(r, 0, sizeof *r);
  strncpy(r->key, key, sizeof r->key - 1);
  r->len = (uint32_t)len;
  memcpy(r->value, data, len);
  table.seq++;
  uint32_t next = table_sector == NVS_SECTOR_A ? NVS_SECTOR_B : NVS_SECTOR_A;
  if (SPIEraseSector(next) != 0 || SPIWrite(next * 4096u, &table, sizeof table) != 0) return -1;
  table_sector = next;
  return 0;
}

static void board_idle(void) { __asm__ volatile("waiti 0"); }

static const iotw_mcu_board board = {
    .link_read = board_link_read,
    .link_write = board_link_write,
    .log_write = board_log_write,
    .millis = board_millis,
    .nvs_get = board_nvs_get,
    .nvs_set = board_nvs_set,
    .idle = board_idle,
};

/* The OS hooks picolibc's exit and abort call (Debian's picolibc for lx106 ships no stubs): a chip has nowhere to
 * return to, so it stops and lets the watchdog reset it. */
__attribute__((noreturn)) void _exit(int code) {
  (void)code;
  for (;;) __asm__ volatile("waiti 0");
}
int getpid(void) { return 1; }
int kill(int pid, int sig) {
  (void)pid;
  _exit(128 + sig);
}

static iotw_fw fw;
static iotw_mcu_port_ctx port_ctx;
static iotw_port port;
static char name[32] = "esp8266";
static uint8_t node_pk[32];

int main(void) {
  nvs_load();
  uint8_t seed[32];
  for (int i = 0; i < 32; i += 4) {
    uint32_t r = REG(RNG_REG);
    memcpy(seed + i, &r, 4);
  }
  size_t n = 0;
  if (board_nvs_get("cfg.name", (uint8_t *)name, sizeof name - 1, &n) == 0) name[n] = '\0';
  iotw_fw_config cfg = {.name = name, .model = "esp8266", .fw_version = "0.1.0-lx106",
                        .reset_reason = IOTW_RESET_POWERON};
  if (board_nvs_get("cfg.node_pk", node_pk, sizeof node_pk, &n) == 0 && n == 32) cfg.node_pubkey = node_pk;
  if (iotw_mcu_port_init(&port, &port_ctx, &board, seed) != 0) {
    board_log_write("error panic nvs not writable\n");
    return 1;
  }
  iotw_mcu_run(&fw, &cfg, &port);
  board_log_write("error panic boot failed: nvs not writable\n");
  return 1;
}
