// The role of one trust node of a mesh (docs/trust-node.md "Mesh"): "assigning" (it holds the leadership: it runs the
// witness rounds and appends blocks), "standby" (another node leads; device messages get Error 6) or "stale" (its view
// of etcd is too old to know). Sans-IO: the daemon (trust_node/net, its agent thread and io thread) and the simulation
// (harness/sim, one scheduler) drive the same decisions:
//   - MeshCampaign::step, about every lease_ttl_s / 3 (the leadership agent): EtcdLeadership::step, or a resignation
//     when the role asked to hand over; its View goes to MeshRole::on_view;
//   - MeshRole::check, every 50 ms (independent of the agent, which may be blocked in a request): an assigning node
//     that etcd has not confirmed for half the lease steps down before the lease can have expired; a leader without
//     an attached device for starve_ms hands the leadership over;
//   - MeshRole::on_store_error, when core work failed in the store (a fenced append, an unreachable etcd).
// Times are ms of one monotonic clock (the daemon's wall clock, the simulation's virtual time). Not thread-safe.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "iotw/support/clock.hpp"
#include "iotw/trust_node/etcd_kv.hpp"
#include "iotw/trust_node/etcd_leadership.hpp"

namespace iotw::tn {

/** What one leadership step saw. */
struct MeshView {
  bool reached = false;            ///< etcd answered this step
  EtcdLeadership::State state;     ///< valid when reached
  std::vector<EtcdCompare> fence;  ///< EtcdLeadership::fence() after the step (when reached)
  std::string error;               ///< why etcd did not answer (when !reached)
};

/** The leadership agent's side: an EtcdLeadership with the hand-over rule (after resigning, no campaign for two
 *  leases, so another node, which the devices may reach, takes over). */
class MeshCampaign {
 public:
  /** etcd: the agent's own client; key: "<prefix>leader"; node_id non-empty; ttl_s: the lease TTL, s; clock: the
   *  ms the role's times are in (read after each request: a request may block). */
  MeshCampaign(EtcdKv &etcd, std::string key, std::string node_id, int64_t ttl_s, const Clock &clock)
      : lead_(etcd, std::move(key), std::move(node_id), ttl_s), ttl_ms_(uint64_t(ttl_s) * 1000), clock_(clock) {}
  /** One step: resigns first when `resign` (MeshRole::Host::hand_over asked) or an earlier resignation failed (it is
   *  tried again each step until etcd takes it), then EtcdLeadership::step, campaigning unless within two leases of
   *  the hand-over. Never throws: an etcd error is View::error. */
  MeshView step(bool resign);
  /** A clean stop: gives the leadership up at once (no wait for the lease). Never throws. */
  void resign() noexcept;

 private:
  EtcdLeadership lead_;
  uint64_t ttl_ms_;
  const Clock &clock_;
  bool resign_pending_ = false;   ///< a hand-over asked for and not yet done
  uint64_t holdoff_until_ms_ = 0;
};

class MeshRole {
 public:
  /** What the node does on the role's decisions. */
  class Host {
   public:
    virtual ~Host() = default;
    /** Take the job assignment over: set `fence` on the ledger (EtcdLedger::set_fence), rebuild the core from the store
     *  (it then sees the tip, pending txs, devices, blacklist and balances the previous leader left) and assign. Throws
     *  LedgerError when the store cannot be read or written; the role is then "stale" and stand_down(true) runs. */
    virtual void take_over(const std::vector<EtcdCompare> &fence) = 0;
    /** Stop assigning (the core's set_assigning(false), if there is a core); clear_fence: also the ledger's fence. */
    virtual void stand_down(bool clear_fence) = 0;
    /** Devices attached to this node now. */
    virtual std::size_t attached_count() = 0;
    /** Ask the agent to resign at its next step (MeshCampaign::step with resign = true), soon. */
    virtual void hand_over() = 0;
    /** The role changed (event "mesh_role" {node_id, role, leader, reason, height}). */
    virtual void role_changed(const std::string &role, const std::string &leader, const std::string &reason) = 0;
  };

  /** lease_ttl_s: the leadership lease, s; device_timeout_ms: the consensus's, ms (starve_ms). Starts "standby". */
  MeshRole(std::string node_id, uint64_t lease_ttl_s, uint64_t device_timeout_ms, Host &host);

  /** Acts on an agent's view at now_ms: takes over when this node leads and does not assign; steps down to standby
   *  when another leads; "stale" when etcd did not answer and the view is older than stale_ms (an assigning node
   *  keeps assigning until then). A view taken within two leases of a hand-over is not acted on. */
  void on_view(const MeshView &v, uint64_t now_ms);
  /** The 50 ms check at now_ms: steps down ("stale") when assigning without an etcd confirmation for stale_ms; hands
   *  the leadership over when assigning with no device attached for starve_ms. */
  void check(uint64_t now_ms);
  /** Core work failed in the store (LedgerConflict: another node leads; EtcdError: etcd unreachable): "stale". */
  void on_store_error(const std::string &what);

  const std::string &role() const { return role_; }
  const std::string &leader() const { return leader_; }
  bool assigning() const { return role_ == "assigning"; }
  uint64_t changes() const { return changes_; }
  /** Half the lease, ms: no etcd confirmation for longer makes the view stale. */
  uint64_t stale_ms() const { return ttl_ms_ / 2; }
  /** Two device timeouts (a device's silence rule fires after 1.2 of them) plus a lease, ms. */
  uint64_t starve_ms() const { return 2 * device_timeout_ms_ + ttl_ms_; }

 private:
  void set_role(const std::string &role, const std::string &leader, const std::string &reason);
  void step_down(const std::string &role, const std::string &reason);

  std::string node_id_;
  uint64_t ttl_ms_, device_timeout_ms_;
  Host &host_;
  std::string role_ = "standby";
  std::string leader_;
  uint64_t changes_ = 0;
  uint64_t last_confirmed_ms_ = 0;
  uint64_t starved_since_ms_ = 0;      ///< assigning with no device attached since (0 = not now)
  uint64_t handed_over_until_ms_ = 0;  ///< views are not acted on before this (the hand-over)
};

}  // namespace iotw::tn
