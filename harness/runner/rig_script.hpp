// The rig's [[steps]] (docs/rig-format.md, docs/faults.md), run while the rig runs: arms the steps in file
// order, fires each on its trigger, applies and ends faults, checks every ended fault's recovery by its
// deadline, evaluates `wait` and `expect`. Every check becomes an event (recovery_checked, wait_done,
// expect_checked: fields check, pass, detail) that the scorer turns into a JUnit testcase.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fault_policy.hpp"
#include "iotw/harness/rig_spec.hpp"
#include "trust_node_client.hpp"
#include "udp_proxy.hpp"

namespace iotw::harness {

/// What the script needs from the running rig.
class ScriptHost {
 public:
  virtual ~ScriptHost() = default;
  /// The last health the runner polled (nullopt while the trust node does not answer).
  virtual std::optional<Health> health() = 0;
  /// Names of the devices the trust node reports attached (GET /v1/devices); nullopt when it does not answer.
  virtual std::optional<std::set<std::string>> attached_devices() = 0;
  /// Events the children wrote since the last call (trust node and emulator files), in file order.
  virtual std::vector<nlohmann::json> new_events() = 0;
  /// A score computed from everything so far (events + the ledger exported now); nullopt if unavailable.
  virtual std::optional<double> score_so_far(const std::string& score) = 0;
  virtual void emit(const std::string& kind, nlohmann::ordered_json fields) = 0;
  /// Trust-node process faults on node `node` (0..trust_nodes-1; a rig without [mesh] has node 0 only). kill: SIGKILL
  /// and reap; restart: start it again on the same config and wait for its HTTP port; pause/resume: SIGSTOP/SIGCONT.
  /// Throw std::runtime_error when impossible.
  virtual void kill_trust_node(int node) = 0;
  virtual void restart_trust_node(int node) = 0;
  virtual void pause_trust_node(int node, bool paused) = 0;
  /// The node whose GET /v1/health says role "assigning" now (`node = "leader"`); nullopt when none does. A rig
  /// without [mesh]: its one node, 0.
  virtual std::optional<int> assigning_node() { return 0; }
  /// [mesh] rigs: how many trust nodes answer GET /v1/health with role "assigning" now, and the height the (last)
  /// assigning one reports.
  struct MeshState {
    int assigning = 0;
    std::uint64_t height = 0;
  };
  virtual MeshState mesh_state() { return {}; }
  /// etcd member faults (FaultSpec::member) of a [mesh] rig: kill (SIGKILL, reaped), restart (on its data folder; waits
  /// until it is healthy), pause/resume (SIGSTOP/SIGCONT). Throw std::runtime_error when impossible.
  virtual void kill_etcd(int member) { throw std::runtime_error("no etcd member " + std::to_string(member)); }
  virtual void restart_etcd(int member) { throw std::runtime_error("no etcd member " + std::to_string(member)); }
  virtual void pause_etcd(int member, bool) { throw std::runtime_error("no etcd member " + std::to_string(member)); }
  /// partition_node from = "etcd": cut (true) or restore (false) every TCP relay between trust node `node` and etcd.
  virtual void cut_node_from_etcd(int node, bool) {
    throw std::runtime_error("trust node " + std::to_string(node) + " has no etcd relays");
  }
  /// host_partition ([hosts] rigs): the host link cut, no frame crosses (true), or carrying frames again (false). Throws
  /// std::runtime_error when impossible.
  virtual void cut_host_link(bool) { throw std::runtime_error("the rig has no host link ([hosts])"); }
  /// Power faults: sets a dps device's input supply (V, and the ramp back in V/s). Throws std::runtime_error.
  virtual void set_supply(const std::string& device, double vin, double ramp_v_per_s) = 0;
  /// Device faults: one command to the emulator pool's control channel (docs/emulators.md "Control channel");
  /// returns the pool's reply ({"ok": true, ...}). Throws std::runtime_error with the pool's error, or when the
  /// channel cannot be reached.
  virtual nlohmann::json emu_command(const nlohmann::json& request) {
    throw std::runtime_error("no emulator control channel for '" + request.value("cmd", std::string()) + "'");
  }
  /// `traffic` steps: the harness stops (true) or resumes (false) submitting transactions.
  virtual void pause_traffic(bool paused) = 0;
};

class RigScript {
 public:
  /// `links`: each serial-linked device's serial fault proxies (PTY, AT over TCP, external serial/tcp), one per trust
  /// node in node order (a rig without [mesh]: one); `udp_links`: each UDP AT, TAP or external udp device's UDP fault
  /// proxy. A device with neither takes no link faults; its recovery is judged by attachment. A device's serial link faults act on all
  /// its links; partition_node from = "devices" stalls every device's link of that node.
  RigScript(const RigSpec& spec, std::map<std::string, std::vector<FaultPolicy*>> links, ScriptHost& host,
            std::map<std::string, UdpFaultPolicy*> udp_links = {});

