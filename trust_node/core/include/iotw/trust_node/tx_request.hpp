// HTTP transaction intake (docs/trust-node.md "Transactions"): the JSON schema of POST /v1/transactions and
// POST /v1/transactions/batch, and the TX signing message (docs/protocol.md §5). Pure functions, no IO.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "iotw/trust_node/core.hpp"

namespace iotw::tn {

/** Largest accepted request bodies, bytes: one tx (a 4096-byte payload JSON-escaped) and one batch. */
inline constexpr size_t max_tx_body = 32 * 1024;
inline constexpr size_t max_batch_body = 16 * 1024 * 1024;
/** Most transactions in one batch request. */
inline constexpr size_t max_batch_txs = 10000;
/** Default deepest JSON nesting accepted in a body (arrays and objects; the batch shape needs 3). */
inline constexpr size_t default_max_json_depth = 16;

/** TX signing message: "IOTW/1/TX" 00 || tx_hash[32] (42 bytes) written to out; returns 42. */
inline constexpr size_t tx_sigmsg_len = 42;
size_t tx_sigmsg(const Hash &tx_hash, uint8_t out[tx_sigmsg_len]);

/** A parse failure: the message names the offending field (e.g. "transactions[3]: payload must be ..."). */
struct TxParseError {
  std::string message;
};

/** Checks, without building a document (nlohmann's SAX parser), that body is one valid JSON text whose arrays
 *  and objects nest at most max_depth deep and whose objects never repeat a key. Returns the error message
 *  ("body is not valid JSON (UTF-8)", "JSON nested deeper than N levels", "duplicate key 'K'"), or nullopt. Memory
 *  is bounded by max_depth plus the keys of the open objects, whatever the body. */
std::optional<std::string> check_json_shape(std::string_view body, size_t max_depth);

/** Parse one tx object body: {"payload": "<UTF-8 text>", optionally "pubkey": "<64 hex>" and
 *  "signature": "<128 hex>" together}; any other key, a non-object, or invalid JSON/UTF-8 is an error.
 *  Payload size and the signature itself are checked by TrustNodeCore::submit_batch. */
std::variant<TxRequest, TxParseError> parse_tx_request(std::string_view body,
                                                       size_t max_depth = default_max_json_depth);

/** Parse a batch body: {"transactions": [<tx object>, ...]} with 1..max_batch_txs entries. Both parsers fill
 *  TxRequest::hash (SHA-256 of the payload), so the hashing happens on the caller's (HTTP) thread. The plain
 *  shape (printable ASCII strings, no escapes) takes a hand-written fast path; anything else, and every error,
 *  goes through check_json_shape(max_depth) and then the full JSON parser, so the accepted language and the
 *  error messages are the same (nesting deeper than max_depth and repeated keys are errors in both). */
std::variant<std::vector<TxRequest>, TxParseError> parse_tx_batch(std::string_view body,
                                                                  size_t max_depth = default_max_json_depth);

}  // namespace iotw::tn
