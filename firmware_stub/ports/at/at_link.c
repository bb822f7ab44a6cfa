#include "at_link.h"

#include <stdio.h>
#include <string.h>

#define STEP_TIMEOUT_MS 3000u
#define JOIN_TIMEOUT_MS 20000u
#define RETRY_MS 1000u
#define PROBE_MS 300u

static const char kPrompt[] = "\r\n\n# "; /* Realtek STR_END_OF_ATCMD_RET */

static void event(iotw_at_link *l, const char *e) {
  if (l->cfg.on_event) l->cfg.on_event(l->cfg.user, e);
}

static void write_str(iotw_at_link *l, const char *s) {
  l->cfg.uart_write(l->cfg.user, (const uint8_t *)s, strlen(s));
}

static int is_esp(const iotw_at_link *l) { return l->cfg.family == IOTW_AT_ESP; }

static void go(iotw_at_link *l, iotw_at_step s) {
  l->step = s;
  l->issued = 0;
  l->data_out = 0;
}

static void wait_then(iotw_at_link *l, iotw_at_step s, uint32_t ms) {
  l->step = IOTW_AT_WAIT;
  l->after_wait = s;
  l->deadline_ms = l->now_ms + ms;
  l->issued = 1;
}

void iotw_at_link_init(iotw_at_link *l, const iotw_at_link_config *cfg, uint64_t now_ms) {
  memset(l, 0, sizeof *l);
  l->cfg = *cfg;
  l->now_ms = now_ms;
  l->con_id = -1;
  go(l, IOTW_AT_PROBE);
}

int iotw_at_link_up(const iotw_at_link *l) {
  return l->step == IOTW_AT_READY || l->step == IOTW_AT_SEND_PROMPT || l->step == IOTW_AT_SEND_DONE;
}

int iotw_at_link_send(void *link, const uint8_t *bytes, size_t len) {
  iotw_at_link *l = (iotw_at_link *)link;
  const size_t max = l->cfg.tcp ? IOTW_AT_MAX_SEND : IOTW_AT_MAX_DATAGRAM;
  if (!iotw_at_link_up(l) || len == 0 || len > max || l->tx_count == IOTW_AT_TX_QUEUE) return -1;
  unsigned slot = (l->tx_head + l->tx_count) % IOTW_AT_TX_QUEUE;
  memcpy(l->tx[slot], bytes, len);
  l->tx_len[slot] = len;
  l->tx_count++;
  return 0;
}

static size_t extract_data(iotw_at_link *l);
static void consume(iotw_at_link *l, size_t upto);

