/* The TI Stellaris LM3S6965 board (board_lm3s6965.h). */
#include "board_lm3s6965.h"

#include <fcntl.h>
#include <semihost.h>
#include <stdio.h>
#include <unistd.h>

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

#define BAUD 115200u

static volatile uint32_t tick_lo, tick_hi;

#define SCB_ICSR 0xE000ED04u
#define SCB_ICSR_PENDSTSET (1u << 26)

uint64_t lm3s6965_core_ticks(void) {
  __asm__ volatile("cpsid i" ::: "memory");
  uint64_t ms = (uint64_t)tick_hi << 32 | tick_lo;
  uint32_t v = REG(SYST_CVR);
  if (REG(SCB_ICSR) & SCB_ICSR_PENDSTSET) { /* wrapped since the last interrupt: that ms is not counted yet */
    v = REG(SYST_CVR);
    ms++;
  }
  __asm__ volatile("cpsie i" ::: "memory");
  const uint32_t per_ms = LM3S6965_CORE_HZ / 1000u;
  return ms * per_ms + (per_ms - 1u - v);
}

/* picolibc's vector table calls this weak-named handler. */
void arm_systick_isr(void) {
  if (++tick_lo == 0) tick_hi++;
}

uint64_t lm3s6965_millis(void) {
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
  REG(base + UART_IBRD) = LM3S6965_CORE_HZ / (16u * BAUD);
  REG(base + UART_FBRD) = ((LM3S6965_CORE_HZ % (16u * BAUD)) * 64u + 8u * BAUD) / (16u * BAUD);
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

void lm3s6965_log(const char *line) {
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
    .log_write = lm3s6965_log,
    .millis = lm3s6965_millis,
    .nvs_get = board_nvs_get,
    .nvs_set = board_nvs_set,
    .idle = board_idle,
};

const iotw_mcu_board *lm3s6965_board_init(void) {
  REG(SYSCTL_RCC) = (REG(SYSCTL_RCC) & ~(0xFu << RCC_SYSDIV_SHIFT | RCC_PWRDN | RCC_BYPASS)) |
                    3u << RCC_SYSDIV_SHIFT | RCC_USESYSDIV;
  REG(SYSCTL_RCGC1) |= 0x3u; /* clocks of UART0 and UART1 */
  uart_init(UART0);
  uart_init(UART1);
  REG(SYST_RVR) = LM3S6965_CORE_HZ / 1000u - 1u;
  REG(SYST_CVR) = 0;
  REG(SYST_CSR) = SYST_CSR_ENABLE_TICKINT_CORECLK;
  return &board;
}
