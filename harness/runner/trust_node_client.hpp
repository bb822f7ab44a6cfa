// HTTP client of a running trust node (docs/trust-node.md, "HTTP API") and the harness's transaction payloads.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace httplib {
class Client;
}

namespace iotw::harness {

/// A mesh node's place: GET /v1/health's "mesh" object (docs/trust-node.md).
struct MeshRole {
  std::string node_id;  ///< e.g. "tn-1"
  std::string role;     ///< "assigning" | "standby" | "stale"
  std::string leader;   ///< the node_id it believes assigning ("" when none)
};

/// GET /v1/health.
struct Health {
  std::uint64_t height = 0;
  std::uint64_t devices_attached = 0;
  std::uint64_t devices_blacklisted = 0;
  std::uint64_t pending_txs = 0;
  std::uint64_t rounds = 0;
  std::optional<MeshRole> mesh;  ///< a node of a [mesh] rig; absent otherwise
  bool assigning() const { return mesh && mesh->role == "assigning"; }
};

enum class SubmitResult { Accepted, Duplicate, Rejected, Failed };  ///< 202, 409, 400, anything else/no answer

/// The trust node did not answer, or answered something not in the contract; what() says which request.
struct TrustNodeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class TrustNodeClient {
 public:
  /// Talks to 127.0.0.1:`port`; connect timeout 2 s, read timeout 5 s.
  explicit TrustNodeClient(int port);
  ~TrustNodeClient();
  TrustNodeClient(const TrustNodeClient&) = delete;
  TrustNodeClient& operator=(const TrustNodeClient&) = delete;

  /// Current health, or nullopt when the node does not answer 200 with the documented fields.
  std::optional<Health> health();
  /// POST /v1/transactions {"payload": payload}.
  SubmitResult submit(const std::string& payload);
  /// Names of the attached devices (GET /v1/devices, `attached: true`); nullopt when the node does not answer
  /// 200 with a "devices" array.
  std::optional<std::vector<std::string>> attached_devices();
  /// The ledger.jsonl lines (docs/protocol.md §8): GET /v1/tip first, then every block from height 0 up to the
  /// tip's height, paging GET /v1/blocks by 1000, each as the node sent it (compact JSON, key order kept), and
  /// the tip line {"tip": ...} last. A node that answers /v1/tip with 404 (no node key) gives every block and
  /// no tip line. Throws TrustNodeError on a failed request or a malformed answer.
  std::vector<std::string> export_blocks();
  /// Operator: lifts every entry of GET /v1/blacklist (POST /v1/blacklist/<device>/lift, no token: the
  /// harness's trust node has none). Returns how many were lifted; 0 when the node does not answer.
  std::size_t lift_blacklist();

 private:
  std::unique_ptr<httplib::Client> http_;
};

/// Transaction payload number `counter` of a run: `bytes` (1..4096) printable ASCII characters drawn from a
/// SplitMix64 stream keyed by (seed, counter); the same inputs always give the same text.
std::string tx_payload(std::uint64_t seed, std::uint64_t counter, int bytes);

/// The tx_audit event's counts (docs/events.md): of the transactions acknowledged with 202, those in the exported ledger,
/// those the node still knows (a resubmission is a duplicate: pending), and the rest (lost).
struct TxAudit {
  std::uint64_t acked = 0, in_ledger = 0, pending = 0, lost = 0;
};
/// Audits the acknowledged transactions `acked` (tx_payload counters under `seed`, `payload_bytes` each) against the
/// ledger.jsonl lines `ledger` (their transactions' payload_hex); `known(payload)` resubmits one not in the ledger and
/// says whether the node answered it is a duplicate. The real-time runner and sim mode both use it.
TxAudit audit_transactions(const std::vector<std::string>& ledger, const std::vector<std::uint64_t>& acked,
                           std::uint64_t seed, int payload_bytes, const std::function<bool(const std::string&)>& known);

}  // namespace iotw::harness