/* Writes the current step's command. */
static void issue(iotw_at_link *l) {
  char cmd[200];
  const int esp = is_esp(l);
  cmd[0] = 0;
  switch (l->step) {
    case IOTW_AT_PROBE: snprintf(cmd, sizeof cmd, esp ? "AT\r\n" : "AT\r"); break;
    case IOTW_AT_ECHO_OFF: snprintf(cmd, sizeof cmd, esp ? "ATE0\r\n" : "ATSE=0\r"); break;
    case IOTW_AT_MODE: snprintf(cmd, sizeof cmd, esp ? "AT+CWMODE=1\r\n" : "ATPW=1\r"); break;
    case IOTW_AT_MUX: snprintf(cmd, sizeof cmd, "AT+CIPMUX=0\r\n"); break;
    case IOTW_AT_JOIN:
      if (esp)
        snprintf(cmd, sizeof cmd, "AT+CWJAP=\"%s\",\"%s\"\r\n", l->cfg.ssid, l->cfg.password);
      else
        snprintf(cmd, sizeof cmd, "ATPN=%s,%s\r", l->cfg.ssid, l->cfg.password);
      break;
    case IOTW_AT_AUTORECV: snprintf(cmd, sizeof cmd, "ATPK=1\r"); break;
    case IOTW_AT_OPEN:
      if (l->cfg.tcp && esp)
        snprintf(cmd, sizeof cmd, "AT+CIPSTART=\"TCP\",\"%s\",%u\r\n", l->cfg.host, l->cfg.port);
      else if (l->cfg.tcp)
        snprintf(cmd, sizeof cmd, "ATPC=0,%s,%u\r", l->cfg.host, l->cfg.port);
      else if (esp && l->cfg.local_port)
        snprintf(cmd, sizeof cmd, "AT+CIPSTART=\"UDP\",\"%s\",%u,%u,0\r\n", l->cfg.host, l->cfg.port, l->cfg.local_port);
      else if (esp)
        snprintf(cmd, sizeof cmd, "AT+CIPSTART=\"UDP\",\"%s\",%u\r\n", l->cfg.host, l->cfg.port);
      else if (l->cfg.local_port)
        snprintf(cmd, sizeof cmd, "ATPC=1,%s,%u,%u\r", l->cfg.host, l->cfg.port, l->cfg.local_port);
      else
        snprintf(cmd, sizeof cmd, "ATPC=1,%s,%u\r", l->cfg.host, l->cfg.port);
      break;
    case IOTW_AT_SEND_PROMPT: /* ESP: the length first, the data after '>' */
      snprintf(cmd, sizeof cmd, "AT+CIPSEND=%u\r\n", (unsigned)l->tx_len[l->tx_head]);
      break;
    case IOTW_AT_SEND_DONE: /* Realtek: header and data in one go */
      snprintf(cmd, sizeof cmd, "ATPT=%u,%d:", (unsigned)l->tx_len[l->tx_head], l->con_id);
      write_str(l, cmd);
      l->cfg.uart_write(l->cfg.user, l->tx[l->tx_head], l->tx_len[l->tx_head]);
      cmd[0] = 0;
      break;
    default: break;
  }
  {
    /* a new command: stale answers to earlier ones no longer count; an unfinished last line (the start of an
     * unsolicited "CLOSED\r\n" still crossing the UART) is kept */
    size_t n = extract_data(l), keep = n;
    if (n == l->rx_len) {
      while (keep > 0 && l->rx[keep - 1] != '\n') keep--;
      consume(l, keep);
    }
  }
  if (cmd[0]) write_str(l, cmd);
  l->issued = 1;
  uint32_t t = l->step == IOTW_AT_PROBE ? PROBE_MS : (l->step == IOTW_AT_JOIN || l->step == IOTW_AT_OPEN) ? JOIN_TIMEOUT_MS : STEP_TIMEOUT_MS;
  l->deadline_ms = l->now_ms + t;
}

void iotw_at_link_poll(iotw_at_link *l, uint64_t now_ms) {
  l->now_ms = now_ms;
  if (l->step == IOTW_AT_WAIT) {
    if (now_ms >= l->deadline_ms) go(l, l->after_wait);
    else return;
  }
  if (l->step == IOTW_AT_READY) {
    if (l->tx_count) go(l, is_esp(l) ? IOTW_AT_SEND_PROMPT : IOTW_AT_SEND_DONE);
    else return;
  }
  if (!l->issued) {
    issue(l);
    return;
  }
  if (now_ms >= l->deadline_ms) {
    if (l->step == IOTW_AT_SEND_PROMPT || l->step == IOTW_AT_SEND_DONE) { /* module unresponsive: start over */
      l->tx_count = 0;
      event(l, "link_lost");
      go(l, IOTW_AT_PROBE);
    } else {
      l->issued = 0; /* the module was booting or missed it: the same command again */
    }
  }
}

/* Position of needle in the first n bytes of the buffer, or -1. */
static long find(const iotw_at_link *l, size_t n, const char *needle) {
  size_t m = strlen(needle);
  if (m > n) return -1;
  for (size_t i = 0; i + m <= n; i++)
    if (memcmp(l->rx + i, needle, m) == 0) return (long)i;
  return -1;
}

static void consume(iotw_at_link *l, size_t upto) {
  memmove(l->rx, l->rx + upto, l->rx_len - upto);
  l->rx_len -= upto;
}

/* Removes complete +IPD / [ATPR] OK datagrams and delivers them. Returns how many leading bytes are safe
 * to search for responses (up to an incomplete data header, if any). */
