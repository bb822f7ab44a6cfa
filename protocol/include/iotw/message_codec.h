/* Envelope <-> bytes, with nanopb (protocol/proto/iotw.proto). C11, no heap. */
#ifndef IOTW_MESSAGE_CODEC_H
#define IOTW_MESSAGE_CODEC_H
#include <stddef.h>
#include <stdint.h>
#include "iotw.pb.h"
#ifdef __cplusplus
extern "C" {
#endif

/** Encode env into out (capacity cap). Returns bytes written (>= 1), or 0 on failure (cap too small, or an
 *  unset body). Fits in IOTW_FRAME_MAX_PAYLOAD for every message in iotw.proto. */
size_t iotw_msg_encode(const iotw_v1_Envelope *env, uint8_t *out, size_t cap);

/** Decode len bytes into env (zeroed first). Returns 0, or -1 on malformed input or an unknown/empty body
 *  (env->which_body == 0). Never reads past len. */
int iotw_msg_decode(const uint8_t *in, size_t len, iotw_v1_Envelope *env);

/** An Attestation's verdict as the wire carried it: nanopb stores any decoded varint in the enum field, so it may
 *  be outside iotw_v1_Verdict (0..2). C++ code reads it through this C function, never as the enum type (loading an
 *  out-of-range enum value is undefined behaviour in C++; in C the field is an int). */
uint32_t iotw_msg_attestation_verdict(const iotw_v1_Attestation *a);

/** Name of an Envelope body tag ("hello", "attestation", ...), "unknown" otherwise. */
const char *iotw_msg_name(unsigned which_body);

#ifdef __cplusplus
}
#endif
#endif
