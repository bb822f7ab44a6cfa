/* ports/at: the firmware's datagram link through a Wi-Fi module in AT mode (issue 4, docs/emulators.md
 * "AT mode"). The appliance MCU runs the firmware core; this driver speaks the module's AT command set on a
 * UART: ESP-AT (ESP8266/ESP32) or Realtek AT v2 (RTL8710/RTL8195). It joins the access point, opens a UDP
 * link to the trust node, sends each firmware datagram (AT+CIPSEND / ATPT) and hands every received one
 * (+IPD / [ATPR] OK) back. Sans-IO: bytes from the UART and the time come in, bytes for the UART go out
 * through a callback. Plug iotw_at_link_send into the host port's send (kind IOTW_LINK_DATAGRAM) and
 * on_datagram into iotw_fw_on_rx. With cfg.tcp the link is a TCP connection instead (AT+CIPSTART="TCP" /
 * ATPC=0) carrying a byte stream: the core then uses kind IOTW_LINK_SERIAL (whole COBS frames with their
 * 0x00 delimiter, docs/protocol.md §2), on_datagram gets stream chunks (frames may be split or merged across
 * +IPD / [ATPR] chunks; the core's frame decoder reassembles them), and a closed connection (ESP `CLOSED`,
 * Realtek `[ATPR] ERROR:7`) is reopened. C11, no heap. */
#ifndef IOTW_AT_LINK_H
#define IOTW_AT_LINK_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef enum { IOTW_AT_ESP = 0, IOTW_AT_REALTEK = 1 } iotw_at_family;

#define IOTW_AT_MAX_DATAGRAM 516u /* IOTW_DATAGRAM_MAX: payload 512 + CRC-32 */
#define IOTW_AT_MAX_SEND 528u     /* one link_send: a datagram, or (tcp) a COBS frame with delimiters (<= 525) */
#define IOTW_AT_TX_QUEUE 4u
#define IOTW_AT_RX_BUF 1400u

typedef struct {
  iotw_at_family family;
  const char *ssid, *password; /**< the access point (strings must outlive the link) */
  const char *host;            /**< trust node IPv4 address */
  uint16_t port, local_port;   /**< trust node UDP (or TCP) port; local UDP port (0 = the module picks; unused with tcp) */
  int tcp;                     /**< 0: UDP link, one datagram per send; 1: TCP link, a byte stream (serial framing) */
  /** Bytes for the module's UART. Returns 0, < 0 on error. */
  int (*uart_write)(void *user, const uint8_t *bytes, size_t len);
  /** One datagram received from the trust node (tcp: the next chunk of the byte stream). */
  void (*on_datagram)(void *user, const uint8_t *bytes, size_t len);
  /** Progress: "module_ready", "joined", "join_failed", "link_up", "link_lost", "send_failed". May be NULL. */
  void (*on_event)(void *user, const char *event);
  void *user;
} iotw_at_link_config;

typedef enum {
  IOTW_AT_PROBE, IOTW_AT_ECHO_OFF, IOTW_AT_MODE, IOTW_AT_MUX, IOTW_AT_JOIN, IOTW_AT_AUTORECV, IOTW_AT_OPEN,
  IOTW_AT_READY, IOTW_AT_SEND_PROMPT, IOTW_AT_SEND_DONE, IOTW_AT_WAIT
} iotw_at_step;

typedef struct {
  iotw_at_link_config cfg;
  iotw_at_step step, after_wait;
  uint64_t deadline_ms, now_ms;
  int issued;   /**< the current step's command has been written */
  int data_out; /**< ESP send: the data followed the '>' prompt */
  int con_id;   /**< Realtek con_id of the UDP link */
  uint8_t rx[IOTW_AT_RX_BUF];
  size_t rx_len;
  uint8_t tx[IOTW_AT_TX_QUEUE][IOTW_AT_MAX_SEND];
  size_t tx_len[IOTW_AT_TX_QUEUE];
  unsigned tx_head, tx_count;
  uint32_t sent, received, send_failures, join_failures, reconnects;
} iotw_at_link;

void iotw_at_link_init(iotw_at_link *l, const iotw_at_link_config *cfg, uint64_t now_ms);
/** Bytes from the module's UART. */
void iotw_at_link_rx(iotw_at_link *l, const uint8_t *bytes, size_t len, uint64_t now_ms);
/** Timers: issues the next command, retries, timeouts. Call often (every few ms to 100 ms). */
void iotw_at_link_poll(iotw_at_link *l, uint64_t now_ms);
/** Queues one datagram, or with tcp one frame's bytes (iotw_port.link_send shape). 0, or -1 if the link is
 *  down, the queue full or the bytes more than IOTW_AT_MAX_DATAGRAM (tcp: IOTW_AT_MAX_SEND). */
int iotw_at_link_send(void *link, const uint8_t *bytes, size_t len);
/** 1 when the UDP (or TCP) link to the trust node is up. */
int iotw_at_link_up(const iotw_at_link *l);

#ifdef __cplusplus
}
#endif
#endif
