/* The TI Stellaris LM3S6965 board (Cortex-M3, 256 KiB flash, 64 KiB SRAM) as QEMU's lm3s6965evb machine emulates
 * it, for the MCU port (ports/mcu): registers from the LM3S6965 datasheet (UART §13, an ARM PL011; System Control
 * §6, RCC), the Cortex-M3 SysTick, and ARM semihosting (picolibc's libsemihost) for NVS files on the host.
 *   UART0: the link (polled), UART1: the log; 115200 8N1.
 *   NVS: the host files "nvs.<key>" in QEMU's working folder, replaced whole by write-then-rename. */
#ifndef IOTW_BOARD_LM3S6965_H
#define IOTW_BOARD_LM3S6965_H
#include <stdint.h>

#include "mcu_port.h"

/** Core clock: PLL 200 MHz / (SYSDIV 3 + 1) = 50 MHz (QEMU's stellaris model derives it from RCC the same way). */
#define LM3S6965_CORE_HZ 50000000u

/** Set the clock to 50 MHz, start SysTick at 1 kHz and both UARTs; returns the board (static, never NULL). */
const iotw_mcu_board *lm3s6965_board_init(void);
/** Write a NUL-terminated string on UART1 (waits for FIFO room). */
void lm3s6965_log(const char *line);
/** Milliseconds since lm3s6965_board_init (SysTick interrupts). */
uint64_t lm3s6965_millis(void);
/** Core clock ticks since lm3s6965_board_init (ms from the SysTick interrupts, plus SysTick's count within the ms;
 *  exact, read with interrupts masked). One tick = 20 ns of QEMU's virtual clock. */
uint64_t lm3s6965_core_ticks(void);

#endif