  /// Advances the script; `now_s` = seconds since the trust node first answered. Never throws: a failing
  /// action becomes a failed check.
  void tick(double now_s);
  /// Every step ran and every recovery check is decided.
  bool done() const;
  /// The run is ending: active faults are lifted, and steps or checks left undecided fail with `reason`.
  void finish(double now_s, const std::string& reason);
  /// True while a trust-node fault holds node `node` down or stopped (the runner then skips its HTTP calls).
  bool node_down(int node) const { return down_nodes_.count(node) > 0; }
  /// True while every trust node of the rig is down or stopped.
  bool trust_node_down() const { return static_cast<int>(down_nodes_.size()) >= spec_.trust_nodes(); }

  /// Appends a step while the rig runs (an inline step, docs/console.md) and starts it at once, whatever the
  /// rig's own steps are doing; returns its id for end(). `reply`, if given, gets a uart step's reply from
  /// the pool ({"ok": true, "output": ...}), or {"ok": false, "error": why} when the pool refused or could not
  /// be reached (a failed check "step_failed" then); null for other steps.
  std::size_t add(Step step, double now_s, nlohmann::json* reply = nullptr);
  /// Ends an added, still active open-ended fault (one without duration_s) now; its recovery is then checked
  /// as for any fault that ends. Throws std::invalid_argument when `id` is not one.
  void end(std::size_t id, double now_s);
  /// An added step that is an active fault without duration_s (end() would end it).
  bool open_ended_active(std::size_t id) const;

 private:
  enum class State { Waiting, Armed, Active, Recovering, Done };
  struct Run {
    const Step* step;
    State state = State::Waiting;
    double started_s = 0, ended_s = 0;
    bool triggered = false;  // an event trigger matched since it was armed
    std::map<std::string, std::uint64_t> frames_at_end[2];
    std::map<std::string, int> registrations_at_end;  // power faults: device_registered seen per device
    int node = 0;                  // node faults: the node resolved at the start (`node = "leader"`)
    std::uint64_t height_at_end = 0;  // mesh check: the height must grow past it
    nlohmann::json reply;  // uart: the pool's reply
  };
  std::string check_name(const Step& s, const std::string& what) const;
  void check(const Step& s, const std::string& kind, const std::string& what, bool pass, const std::string& detail);
  bool trigger_fired(Run& r, double now_s);
  void start(Run& r, double now_s);
  void end_fault(Run& r, double now_s);
  void recovery(Run& r, double now_s, bool final);
  std::vector<std::string> targets(const FaultSpec& f) const;
  void apply_link_faults();
  /// The node a node fault acts on: FaultSpec::node's index, or the host's assigning node for "leader" (throws
  /// std::runtime_error when none is).
  int resolve_node(const FaultSpec& f);
  /// An active fault without duration_s that does not end by itself (FaultDef::ends_by_itself).
  static bool open_ended(const Run& r);
  /// emu_command + an `emu_command` event {step, line, request, reply}.
  nlohmann::json command(const Step& s, nlohmann::json request);
  /// Frames (PTY) or datagrams (UDP) the device's link passed on in `dir` so far.
  /// Frames (PTY) or datagrams (UDP) the device's fault proxy delivered in `dir`; nullopt without a proxy.
  std::optional<std::uint64_t> delivered(const std::string& device, Direction dir) const;

  const RigSpec& spec_;
  std::map<std::string, std::vector<FaultPolicy*>> links_;
  std::map<std::string, UdpFaultPolicy*> udp_links_;
  ScriptHost& host_;
  std::deque<Run> runs_;  // a deque: active_link_faults_ points into it while add() appends
  std::deque<Step> added_;  // steps appended by add(), referenced by their Run
  std::vector<const Run*> active_link_faults_;
  std::set<int> down_nodes_;  // nodes a trust-node fault holds down or stopped
  std::map<std::string, int> registrations_;  // device name -> device_registered events seen so far
};

/// The SerialFaults of one link under the given active fault steps: the highest rate of each kind, stall if
/// any stall or partition, the largest delay and jitter.
SerialFaults combine_faults(const std::vector<const FaultSpec*>& active);
/// The UdpFaults of one UDP link under the given active fault steps: the highest rate of each udp_* kind,
/// partition if any partition or stall, the largest udp_delay delay and jitter.
UdpFaults combine_udp_faults(const std::vector<const FaultSpec*>& active);
// rssi_loss_rate and kNominalRssi: iotw/harness/fault_registry.hpp.

}  // namespace iotw::harness
