/* The firmware on a TI Stellaris LM3S6965 (Cortex-M3, 256 KiB flash, 64 KiB SRAM), as QEMU's lm3s6965evb machine
 * emulates it: the micro-mining core (firmware.h) on the MCU port (ports/mcu) with this board's registers
 * (LM3S6965 datasheet: UART §13 (an ARM PL011), System Control §6 (RCC), Cortex-M3 SysTick). docs/firmware.md
 * "The Cortex-M3 image in QEMU" is the contract with the emulator that runs it:
 *   UART0 = the link to the trust node (COBS + CRC-32 frames), UART1 = one log line per port log call;
 *   arguments from QEMU's -append through semihosting (picolibc's crt0-semihost gives them to main):
 *   name=NAME seed=HEX64 [node_pubkey=HEX64] [model=STR] [fw_version=STR];
 *   NVS = semihosting files "nvs.<key>" in QEMU's working folder (they survive a system_reset and a restart);
 *   the file "reset_reason" there, when present at boot, holds the reset reason for Hello and is then removed. */
#include <fcntl.h>
#include <semihost.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iotw/firmware.h"
#include "mcu_port.h"

#define REG(addr) (*(volatile uint32_t *)(addr))
/* PL011 UARTs (datasheet §13.5). */
#define UART0 0x4000C000u
#define UART1 0x4000D000u
#define UART_DR 0x000u
#define UART_FR 0x018u
#define UART_FR_RXFE (1u << 4)
#define UART_FR_TXFF (1u << 5)
#define UART_IBRD 0x024u
#define UART_FBRD 0x028u
#define UART_LCRH 0x02Cu
#define UART_LCRH_WLEN8_FEN 0x70u /* 8 data bits, FIFOs on */
#define UART_CTL 0x030u
#define UART_CTL_EN_TX_RX 0x301u  /* UARTEN | TXE | RXE */
/* System control (datasheet §6.4). */
#define SYSCTL_RCC 0x400FE060u
#define SYSCTL_RCGC1 0x400FE104u
#define RCC_SYSDIV_SHIFT 23u
#define RCC_USESYSDIV (1u << 22)
#define RCC_PWRDN (1u << 13)
#define RCC_BYPASS (1u << 11)
/* Cortex-M3 SysTick. */
#define SYST_CSR 0xE000E010u
#define SYST_RVR 0xE000E014u
#define SYST_CVR 0xE000E018u
#define SYST_CSR_ENABLE_TICKINT_CORECLK 0x7u

/* PLL 200 MHz / (SYSDIV 3 + 1) = 50 MHz core clock (QEMU's stellaris model derives it the same way). */
#define CORE_HZ 50000000u
#define BAUD 115200u

static volatile uint32_t tick_lo, tick_hi;

/* picolibc's vector table calls this weak-named handler. */
void arm_systick_isr(void) {
  if (++tick_lo == 0) tick_hi++;
}

static uint64_t board_millis(void) {
  uint32_t hi, lo;
  do {
    hi = tick_hi;
    lo = tick_lo;
  } while (hi != tick_hi);
  return (uint64_t)hi << 32 | lo;
}

static void uart_init(uint32_t base) {
  /* 50 MHz / (16 * 115200) = 27.126: IBRD 27, FBRD round(0.126 * 64) = 8. */
  REG(base + UART_CTL) = 0;
  REG(base + UART_IBRD) = CORE_HZ / (16u * BAUD);
  REG(base + UART_FBRD) = ((CORE_HZ % (16u * BAUD)) * 64u + 8u * BAUD) / (16u * BAUD);
  REG(base + UART_LCRH) = UART_LCRH_WLEN8_FEN;
  REG(base + UART_CTL) = UART_CTL_EN_TX_RX;
}

static void uart_put(uint32_t base, uint8_t b) {
  while (REG(base + UART_FR) & UART_FR_TXFF) {
  }
  REG(base + UART_DR) = b;
}

static size_t board_link_read(uint8_t *out, size_t cap) {
  size_t n = 0;
  while (n < cap && !(REG(UART0 + UART_FR) & UART_FR_RXFE)) out[n++] = (uint8_t)REG(UART0 + UART_DR);
  return n;
}

static int board_link_write(const uint8_t *bytes, size_t len) {
  for (size_t i = 0; i < len; i++) uart_put(UART0, bytes[i]);
  return 0;
}

static void board_log_write(const char *line) {
  for (; *line; line++) uart_put(UART1, (uint8_t)*line);
}

static void nvs_path(char *out, size_t cap, const char *key, const char *suffix) {
  snprintf(out, cap, "nvs.%s%s", key, suffix);
}

