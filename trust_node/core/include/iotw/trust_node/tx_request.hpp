// HTTP transaction intake (docs/trust-node.md "Transactions"): the JSON schema of POST /v1/transactions and
// POST /v1/transactions/batch, and the TX signing message (docs/protocol.md §5). Pure functions, no IO.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <cstdint>
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

/** The binary batch encoding beside JSON (docs/trust-node.md "Binary batch"): the media type of a POST
 *  /v1/transactions/batch body and of its 202 answer. Little-endian throughout. */
inline constexpr std::string_view tx_batch_media_type = "application/vnd.iotw.tx-batch";
/** Header of a binary batch request: "ITXB", version 1, 3 zero bytes, u32 count (1..max_batch_txs) = 12 bytes;
 *  then count records, each u8 kind (0 = unsigned, 1 = signed), u16 payload length (1..4096), for kind 1 the
 *  signer's pubkey (32 bytes) and signature over TX(hash) (64 bytes), then the payload (any bytes). */
inline constexpr size_t tx_batch_header_len = 12;
/** Header of the binary 202 answer: "ITXR", version 1, 3 zero bytes, u32 accepted, u32 rejected, u32 count =
 *  20 bytes; then count status bytes in request order (TxBatchStatus). Hashes are not repeated: tx i's hash is
 *  SHA-256 of its payload. */
inline constexpr size_t tx_batch_reply_header_len = 20;
enum class TxBatchStatus : uint8_t { pending = 0, duplicate = 1, bad_signature = 2 };

/** Parses a binary batch body and fills TxRequest::hash. Errors (the whole batch is refused, nothing stored):
 *  "binary batch: <what> at byte <offset> (record <i>)" for a bad header, kind, length, a truncated record or
 *  trailing bytes; bodies above max_batch_body. Never reads outside body. */
std::variant<std::vector<TxRequest>, TxParseError> parse_tx_batch_binary(std::string_view body);

/** The binary 202 answer for rs (one result per record, in order). An `invalid` result is written as
 *  bad_signature: after parse_tx_batch_binary the signature is the only check left that a record can fail. */
std::string tx_batch_binary_reply(const std::vector<SubmitResult> &rs);

}  // namespace iotw::tn
