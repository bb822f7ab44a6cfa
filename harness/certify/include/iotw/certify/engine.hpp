// The certifier's man in the middle (docs/certification.md "The certification run"): it relays frames between the
// DUT's link and the trust node's link one frame at a time, decodes and logs every frame each way, and lets a test
// inject frames towards the DUT, withhold the DUT's answers to injected requests from the node, wait (bounded) for
// a DUT frame matching a predicate, and reset the DUT. Single-threaded: frames move only while a test waits
// (wait_for, pump_for, wait_attached), so a test's injections never interleave with a half-written node frame.
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>

#include "iotw.pb.h"
#include "iotw/certify/frame_link.hpp"

namespace iotw::certify {

/// One frame the DUT sent, as the certifier saw it.
struct SeenFrame {
  std::size_t index = 0;     ///< position in the engine's list (Engine::seen)
  double t_s = 0;            ///< seconds since the engine started
  iotw_v1_Envelope env{};    ///< which_body == 0: the payload did not decode (still relayed to the node)
  bool withheld = false;     ///< an answer to an injected request: not relayed to the node
};

/// A one-line text of an Envelope: its name and fields ("challenge nonce=ab12..", "hello model=esp32 ...").
std::string describe(const iotw_v1_Envelope& env);

/// The payload of an Envelope (iotw_msg_encode). Throws std::invalid_argument when it does not encode.
Bytes encode(const iotw_v1_Envelope& env);

class Engine {
 public:
  using Pred = std::function<bool(const iotw_v1_Envelope&)>;
  /// dut, node: the two links. reset_cmd: run through /bin/sh -c to reset the DUT ("" = none); esp_reset: the
  /// DTR/RTS pulse of a real port (empty = none). The reset command is preferred when both are given.
  Engine(std::unique_ptr<FrameLink> dut, FrameLink& node, std::string reset_cmd, std::function<void()> esp_reset);

  /// Frames and events go to `log` from now on (nullptr: nowhere). Each line: "+SECONDS DIRECTION TEXT".
  void set_log(std::ostream* log) { log_ = log; }
  /// Writes an event line ("# text") to the current log.
  void note(const std::string& text);
  double now_s() const;

  // What the DUT said about itself and where registration stands (nothing here is trusted by a test: a test
  // checks signatures itself).
  const std::optional<iotw_v1_Hello>& hello() const { return hello_; }  ///< the latest Hello
  std::size_t hellos() const { return hellos_; }                        ///< Hellos seen so far
  bool attached() const { return attached_; }  ///< the node sent Welcome after the latest Hello
  std::uint32_t heartbeat_interval_ms() const { return heartbeat_interval_ms_; }
  /// The node's latest Challenge nonce and the index of the first DUT frame after it.
  const std::optional<std::array<std::uint8_t, 32>>& node_nonce() const { return node_nonce_; }
  std::size_t after_node_challenge() const { return after_node_challenge_; }
  double last_dut_frame_s() const { return last_dut_frame_s_; }  ///< -1 before the first one
  bool any_dut_frame() const { return !seen_.empty(); }

  /// Index of the next DUT frame; frames from `mark()` on are those that arrive later.
  std::size_t mark() const { return seen_.size(); }
  std::size_t seen_count() const { return seen_.size(); }
  const SeenFrame& seen(std::size_t i) const { return seen_[i]; }

  /// The first DUT frame at index >= from that matches, waiting (and relaying) up to `timeout` for it; nullptr
  /// when none came in time.
  const SeenFrame* wait_for(std::size_t from, const Pred& pred, std::chrono::milliseconds timeout);
  /// Relays for `d`.
  void pump_for(std::chrono::milliseconds d);
  /// Relays until the DUT is attached (true) or `timeout` passes (false).
  bool wait_attached(std::chrono::milliseconds timeout);

  /// Sends env to the DUT. Its answer is withheld from the node: the Prove to an injected Challenge (one that
  /// verifies over its nonce; while injected Challenges are open, any other Prove is counted as the answer to the
  /// oldest of them, unless it answers the node's own unanswered Challenge), the
  /// Result for an injected Assignment's id, the Attestation for an injected WitnessRequest's round_id, the
  /// VrfClaim for an injected VrfRoundSeed's height.
  void inject(const iotw_v1_Envelope& env);
  /// Sends bytes as they are to the DUT.
  void inject_raw(const Bytes& bytes);
  /// The DUT's link (its framing: FrameLink::wire, FrameLink::stream).
  const FrameLink& dut_link() const { return *dut_; }
  /// The DUT's Prove to `nonce` is withheld from the node (raw bytes that carry a Challenge, e.g. one with a bad
  /// CRC). inject() does this itself for an injected Challenge.
  void withhold_prove_for(const std::array<std::uint8_t, 32>& nonce) { pending_nonces_.push_back(nonce); }
  /// Sends bytes one per write, `gap` apart; node frames for the DUT wait until the last byte is out.
  void inject_bytewise(const Bytes& bytes, std::chrono::milliseconds gap);
  /// While on, the node's Checkpoints to the DUT are dropped (light-verification tests inject their own).
  void block_node_checkpoints(bool on) { block_checkpoints_ = on; }
  /// While on, every DUT frame other than Hello, Heartbeat, CheckpointRequest and UsageReport is withheld (the
  /// fuzz test: mutated requests must not reach the node as answers).
  void withhold_answers(bool on) { withhold_all_ = on; }
  /// Forgets what is still to be withheld (end of a test).
  void forget_withheld();

  /// True when the DUT can be reset (a reset command or reset=esp).
  bool can_reset() const { return !reset_cmd_.empty() || static_cast<bool>(esp_reset_); }
  /// Resets the DUT; "" when done, else why not (the command's exit code and output).
  std::string reset();
  /// The DUT's power command (`--power-cmd`): power(action) runs `CMD ACTION` through /bin/sh -c, ACTION one of
  /// "off" (cut the supply), "on" (restore it), "brownout" (hold it below the brown-out threshold, above zero).
  void set_power_cmd(std::string cmd) { power_cmd_ = std::move(cmd); }
  bool can_power() const { return !power_cmd_.empty(); }
  /// "" when the command exited 0, else why not (its exit code and output).
  std::string power(const std::string& action);

  /// Throws std::runtime_error when a link failed (the DUT's port went away, the node's PTY broke).
  void pump_once(std::chrono::milliseconds max_wait);

 private:
  void from_dut(const Received& r);
  void from_node(const Received& r);
  void log_line(const char* dir, const std::string& text);
  bool withhold(const iotw_v1_Envelope& env);

  std::unique_ptr<FrameLink> dut_;
  FrameLink& node_;
  std::string reset_cmd_, power_cmd_;
  std::function<void()> esp_reset_;
  std::ostream* log_ = nullptr;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::deque<SeenFrame> seen_;
  std::optional<iotw_v1_Hello> hello_;
  std::size_t hellos_ = 0;
  bool attached_ = false;
  std::uint32_t heartbeat_interval_ms_ = 1000;
  std::optional<std::array<std::uint8_t, 32>> node_nonce_;
  std::size_t after_node_challenge_ = 0;
  bool node_challenge_open_ = false;  ///< the node's Challenge has not been answered yet
  double last_dut_frame_s_ = -1;
  std::deque<std::array<std::uint8_t, 32>> pending_nonces_;
  std::set<std::uint64_t> assignment_ids_, round_ids_, vrf_heights_;
  bool block_checkpoints_ = false, withhold_all_ = false, holding_ = false;
  std::deque<Bytes> held_for_dut_;
};

}  // namespace iotw::certify