static int board_nvs_get(const char *key, uint8_t *out, size_t cap, size_t *out_len) {
  char path[48];
  nvs_path(path, sizeof path, key, "");
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  uint8_t extra;
  ssize_t n = read(fd, out, cap);
  ssize_t more = n >= 0 && (size_t)n == cap ? read(fd, &extra, 1) : 0;
  close(fd);
  if (n < 0 || more != 0) return -2;
  *out_len = (size_t)n;
  return 0;
}

/* Write "nvs.<key>.new", then rename it over "nvs.<key>" (semihosting SYS_RENAME: the host's rename(2)), so a
 * QEMU killed mid-write leaves the old value or the new one, never half of one. */
static int board_nvs_set(const char *key, const uint8_t *data, size_t len) {
  char path[48], tmp[48];
  nvs_path(path, sizeof path, key, "");
  nvs_path(tmp, sizeof tmp, key, ".new");
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return -1;
  ssize_t n = write(fd, data, len);
  close(fd);
  if (n < 0 || (size_t)n != len) return -1;
  return sys_semihost_rename(tmp, path) == 0 ? 0 : -1;
}

static void board_idle(void) { __asm__ volatile("wfi"); }

static const iotw_mcu_board board = {
    .link_read = board_link_read,
    .link_write = board_link_write,
    .log_write = board_log_write,
    .millis = board_millis,
    .nvs_get = board_nvs_get,
    .nvs_set = board_nvs_set,
    .idle = board_idle,
};

static uint32_t take_reset_reason(void) {
  char buf[12] = {0};
  int fd = open("reset_reason", O_RDONLY);
  if (fd < 0) return IOTW_RESET_POWERON;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  unlink("reset_reason");
  unsigned long v = n > 0 ? strtoul(buf, NULL, 10) : 0;
  return v > 0 && v < 256 ? (uint32_t)v : IOTW_RESET_POWERON;
}

static iotw_fw fw;
static iotw_mcu_port_ctx port_ctx;
static iotw_port port;

static void fatal(const char *why) {
  char line[96];
  snprintf(line, sizeof line, "error panic %s\n", why);
  board_log_write(line);
  exit(1);
}

int main(int argc, char **argv) {
  REG(SYSCTL_RCC) = (REG(SYSCTL_RCC) & ~(0xFu << RCC_SYSDIV_SHIFT | RCC_PWRDN | RCC_BYPASS)) |
                    3u << RCC_SYSDIV_SHIFT | RCC_USESYSDIV;
  REG(SYSCTL_RCGC1) |= 0x3u; /* clocks of UART0 and UART1 */
  uart_init(UART0);
  uart_init(UART1);
  REG(SYST_RVR) = CORE_HZ / 1000u - 1u;
  REG(SYST_CVR) = 0;
  REG(SYST_CSR) = SYST_CSR_ENABLE_TICKINT_CORECLK;

  static uint8_t seed[32], node_pk[32];
  iotw_fw_config cfg = {.name = NULL, .model = "qemu-cortex-m3", .fw_version = "0.1.0-m3"};
  int have_seed = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i == 1 && !strchr(a, '=')) continue; /* QEMU's semihosting command line starts with the -kernel path */
    if (strncmp(a, "name=", 5) == 0) cfg.name = a + 5;
    else if (strncmp(a, "seed=", 5) == 0) have_seed = iotw_mcu_hex32(a + 5, seed) == 0;
    else if (strncmp(a, "node_pubkey=", 12) == 0) {
      if (iotw_mcu_hex32(a + 12, node_pk) != 0) fatal("node_pubkey= needs 64 hex digits");
      cfg.node_pubkey = node_pk;
    } else if (strncmp(a, "model=", 6) == 0) cfg.model = a + 6;
    else if (strncmp(a, "fw_version=", 11) == 0) cfg.fw_version = a + 11;
    else {
      char why[64];
      snprintf(why, sizeof why, "unknown argument %.40s", a);
      fatal(why);
    }
  }
  if (!cfg.name || !cfg.name[0]) fatal("name= is required");
  if (!have_seed) fatal("seed= needs 64 hex digits");
  cfg.reset_reason = take_reset_reason();
  char line[64];
  snprintf(line, sizeof line, "info boot reset_reason=%lu\n", (unsigned long)cfg.reset_reason);
  board_log_write(line);
  if (iotw_mcu_port_init(&port, &port_ctx, &board, seed) != 0) fatal("nvs not writable");
  iotw_mcu_run(&fw, &cfg, &port);
  fatal("boot failed: nvs not writable");
  return 1;
}
