/* The micro-mining firmware on the LM3S6965 (iotw_fw_lm3s6965.elf): the core (firmware.h) on the MCU port
 * (ports/mcu) and this board. docs/firmware.md "The Cortex-M3 image in QEMU" is the contract with the emulator
 * that runs it:
 *   UART0 = the link to the trust node (COBS + CRC-32 frames), UART1 = one log line per port log call;
 *   arguments from QEMU's -append through semihosting (picolibc's crt0-semihost gives them to main):
 *   name=NAME seed=HEX64 [node_pubkey=HEX64] [model=STR] [fw_version=STR];
 *   NVS = semihosting files "nvs.<key>" in QEMU's working folder (they survive a system_reset and a restart);
 *   the file "reset_reason" there, when present at boot, holds the reset reason for Hello and is then removed. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "board_lm3s6965.h"
#include "iotw/firmware.h"

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
  lm3s6965_log(line);
  exit(1);
}

int main(int argc, char **argv) {
  const iotw_mcu_board *board = lm3s6965_board_init();

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
  lm3s6965_log(line);
  if (iotw_mcu_port_init(&port, &port_ctx, board, seed) != 0) fatal("nvs not writable");
  iotw_mcu_run(&fw, &cfg, &port);
  fatal("boot failed: nvs not writable");
  return 1;
}
