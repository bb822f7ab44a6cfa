// The trust node in simulation mode (docs/simulation.md "Trust node"): the same sans-IO consensus core
// (trust_node/core) and the same SQLite ledger (trust_node/store, in memory) as iotw-trust-node, under the
// scheduler's virtual time, with the daemon's serial framing on each device link (COBS + CRC-32, docs/protocol.md §2)
// (or, on a datagram link, the daemon's UDP framing: one datagram = payload || CRC-32) and its 5 ms tick. It can be killed (the core and its RAM are lost, the ledger's commits stay), restarted (a new core
// loads the ledger, as the daemon does on start) and paused (SIGSTOP: bytes wait in the line until it resumes).
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
#include "iotw/support/scheduler.hpp"
#include "iotw/support/seeded_random.hpp"
#include "iotw/trust_node/core.hpp"
#include "iotw/trust_node/sqlite_ledger.hpp"

namespace iotw::sim {

class SimTrustNode final : public tn::CoreSink {
 public:
  /// cfg as the daemon's [consensus]; `seed`: the rig seed (the selection stream is component "trust_node:select", as the
  /// daemon's). Throws tn::LedgerError when the in-memory ledger cannot be made.
  SimTrustNode(Scheduler& sched, EventStream& events, tn::ConsensusConfig cfg, std::uint64_t seed);
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
  /// Starts the node (a new core on the ledger, every serial link opened, the tick).
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

  Scheduler& sched_;
  EventStream& events_;
  tn::ConsensusConfig cfg_;
  Seed select_seed_;
  tn::SqliteLedger ledger_;
  std::unique_ptr<SeededStream> stream_;
  struct Rng;
  std::unique_ptr<Rng> rng_;
  std::unique_ptr<tn::TrustNodeCore> core_;
  std::vector<Link> links_;
  bool paused_ = false;
  std::uint64_t generation_ = 0;  ///< a tick of an earlier life of the node does nothing
  std::uint64_t frame_errors_ = 0;
  static constexpr std::uint64_t kTickNs = 5'000'000;     ///< the daemon's tick_ms
  static constexpr std::size_t kLineBuffer = 64 * 1024;  ///< bytes a paused node's line holds
};

}  // namespace iotw::sim
