#include "iotw/sim/sim_device.hpp"

#include <stdexcept>

#include "device_behaviour.hpp"

namespace iotw::sim {

SimDevice::SimDevice(Scheduler& sched, EventStream& events, SimDeviceConfig cfg, const emu::ChipProfile& profile,
                     emu::CollusionBoard& board, Send send)
    : sched_(sched),
      events_(events),
      sends_{std::move(send)},
      nodes_(cfg.nodes),
      source_("emu:" + cfg.name),
      verify_memo_(cfg.verify_memo),
      chip_(profile, sched, chip_config(cfg, board), sim_port(cfg), *this) {}

emu::FirmwareChipConfig SimDevice::chip_config(const SimDeviceConfig& cfg, emu::CollusionBoard& board) {
  const emu::DeviceBehaviour& b = emu::device_behaviour(cfg.behaviour);
  if (b.layer != emu::BehaviourLayer::none && b.layer != emu::BehaviourLayer::firmware)
    throw std::invalid_argument("behaviour '" + cfg.behaviour + "' is not a firmware behaviour; sim mode runs only "
                                "the firmware's (docs/simulation.md)");
  return {.name = cfg.name, .behaviour = cfg.behaviour, .node_pubkey = cfg.node_pubkey,
          .collusion_witnesses = cfg.collusion_witnesses, .collusion_window_ms = 50, .collusion_board = &board};
}

iotw_port SimDevice::sim_port(const SimDeviceConfig& cfg) {
  ctx_.kind = IOTW_LINK_SERIAL;
  ctx_.user = this;
  iotw_port port{};
  if (iotw_sim_port_init(&port, &ctx_, cfg.seed.data()) != 0) throw std::runtime_error("libsodium init failed");
  verify_ = port.ed25519_verify;
  if (cfg.nodes > 1) {  // a mesh: the firmware moves between the nodes' links (docs/protocol.md §6)
    port.node_count = static_cast<std::uint8_t>(cfg.nodes);
    port.select_node = &SimDevice::on_select_node;
  }
  if (verify_memo_ && verify_) port.ed25519_verify = &SimDevice::memo_verify;  // the chip still charges its CPU time
  return port;
}

int SimDevice::memo_verify(void* ctx, const std::uint8_t pk[32], const std::uint8_t* msg, std::size_t len,
                           const std::uint8_t sig[64]) {
  auto& self = *static_cast<SimDevice*>(static_cast<iotw_sim_port_ctx*>(ctx)->user);
  return self.verify_memo_->verify(self.verify_, ctx, pk, msg, len, sig);
}

void SimDevice::start() {
  nlohmann::json link{{"link", "sim:" + chip_.name()}};
  if (nodes_ > 1) {  // a mesh: the first node's link, and every node's (as DeviceRuntime's `links`)
    link["links"] = nlohmann::json::array();
    for (std::size_t k = 0; k < nodes_; ++k) link["links"].push_back("sim:" + chip_.name() + "@tn-" + std::to_string(k));
    link["link"] = link["links"][0];
  }
  chip_.emit_boot_banner(std::move(link));
  running_ = true;
  poll_origin_ns_ = sched_.now_ns();
  chip_.start();  // booted(): the first tick scheduled
}

void SimDevice::schedule_poll() {
  if (!running_ || !chip_.powered()) return;
  const std::uint64_t now = sched_.now_ns();
  std::uint64_t due_ns = 0;  // hung or skewed: every tick
  if (!chip_.hung() && !skewed()) {
    const std::uint64_t due_ms = iotw_fw_next_poll_ms(&chip_.firmware());
    if (due_ms == UINT64_MAX) return;
    due_ns = due_ms > UINT64_MAX / 1'000'000 ? UINT64_MAX : due_ms * 1'000'000;  // unskewed: device ms = run ms
  }
  const std::uint64_t next_after_now = (now - poll_origin_ns_) / kPollNs + 1;
  const std::uint64_t at_due = due_ns <= poll_origin_ns_ ? 0 : (due_ns - poll_origin_ns_ + kPollNs - 1) / kPollNs;
  const std::uint64_t k = std::max(next_after_now, at_due);
  if (k > (UINT64_MAX - poll_origin_ns_) / kPollNs) return;  // never
  const std::uint64_t at = poll_origin_ns_ + k * kPollNs;
  if (at >= poll_at_ns_) return;  // an earlier tick is already scheduled: it reschedules
  poll_at_ns_ = at;
  sched_.at(at, [this, token = ++poll_token_] {
    if (token != poll_token_) return;  // replaced by an earlier one
    poll_at_ns_ = UINT64_MAX;
    tick();
    schedule_poll();
  });
}

void SimDevice::feed_as_of_last_tick() {
  if (chip_.hung() || skewed()) return;  // ticked every period: the watchdog is as the last tick left it
  const std::uint64_t now = sched_.now_ns();
  const std::uint64_t last_tick = now - (now - poll_origin_ns_) % kPollNs;
  chip_.watchdog().set_starved((now - last_tick) / 1'000'000);
}

void SimDevice::wake_after(std::uint64_t us) {
  if (release_armed_) return;
  // Device µs are read as scheduler µs (a skewed clock is off by its ppm only); the release re-checks on the clock.
  release_armed_ = true;
  sched_.after(us * 1000, [this] {
    release_armed_ = false;
    chip_.release_held();
  });
}

void SimDevice::on_select_node(void* ctx, std::uint8_t index, const char* reason) {
  auto& self = *static_cast<SimDevice*>(static_cast<iotw_sim_port_ctx*>(ctx)->user);
  if (index >= self.nodes_) return;
  self.events_.emit(self.source_, "node_selected",
                    {{"index", index}, {"link", "sim:" + self.chip_.name() + "@tn-" + std::to_string(index)},
                     {"reason", reason}});
}

void SimDevice::on_rx(const std::uint8_t* bytes, std::size_t len, std::size_t node) {
  if (!running_ || node != chip_.node()) return;
  if (chip_.receive(bytes, len)) schedule_poll();
}

void SimDevice::reboot() {
  if (!running_ || !chip_.powered()) throw std::runtime_error(chip_.name() + " is not running");
  chip_.reboot();  // booted(): the next tick scheduled
}

void SimDevice::hang() {
  if (!running_ || !chip_.powered()) throw std::runtime_error(chip_.name() + " is not running");
  if (chip_.hung()) return;
  feed_as_of_last_tick();
  chip_.hang();
  schedule_poll();  // every tick now: the watchdog's
}

void SimDevice::skew_clock(std::int64_t offset_ms, double ppm) {
  if (!running_) throw std::runtime_error(chip_.name() + " is not running");
  feed_as_of_last_tick();
  chip_.skew_clock(offset_ms, ppm);
  schedule_poll();
}

}  // namespace iotw::sim
