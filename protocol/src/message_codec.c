/* Envelope codec over nanopb. */
#include "iotw/message_codec.h"

#include <pb_decode.h>
#include <pb_encode.h>
#include <string.h>

size_t iotw_msg_encode(const iotw_v1_Envelope *env, uint8_t *out, size_t cap) {
  if (env->which_body == 0) return 0;
  pb_ostream_t os = pb_ostream_from_buffer(out, cap);
  if (!pb_encode(&os, iotw_v1_Envelope_fields, env)) return 0;
  return os.bytes_written;
}

int iotw_msg_decode(const uint8_t *in, size_t len, iotw_v1_Envelope *env) {
  memset(env, 0, sizeof *env);
  pb_istream_t is = pb_istream_from_buffer(in, len);
  if (!pb_decode(&is, iotw_v1_Envelope_fields, env)) return -1;
  return env->which_body == 0 ? -1 : 0;
}

const char *iotw_msg_name(unsigned which_body) {
  switch (which_body) {
    case iotw_v1_Envelope_hello_tag: return "hello";
    case iotw_v1_Envelope_challenge_tag: return "challenge";
    case iotw_v1_Envelope_prove_tag: return "prove";
    case iotw_v1_Envelope_welcome_tag: return "welcome";
    case iotw_v1_Envelope_assignment_tag: return "assignment";
    case iotw_v1_Envelope_result_tag: return "result";
    case iotw_v1_Envelope_witness_request_tag: return "witness_request";
    case iotw_v1_Envelope_attestation_tag: return "attestation";
    case iotw_v1_Envelope_heartbeat_tag: return "heartbeat";
    case iotw_v1_Envelope_heartbeat_ack_tag: return "heartbeat_ack";
    case iotw_v1_Envelope_error_tag: return "error";
    case iotw_v1_Envelope_usage_report_tag: return "usage_report";
    case iotw_v1_Envelope_vrf_round_seed_tag: return "vrf_round_seed";
    case iotw_v1_Envelope_vrf_claim_tag: return "vrf_claim";
    case iotw_v1_Envelope_checkpoint_request_tag: return "checkpoint_request";
    case iotw_v1_Envelope_checkpoint_tag: return "checkpoint";
    default: return "unknown";
  }
}

uint32_t iotw_msg_attestation_verdict(const iotw_v1_Attestation *a) { return (uint32_t)a->verdict; }