static size_t extract_data(iotw_at_link *l) {
  const char *tag = is_esp(l) ? "+IPD," : "[ATPR] OK,";
  for (;;) {
    long at = find(l, l->rx_len, tag);
    if (at < 0) return l->rx_len;
    size_t p = (size_t)at + strlen(tag), len = 0;
    int digits = 0;
    while (p < l->rx_len && l->rx[p] >= '0' && l->rx[p] <= '9' && digits < 6) len = len * 10 + (l->rx[p++] - '0'), digits++;
    if (!is_esp(l) && p < l->rx_len && l->rx[p] == ',') { /* ,<con_id> */
      p++;
      while (p < l->rx_len && l->rx[p] >= '0' && l->rx[p] <= '9') p++;
    }
    if (p >= l->rx_len) return (size_t)at; /* header incomplete */
    if (l->rx[p] != ':' || digits == 0) { /* not a data header after all: skip the tag */
      l->rx[at] = '_';
      continue;
    }
    p++;
    if (l->rx_len - p < len) {
      if (p + len > IOTW_AT_RX_BUF) { l->rx[at] = '_'; continue; } /* cannot ever fit: drop */
      return (size_t)at;
    }
    if (len > 0) {
      l->received++;
      l->cfg.on_datagram(l->cfg.user, l->rx + p, len);
    }
    /* cut header and data out of the buffer */
    size_t start = (size_t)at, end = p + len;
    memmove(l->rx + start, l->rx + end, l->rx_len - end);
    l->rx_len -= end - start;
  }
}

/* Looks for ok / err in the searchable part; consumes through the match. 1 ok, -1 err, 0 none. */
static int expect(iotw_at_link *l, size_t n, const char *ok, const char *err) {
  long o = ok ? find(l, n, ok) : -1, e = err ? find(l, n, err) : -1;
  if (o >= 0 && (e < 0 || o < e)) {
    consume(l, (size_t)o + strlen(ok));
    return 1;
  }
  if (e >= 0) {
    consume(l, (size_t)e + strlen(err));
    return -1;
  }
  return 0;
}

static void sent_one(iotw_at_link *l, int ok) {
  l->tx_head = (l->tx_head + 1) % IOTW_AT_TX_QUEUE;
  l->tx_count--;
  if (ok) {
    l->sent++;
  } else {
    l->send_failures++;
    event(l, "send_failed");
  }
  go(l, IOTW_AT_READY);
  l->issued = 1;
}

