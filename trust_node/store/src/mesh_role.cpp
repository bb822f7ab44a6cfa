#include "iotw/trust_node/mesh_role.hpp"

#include <exception>

namespace iotw::tn {

MeshView MeshCampaign::step(bool resign) {
  MeshView v;
  if (resign) {
    resign_pending_ = true;
    holdoff_until_ms_ = clock_.now_ms() + 2 * ttl_ms_;  // no campaign meanwhile, even if the resignation fails
  }
  try {
    if (resign_pending_) {
      lead_.resign();
      resign_pending_ = false;
      holdoff_until_ms_ = clock_.now_ms() + 2 * ttl_ms_;
    }
    const uint64_t now_ms = clock_.now_ms();
    v.state = lead_.step(now_ms, now_ms >= holdoff_until_ms_);
    v.fence = lead_.fence();
    v.reached = true;
  } catch (const std::exception &e) {
    v.error = e.what();
  }
  return v;
}

void MeshCampaign::resign() noexcept {
  try {
    lead_.resign();
  } catch (const std::exception &) {
  }
}

MeshRole::MeshRole(std::string node_id, uint64_t lease_ttl_s, uint64_t device_timeout_ms, Host &host)
    : node_id_(std::move(node_id)), ttl_ms_(lease_ttl_s * 1000), device_timeout_ms_(device_timeout_ms), host_(host) {}

void MeshRole::set_role(const std::string &role, const std::string &leader, const std::string &reason) {
  if (role == role_ && leader == leader_) return;
  role_ = role;
  leader_ = leader;
  ++changes_;
  host_.role_changed(role, leader, reason);
}

void MeshRole::step_down(const std::string &role, const std::string &reason) {
  host_.stand_down(false);
  set_role(role, role == "stale" ? std::string() : leader_, reason);
}

void MeshRole::on_view(const MeshView &v, uint64_t now_ms) {
  if (!v.reached) {
    if (role_ == "assigning" && now_ms - last_confirmed_ms_ > stale_ms())
      step_down("stale", "etcd unreachable: " + v.error);
    else if (role_ == "standby")
      set_role("stale", "", "etcd unreachable: " + v.error);
    return;
  }
  last_confirmed_ms_ = v.state.confirmed_ms;
  if (v.state.leader && now_ms < handed_over_until_ms_) return;  // a view from before the hand-over
  if (v.state.leader && role_ != "assigning") {  // take over: rebuild from what the store holds now
    try {
      host_.take_over(v.fence);
      set_role("assigning", node_id_, "elected");
    } catch (const LedgerError &e) {
      host_.stand_down(true);
      set_role("stale", "", std::string("takeover failed: ") + e.what());
    }
    return;
  }
  if (!v.state.leader && role_ == "assigning") return step_down("standby", "leadership lost to " + v.state.leader_id);
  if (!v.state.leader) set_role("standby", v.state.leader_id, role_ == "stale" ? "etcd reached" : "observed");
}

void MeshRole::check(uint64_t now_ms) {
  if (role_ == "assigning" && now_ms - last_confirmed_ms_ > stale_ms())
    step_down("stale", "no etcd confirmation for half the lease");
  if (role_ != "assigning" || host_.attached_count() > 0) {
    starved_since_ms_ = 0;
    return;
  }
  if (starved_since_ms_ == 0) starved_since_ms_ = now_ms;
  if (now_ms - starved_since_ms_ < starve_ms()) return;
  starved_since_ms_ = 0;
  handed_over_until_ms_ = now_ms + 2 * ttl_ms_;
  host_.hand_over();
  step_down("standby", "no device attached for " + std::to_string(starve_ms()) + " ms: leadership handed over");
}

void MeshRole::on_store_error(const std::string &what) { step_down("stale", "store: " + what); }

}  // namespace iotw::tn
