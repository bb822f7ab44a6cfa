// The trust node in simulation mode (docs/simulation.md "Trust node"): the same sans-IO consensus core
// (trust_node/core) and the same SQLite ledger (trust_node/store, in memory) as iotw-trust-node, under the
// scheduler's virtual time, with the daemon's serial framing on each device link (COBS + CRC-32, docs/protocol.md §2)
// (or, on a datagram link, the daemon's UDP framing: one datagram = payload || CRC-32) and its 5 ms tick. It can be killed (the core and its RAM are lost, the ledger's commits stay), restarted (a new core
// loads the ledger, as the daemon does on start) and paused (SIGSTOP: bytes wait in the line until it resumes).
// In a [mesh] rig (SimMeshNode) it is one of several nodes on one ledger in a SimEtcd cluster: tn::EtcdLedger over its
// own SimEtcd client, the daemon's leadership agent (tn::MeshCampaign every lease_ttl_s / 3, on a second client) and
// role (tn::MeshRole, checked every 50 ms), its events tagged with its node id.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "iotw/frame_codec.h"
#include "iotw/sim/event_stream.hpp"
#include "iotw/sim/sim_etcd.hpp"
#include "iotw/support/scheduler.hpp"
#include "iotw/support/seeded_random.hpp"
#include "iotw/trust_node/core.hpp"
#include "iotw/trust_node/etcd_ledger.hpp"
#include "iotw/trust_node/mesh_role.hpp"
#include "iotw/trust_node/sqlite_ledger.hpp"

namespace iotw::sim {

/// A node of a [mesh] rig (docs/rig-format.md "Mesh"): the daemon's [mesh] and [store] kind = "etcd".
struct SimMeshNode {
  std::string node_id;              ///< "tn-<i>": its leadership id and its events' "node"
  std::uint64_t lease_ttl_s = 2;    ///< [mesh] lease_ttl_s
  SimEtcd* etcd = nullptr;          ///< the mesh's cluster (outlives the node)
  std::string prefix = "/iotw/ledger/";  ///< the store's key prefix (the runner's: "/iotw/<rig name>/")
};

class SimTrustNode final : public tn::CoreSink, public tn::MeshRole::Host {
 public:
  /// cfg as the daemon's [consensus]; `seed`: the rig seed (the selection stream is component "trust_node:select", as the
  /// daemon's; the runner gives a mesh's nodes the one seed). Without `mesh` the ledger is SQLite in memory, else the mesh's
  /// etcd store. Throws tn::LedgerError when the in-memory ledger cannot be made.
  SimTrustNode(Scheduler& sched, EventStream& events, tn::ConsensusConfig cfg, std::uint64_t seed,
               std::optional<SimMeshNode> mesh = std::nullopt);
  ~SimTrustNode() override;

  /// A device link, before start(): `name` as in events ("sim:<device>"), `send` writes bytes to the device's line.
  /// Returns its link id.
  using Send = std::function<void(std::vector<std::uint8_t>)>;
  /// Room for `n` links in all (the node's table is sized once, not grown by doubling: a million devices).
  void reserve_links(std::size_t n) { links_.reserve(n); }
  std::uint32_t add_link(std::string name, Send send);
  /// A UDP peer of the node's [udp] port, before start(): `name` as the daemon names it ("udp:IP:PORT"), `send`
  /// gets each datagram for the peer (payload || CRC-32 LE, iotw_datagram_encode). As in the daemon, the link is
  /// opened (core link_opened, event "link_opened") by its first good datagram after each start. Returns its link id.
  std::uint32_t add_datagram_link(std::string name, Send send);
  /// Starts the node (a new core on the ledger, every serial link opened, the tick; a mesh node also starts standby,
  /// with its leadership agent and role check). Throws tn::LedgerError when a mesh node cannot read the store.
  void start();
  /// Bytes from a device's line (a link of add_link).
  void on_bytes(std::uint32_t link, const std::uint8_t* bytes, std::size_t len);
  /// One datagram from a peer (a link of add_datagram_link), as the daemon's UdpLink reads it: a datagram that
  /// fails iotw_datagram_check is event "frame_error" {link, error: "bad_crc" | "overflow"}; a payload that does
  /// not decode, {error: "decode"}. Lost while the node is down; while paused, waits (up to 64 KiB per link, as a
  /// socket's receive buffer; the rest is lost) and is read on resume.
  void on_datagram(std::uint32_t link, const std::uint8_t* bytes, std::size_t len);

  /// SIGKILL: the core is gone, bytes to it are lost. Throws std::runtime_error when already down.
  void kill();
  /// Starts it again on its ledger. Throws std::runtime_error when it is up.
  void restart();
  /// SIGSTOP (true) / SIGCONT (false): while paused nothing runs; bytes wait (bounded like a PTY's buffer: 64 KiB per
  /// link, the rest is lost) and are read on resume.
  void pause(bool paused);
  bool up() const { return core_ != nullptr; }
  bool answering() const { return core_ && !paused_; }
  /// A mesh node: cut off from etcd (partition_node from = "etcd": both its clients) or reaching it again.
  void cut_from_etcd(bool cut);
  /// A mesh node's role (GET /v1/health's "mesh"); null without [mesh] or while the node is down.
  const tn::MeshRole* mesh_role() const { return core_ ? role_.get() : nullptr; }
  /// GET /v1/health's height: the core's tip, or for a mesh standby (its core does not follow the chain) the store's,
  /// falling back to the core's when etcd does not answer. 0 while down.
  std::uint64_t height();
  const std::string& node_tag() const { return tag_; }