static void process(iotw_at_link *l) {
  const int esp = is_esp(l);
  size_t n = extract_data(l);
  /* link loss reports (ESP): the station left the AP, or the link closed */
  if (esp && iotw_at_link_up(l) && (find(l, n, "WIFI DISCONNECT\r\n") >= 0 || find(l, n, "CLOSED\r\n") >= 0)) {
    /* a TCP connection the peer closed while the station stays joined: reconnect without rejoining */
    const int rejoin = !l->cfg.tcp || find(l, n, "WIFI DISCONNECT\r\n") >= 0;
    l->rx_len = 0;
    l->tx_count = 0;
    event(l, "link_lost");
    if (!rejoin) l->reconnects++;
    wait_then(l, rejoin ? IOTW_AT_JOIN : IOTW_AT_OPEN, RETRY_MS);
    return;
  }
  /* Realtek: the TCP peer closed (auto-receive reports it): open a new connection */
  if (!esp && l->cfg.tcp && l->step != IOTW_AT_OPEN && l->step != IOTW_AT_WAIT && find(l, n, "[ATPR] ERROR:7") >= 0) {
    l->rx_len = 0;
    l->tx_count = 0;
    l->con_id = -1;
    l->reconnects++;
    event(l, "link_lost");
    wait_then(l, IOTW_AT_OPEN, RETRY_MS);
    return;
  }
  if (esp && l->issued && l->step != IOTW_AT_WAIT && l->step != IOTW_AT_READY && find(l, n, "busy p...\r\n") >= 0) {
    l->rx_len = 0; /* the module is still on something else: the same command again shortly */
    wait_then(l, l->step, 200);
    return;
  }
  int r = 0;
  char buf[48];
  switch (l->step) {
    case IOTW_AT_PROBE:
      r = esp ? expect(l, n, "OK\r\n", NULL) : expect(l, n, "[AT] OK", NULL);
      if (r > 0) {
        event(l, "module_ready");
        go(l, IOTW_AT_ECHO_OFF);
      }
      break;
    case IOTW_AT_ECHO_OFF:
      r = esp ? expect(l, n, "OK\r\n", "ERROR\r\n") : expect(l, n, "[ATSE] OK", "[ATSE] ERROR");
      if (r) go(l, IOTW_AT_MODE);
      break;
    case IOTW_AT_MODE:
      r = esp ? expect(l, n, "OK\r\n", "ERROR\r\n") : expect(l, n, "[ATPW] OK", "[ATPW] ERROR");
      if (r) go(l, esp ? IOTW_AT_MUX : IOTW_AT_JOIN);
      break;
    case IOTW_AT_MUX:
      r = expect(l, n, "OK\r\n", "ERROR\r\n");
      if (r) go(l, IOTW_AT_JOIN);
      break;
    case IOTW_AT_JOIN:
      r = esp ? expect(l, n, "WIFI GOT IP\r\n\r\nOK\r\n", "ERROR\r\n") : expect(l, n, "[ATPN] OK", "[ATPN] ERROR");
      if (r > 0) {
        event(l, "joined");
        go(l, esp ? IOTW_AT_OPEN : IOTW_AT_AUTORECV);
      } else if (r < 0) {
        l->join_failures++;
        event(l, "join_failed");
        wait_then(l, IOTW_AT_JOIN, RETRY_MS);
      }
      break;
    case IOTW_AT_AUTORECV:
      r = expect(l, n, "[ATPK] OK", "[ATPK] ERROR");
      if (r) go(l, IOTW_AT_OPEN);
      break;
    case IOTW_AT_OPEN:
      if (esp) {
        r = expect(l, n, "ALREADY CONNECTED", NULL);
        if (r == 0) r = expect(l, n, "CONNECT\r\n\r\nOK\r\n", "ERROR\r\n");
      } else {
        long at = find(l, n, "[ATPC] con_id=");
        if (at >= 0) {
          long end = -1;
          for (size_t p = (size_t)at; p + sizeof kPrompt - 1 <= n && end < 0; p++)
            if (memcmp(l->rx + p, kPrompt, sizeof kPrompt - 1) == 0) end = (long)p;
          if (end < 0) break; /* wait for the whole line */
          l->con_id = 0;
          for (size_t p = (size_t)at + 14; p < (size_t)end && l->rx[p] >= '0' && l->rx[p] <= '9'; p++)
            l->con_id = l->con_id * 10 + (l->rx[p] - '0');
          consume(l, (size_t)end + strlen(kPrompt));
          r = 1;
        } else {
          r = expect(l, n, NULL, "[ATPC] ERROR");
        }
      }
      if (r > 0) {
        event(l, "link_up");
        go(l, IOTW_AT_READY);
        l->issued = 1;
      } else if (r < 0) {
        wait_then(l, IOTW_AT_OPEN, RETRY_MS);
      }
      break;
    case IOTW_AT_SEND_PROMPT:
      if (l->data_out) { /* the data went out: wait for the verdict */
        r = expect(l, n, "SEND OK\r\n", "SEND FAIL\r\n");
        if (r == 0 && expect(l, n, NULL, "ERROR\r\n") < 0) r = -1;
        if (r) sent_one(l, r > 0);
        break;
      }
      r = expect(l, n, "OK\r\n\r\n>", "ERROR\r\n");
      if (r > 0) {
        l->cfg.uart_write(l->cfg.user, l->tx[l->tx_head], l->tx_len[l->tx_head]);
        l->data_out = 1;
        l->deadline_ms = l->now_ms + STEP_TIMEOUT_MS;
      } else if (r < 0) {
        sent_one(l, 0);
      }
      break;
    case IOTW_AT_SEND_DONE:
      snprintf(buf, sizeof buf, "[ATPT] OK,%d", l->con_id);
      r = expect(l, n, buf, "[ATPT] ERROR");
      if (r) sent_one(l, r > 0);
      break;
    default: break;
  }
  /* Keep only a tail (a marker may be split across reads) unless a data header is pending. */
  n = extract_data(l);
  if (n == l->rx_len && l->rx_len > 64) consume(l, l->rx_len - 64);
  if (l->rx_len == IOTW_AT_RX_BUF) l->rx_len = 0; /* garbage that never parses */
}

void iotw_at_link_rx(iotw_at_link *l, const uint8_t *bytes, size_t len, uint64_t now_ms) {
  l->now_ms = now_ms;
  while (len) {
    size_t room = IOTW_AT_RX_BUF - l->rx_len, k = len < room ? len : room;
    memcpy(l->rx + l->rx_len, bytes, k);
    l->rx_len += k;
    bytes += k;
    len -= k;
    process(l);
    if (l->rx_len == IOTW_AT_RX_BUF) l->rx_len = 0;
  }
}
