/* Integer helpers the compiler calls on the ESP8266 (no divide instruction, no 32x32->64 multiply), which Debian's
 * libgcc for lx106 leaves out because the ESP8266 ROM has them (eagle.rom.addr.v6.ld). The ROM copies are out of
 * reach of picolibc's CALL0 instructions (built without -mlongcalls; ROM at 0x4000xxxx, code in flash at
 * 0x402xxxxx, CALL0 reaches 512 KiB), so the image carries these: shift-and-subtract division, and 64-bit
 * products from 16-bit halves (the core's MULL gives the low 32 bits of a 32x32 product). */
#include <stdint.h>

uint64_t __udivmoddi4(uint64_t n, uint64_t d, uint64_t *rem); /* libgcc */

static uint32_t udivmod32(uint32_t n, uint32_t d, uint32_t *rem) {
  uint32_t q = 0, r = 0;
  for (int i = 31; i >= 0; i--) {
    r = r << 1 | (n >> i & 1u);
    if (r >= d) {
      r -= d;
      q |= 1u << i;
    }
  }
  *rem = r;
  return q;
}

uint32_t __udivsi3(uint32_t n, uint32_t d) {
  uint32_t r;
  return udivmod32(n, d, &r);
}

uint32_t __umodsi3(uint32_t n, uint32_t d) {
  uint32_t r;
  udivmod32(n, d, &r);
  return r;
}

int32_t __divsi3(int32_t n, int32_t d) {
  uint32_t r, un = n < 0 ? 0u - (uint32_t)n : (uint32_t)n, ud = d < 0 ? 0u - (uint32_t)d : (uint32_t)d;
  uint32_t q = udivmod32(un, ud, &r);
  return (int32_t)((n < 0) != (d < 0) ? 0u - q : q);
}

uint64_t __udivdi3(uint64_t n, uint64_t d) { return __udivmoddi4(n, d, 0); }

uint64_t __umoddi3(uint64_t n, uint64_t d) {
  uint64_t r;
  __udivmoddi4(n, d, &r);
  return r;
}

int64_t __divdi3(int64_t n, int64_t d) {
  uint64_t un = n < 0 ? 0u - (uint64_t)n : (uint64_t)n, ud = d < 0 ? 0u - (uint64_t)d : (uint64_t)d;
  uint64_t q = __udivmoddi4(un, ud, 0);
  return (int64_t)((n < 0) != (d < 0) ? 0u - q : q);
}

/* 32x32 -> 64 from four 16x16 -> 32 products. */
static uint64_t mul32x32(uint32_t a, uint32_t b) {
  uint32_t al = a & 0xFFFFu, ah = a >> 16, bl = b & 0xFFFFu, bh = b >> 16;
  uint32_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
  uint32_t mid = (ll >> 16) + (lh & 0xFFFFu) + (hl & 0xFFFFu);
  uint32_t lo = (ll & 0xFFFFu) | mid << 16;
  uint32_t hi = hh + (lh >> 16) + (hl >> 16) + (mid >> 16);
  return (uint64_t)hi << 32 | lo;
}

uint64_t __umulsidi3(uint32_t a, uint32_t b) { return mul32x32(a, b); }

uint64_t __muldi3(uint64_t a, uint64_t b) {
  uint32_t al = (uint32_t)a, ah = (uint32_t)(a >> 32), bl = (uint32_t)b, bh = (uint32_t)(b >> 32);
  uint64_t p = mul32x32(al, bl);
  return p + ((uint64_t)(al * bh + ah * bl) << 32);
}
