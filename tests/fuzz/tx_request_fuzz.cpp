// libFuzzer target: the HTTP transaction parser (POST /v1/transactions and /v1/transactions/batch bodies,
// docs/trust-node.md, JSON and the binary batch). Invariant: a parse succeeds or names an error; it never throws,
// never reads outside the body, never crashes.
#include <string_view>

#include "iotw/trust_node/tx_request.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string_view body(reinterpret_cast<const char *>(data), size);
  (void)iotw::tn::parse_tx_request(body);
  (void)iotw::tn::parse_tx_batch(body);
  (void)iotw::tn::parse_tx_batch_binary(body);
  return 0;
}