  /// The core (null while down). Its results are the node's HTTP API's answers.
  tn::TrustNodeCore* core() { return core_.get(); }
  /// Submits one transaction (POST /v1/transactions); nullopt when the node is down or paused (no answer).
  std::optional<tn::SubmitResult> submit(const tn::Bytes& payload);
  /// Every block, then the signed tip (GET /v1/tip): the lines of ledger.jsonl (docs/protocol.md §8).
  std::vector<std::string> export_lines();
  /// Names of the attached devices (GET /v1/devices).
  std::set<std::string> attached_names() const;
  /// Operator: lifts every blacklist entry (Monte Carlo rigs). Returns how many.
  std::size_t lift_blacklist();
  std::uint64_t frame_errors() const { return frame_errors_; }

  // CoreSink
  void send(std::uint32_t link, const iotw_v1_Envelope& env) override;
  void event(std::string_view kind, nlohmann::json fields) override;

  // tn::MeshRole::Host (as the daemon's)
  void take_over(const std::vector<tn::EtcdCompare>& fence) override;
  void stand_down(bool clear_fence) override;
  std::size_t attached_count() override { return core_ ? core_->attached_count() : 0; }
  void hand_over() override;
  void role_changed(const std::string& role, const std::string& leader, const std::string& reason) override;

 private:
  struct Link {
    std::string name;
    Send send;
    /// The frame decoder while a frame is partly received (1 KiB: made at a chunk's first byte, dropped when the
    /// chunk ends between frames, as a chunk of whole frames does).
    std::unique_ptr<iotw_frame_decoder> decoder;
    std::vector<std::uint8_t> waiting;  ///< bytes that arrived while paused
    bool datagram = false;             ///< a UDP peer (add_datagram_link)
    bool opened = false;               ///< datagram links: link_opened since the last start
    std::vector<std::vector<std::uint8_t>> waiting_datagrams;  ///< datagrams that arrived while paused
    std::size_t waiting_bytes = 0;
  };
  void read(std::uint32_t link, const std::uint8_t* bytes, std::size_t len);
  void read_datagram(std::uint32_t link, const std::uint8_t* bytes, std::size_t len);
  /// One frame's payload: decoded and handed to the core, or frame_error "decode".
  void on_payload(std::uint32_t link, const std::uint8_t* payload, std::size_t len);
  void frame_error(const std::string& link, const char* error);
  void schedule_tick();
  /// A new core on the ledger (a mesh node: not assigning); retried on tn::LedgerConflict as the daemon's build_core.
  void build_core();
  /// Runs core work; in a mesh a store failure (tn::LedgerError) makes the role stale instead of ending the run.
  template <class F>
  void guarded(F&& f);
  /// The leadership agent's next step in `delay_ns` (the generation guards against an earlier life).
  void schedule_agent(std::uint64_t delay_ns);
  void schedule_mesh_check();

  Scheduler& sched_;
  EventStream& events_;
  tn::ConsensusConfig cfg_;
  Seed select_seed_;
  std::optional<SimMeshNode> mesh_;
  std::string tag_;  ///< the events' "node": the mesh node id, "" without [mesh]
  Seed ledger_id_seed_{};  ///< a mesh node's EtcdLedger instance ids: from the seed, one per start
  std::unique_ptr<SimEtcd::Client> store_client_, agent_client_;  ///< a mesh node's
  std::unique_ptr<tn::Ledger> ledger_;
  tn::EtcdLedger* etcd_ledger_ = nullptr;  ///< ledger_ when it is the mesh's store
  std::unique_ptr<tn::MeshRole> role_;
  std::unique_ptr<tn::MeshCampaign> campaign_;
  bool resign_ = false;  ///< the role asked the agent to hand over
  std::uint64_t agent_token_ = 0;  ///< the agent's scheduled step (an earlier one is stale)
  bool agent_missed_ = false;      ///< the agent's step came while the node was frozen
  std::unique_ptr<SeededStream> stream_;
  struct Rng;
  std::unique_ptr<Rng> rng_;
  std::unique_ptr<tn::TrustNodeCore> core_;
  std::vector<Link> links_;
  bool paused_ = false;
  std::uint64_t generation_ = 0;  ///< a tick of an earlier life of the node does nothing
  std::uint64_t frame_errors_ = 0;
  static constexpr std::uint64_t kTickNs = 5'000'000;     ///< the daemon's tick_ms
  static constexpr std::uint64_t kMeshCheckNs = 50'000'000;  ///< the daemon's mesh check
  static constexpr std::size_t kLineBuffer = 64 * 1024;  ///< bytes a paused node's line holds
};

}  // namespace iotw::sim
