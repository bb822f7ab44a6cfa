#include "iotw/sim/sim_device.hpp"

#include <stdexcept>

#include "device_behaviour.hpp"
#include "firmware_host.hpp"

namespace iotw::sim {

SimDevice::SimDevice(Scheduler& sched, EventStream& events, SimDeviceConfig cfg, const emu::ChipProfile& profile,
                     emu::CollusionBoard& board, Send send)
    : sched_(sched),
      events_(events),
      cfg_(std::move(cfg)),
      profile_(profile),
      send_(std::move(send)),
      source_("emu:" + cfg_.name),
      clock_(sched),
      wdt_(clock_, profile.wdt_timeout_ms) {
  const emu::DeviceBehaviour& b = emu::device_behaviour(cfg_.behaviour);
  if (b.layer != emu::BehaviourLayer::none && b.layer != emu::BehaviourLayer::firmware)
    throw std::invalid_argument("behaviour '" + cfg_.behaviour + "' is not a firmware behaviour; sim mode runs only "
                                "the firmware's (docs/simulation.md)");
  fw_cfg_.name = cfg_.name.c_str();
  fw_cfg_.model = profile_.model.c_str();
  fw_cfg_.fw_version = profile_.fw_version.c_str();
  fw_cfg_.reset_reason = profile_.power_on_reset;
  if (cfg_.node_pubkey) fw_cfg_.node_pubkey = cfg_.node_pubkey->data();
  fw_cfg_.faults = emu::behaviour_flags(cfg_.behaviour).fw;
  collusion_.join(cfg_.behaviour, cfg_.name, cfg_.collusion_witnesses, 50, fw_cfg_, board);
  ctx_.kind = IOTW_LINK_SERIAL;
  ctx_.send = &SimDevice::on_send;
  ctx_.log = &SimDevice::on_log;
  ctx_.user = this;
  if (iotw_sim_port_init(&port_, &ctx_, cfg_.seed.data()) != 0) throw std::runtime_error("libsodium init failed");
  port_.now_ms = &SimDevice::on_now_ms;  // the device's own clock (clock_skew)
  sha256_ = port_.sha256;  // the port computes, the chip's CPU time is charged
  keypair_ = port_.ed25519_seed_keypair;
  sign_ = port_.ed25519_sign;
  verify_ = port_.ed25519_verify;
  port_.sha256 = &SimDevice::on_sha256;
  port_.ed25519_seed_keypair = &SimDevice::on_keypair;
  port_.ed25519_sign = &SimDevice::on_sign;
  if (verify_) port_.ed25519_verify = &SimDevice::on_verify;
}

void SimDevice::start() {
  std::string banner;
  for (const auto& line : profile_.boot_banner) banner += line + "\n";
  emit("boot_banner", {{"text", banner}, {"model", profile_.model}, {"chip", profile_.chip},
                       {"cpu_mhz", profile_.cpu_mhz}, {"boot_ms", profile_.boot_ms},
                       {"ed25519_sign_us", profile_.ed25519_sign_us()}, {"link", "sim:" + cfg_.name}});
  running_ = true;
  poll_origin_ns_ = sched_.now_ns();
  begin_boot();
  if (iotw_fw_boot(&fw_, &fw_cfg_, &port_) != 0) throw std::runtime_error(cfg_.name + ": NVS not writable");
  powered_ = true;
  wdt_.feed();
  note_state();
  schedule_poll();
}

void SimDevice::schedule_poll() {
  if (!running_ || !powered_) return;
  const std::uint64_t now = sched_.now_ns();
  std::uint64_t due_ns = 0;  // hung or skewed: every tick
  if (!hung_ && !skewed()) {
    const std::uint64_t due_ms = iotw_fw_next_poll_ms(&fw_);
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
  if (hung_ || skewed()) return;  // ticked every period: the watchdog is as the last tick left it
  const std::uint64_t now = sched_.now_ns();
  const std::uint64_t last_tick = now - (now - poll_origin_ns_) % kPollNs;
  wdt_.set_starved((now - last_tick) / 1'000'000);
}

void SimDevice::power_off() {
  if (!powered_) return;
  powered_ = false;
  hung_ = false;  // a power cycle ends an endless loop
  held_.clear();  // frames waiting for the CPU die with it
  fw_ = iotw_fw{};
  note_state();
}

void SimDevice::power_on(std::uint32_t reset_reason) {
  fw_cfg_.reset_reason = reset_reason;
  begin_boot();
  if (iotw_fw_boot(&fw_, &fw_cfg_, &port_) != 0) throw std::runtime_error(cfg_.name + ": NVS not writable");
  powered_ = true;
  wdt_.feed();
  emit("reset", {{"reset_reason", reset_reason}, {"boot_count", fw_.boot_count}});
  note_state();
  schedule_poll();
}

std::int64_t SimDevice::report_usage(std::uint64_t energy_mwh, std::uint32_t on_seconds, std::uint32_t period_s) {
  if (!powered_) return 0;
  const std::int64_t rc = iotw_fw_report_usage(&fw_, energy_mwh, on_seconds, period_s);
  note_state();
  return rc;
}

void SimDevice::on_rx(const std::uint8_t* bytes, std::size_t len) {
  if (!running_ || !powered_ || hung_) return;
  iotw_fw_on_rx(&fw_, bytes, len);
  note_state();
  schedule_poll();
}

void SimDevice::tick() {
  if (!running_ || !powered_) return;
  if (hung_) {
    if (wdt_.expired()) {
      emit("watchdog_reset", {{"watchdog", profile_.wdt_name}, {"starved_ms", wdt_.starved_ms()},
                              {"watchdog_timeout_ms", profile_.wdt_timeout_ms}});
      reset_to(profile_.wdt_reset, profile_.wdt_reset_banner, "watchdog");
    }
    return;
  }
  iotw_fw_poll(&fw_);
  wdt_.feed();
  note_state();
}

void SimDevice::reboot() {
  if (!running_ || !powered_) throw std::runtime_error(cfg_.name + " is not running");
  reset_to(profile_.sw_reset, profile_.sw_reset_banner, "software");
}

void SimDevice::hang() {
  if (!running_ || !powered_) throw std::runtime_error(cfg_.name + " is not running");
  if (hung_) return;
  feed_as_of_last_tick();
  hung_ = true;
  emit("hung", {{"watchdog", profile_.wdt_name}, {"watchdog_timeout_ms", profile_.wdt_timeout_ms},
                {"starved_ms", wdt_.starved_ms()}});
  schedule_poll();  // every tick now: the watchdog's
}

void SimDevice::skew_clock(std::int64_t offset_ms, double ppm) {
  if (!running_) throw std::runtime_error(cfg_.name + " is not running");
  feed_as_of_last_tick();
  const std::uint64_t starved = wdt_.starved_ms();
  clock_.skew(offset_ms, ppm);
  wdt_.set_starved(starved);
  nlohmann::json j = clock_json();
  j["offset_ms"] = offset_ms;
  emit("clock_skewed", std::move(j));
  schedule_poll();
}

nlohmann::json SimDevice::clock_json() const {
  const std::uint64_t dev = clock_.now_ms();
  return {{"device_ms", dev}, {"true_ms", clock_.base().now_ms()}, {"drift_ms", clock_.drift_ms()},
          {"ppm", clock_.ppm()}, {"uptime_ms", powered_ && dev >= fw_.boot_ms ? dev - fw_.boot_ms : 0}};
}

std::size_t SimDevice::memory_bytes() const {
  std::size_t n = sizeof *this;
  for (const Held& h : held_) n += sizeof h + h.bytes.capacity();
  return n;
}

void SimDevice::charge_cpu(double us) {
  const std::uint64_t now = now_us();
  cpu_free_us_ = std::max(cpu_free_us_, now) + static_cast<std::uint64_t>(us + 0.5);
}

void SimDevice::begin_boot() {
  held_.clear();  // RAM (and the UART driver's queue) is gone
  cpu_free_us_ = now_us() + static_cast<std::uint64_t>(profile_.boot_ms) * 1000;
}

void SimDevice::reset_to(std::uint32_t reason, const std::vector<std::string>& banner, const char* cause) {
  hung_ = false;
  std::string text;
  for (const auto& line : banner) text += line + "\n";
  emit("boot_banner", {{"text", text}, {"model", profile_.model}, {"cause", cause}});
  fw_ = iotw_fw{};  // RAM is gone
  fw_cfg_.reset_reason = reason;
  begin_boot();
  if (iotw_fw_boot(&fw_, &fw_cfg_, &port_) != 0) throw std::runtime_error(cfg_.name + ": NVS not writable");
  powered_ = true;
  wdt_.feed();
  emit("reset", {{"reset_reason", reason}, {"boot_count", fw_.boot_count}, {"cause", cause}});
  note_state();
  schedule_poll();
}

void SimDevice::release_held() {
  const std::uint64_t now = now_us();
  std::size_t due = 0;
  while (due < held_.size() && held_[due].due_us <= now) send_(std::move(held_[due++].bytes));
  held_.erase(held_.begin(), held_.begin() + static_cast<std::ptrdiff_t>(due));
  if (held_.empty() || release_armed_) return;
  // Device µs are read as scheduler µs (a skewed clock is off by its ppm only); the release re-checks on the clock.
  release_armed_ = true;
  sched_.after((held_.front().due_us - now) * 1000, [this] {
    release_armed_ = false;
    release_held();
  });
}

void SimDevice::note_state() {
  const iotw_fw_state s = iotw_fw_get_state(&fw_);
  if (s == reported_) return;
  reported_ = s;
  emit("state", {{"state", emu::state_name(s)}});
}

int SimDevice::on_send(void* user, const std::uint8_t* bytes, std::size_t len) {
  auto* self = static_cast<SimDevice*>(user);
  if (self->held_.empty() && self->now_us() >= self->cpu_free_us_) {  // the CPU is idle: out at once
    self->send_(std::vector<std::uint8_t>(bytes, bytes + len));
    return 0;
  }
  self->held_.push_back({self->cpu_free_us_, std::vector<std::uint8_t>(bytes, bytes + len)});
  self->release_held();
  return 0;
}

void SimDevice::on_log(void* user, iotw_log_level level, const char* event, const char* detail) {
  auto* self = static_cast<SimDevice*>(user);
  self->events_.emit_log(self->source_, emu::level_name(level), event, detail);
}

std::uint64_t SimDevice::on_now_ms(void* ctx) { return self_of(ctx).clock_.now_ms(); }

void SimDevice::on_sha256(void* ctx, const std::uint8_t* in, std::size_t len, std::uint8_t out[32]) {
  SimDevice& self = self_of(ctx);
  self.sha256_(ctx, in, len, out);
  self.charge_cpu(self.profile_.sha256_us(len));
}

void SimDevice::on_keypair(void* ctx, const std::uint8_t seed[32], std::uint8_t pk[32], std::uint8_t sk[64]) {
  SimDevice& self = self_of(ctx);
  self.keypair_(ctx, seed, pk, sk);
  self.charge_cpu(self.profile_.ed25519_keypair_us());
}

void SimDevice::on_sign(void* ctx, const std::uint8_t sk[64], const std::uint8_t* msg, std::size_t len,
                        std::uint8_t sig[64]) {
  SimDevice& self = self_of(ctx);
  self.sign_(ctx, sk, msg, len, sig);
  self.charge_cpu(self.profile_.ed25519_sign_us());
}

int SimDevice::on_verify(void* ctx, const std::uint8_t pk[32], const std::uint8_t* msg, std::size_t len,
                         const std::uint8_t sig[64]) {
  SimDevice& self = self_of(ctx);
  const int rc = self.cfg_.verify_memo ? self.cfg_.verify_memo->verify(self.verify_, ctx, pk, msg, len, sig)
                                       : self.verify_(ctx, pk, msg, len, sig);
  self.charge_cpu(self.profile_.ed25519_verify_us());
  return rc;
}

}  // namespace iotw::sim
