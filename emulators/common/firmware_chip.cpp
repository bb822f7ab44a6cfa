#include "firmware_chip.hpp"

#include <algorithm>
#include <stdexcept>

#include "device_behaviour.hpp"
#include "firmware_host.hpp"

namespace iotw::emu {

void FirmwareChip::Owner::log(const char* level, const char* event, const char* detail) {
  emit("log", {{"level", level}, {"event", event}, {"detail", detail}});
}

FirmwareChip::FirmwareChip(const ChipProfile& profile, const Clock& clock, FirmwareChipConfig cfg,
                           const iotw_port& port, Owner& owner)
    : profile_(profile),
      owner_(owner),
      name_(std::move(cfg.name)),
      node_pubkey_(cfg.node_pubkey),
      clock_(clock),
      wdt_(clock_, profile.wdt_timeout_ms),
      inner_(port),
      port_(port) {
  cfg_.name = name_.c_str();
  cfg_.model = profile_.model.c_str();
  cfg_.fw_version = profile_.fw_version.c_str();
  cfg_.reset_reason = profile_.power_on_reset;
  if (node_pubkey_) cfg_.node_pubkey = node_pubkey_->data();
  cfg_.faults = behaviour_flags(cfg.behaviour).fw;
  collusion_.join(cfg.behaviour, name_, cfg.collusion_witnesses, cfg.collusion_window_ms, cfg_,
                  cfg.collusion_board ? *cfg.collusion_board : CollusionBoard::instance());
  // The firmware calls the chip; the chip calls the owner's port with the port's own ctx.
  port_.ctx = this;
  port_.link_send = [](void* c, const uint8_t* bytes, size_t len) { return self(c).send(bytes, len); };
  port_.now_ms = [](void* c) { return self(c).clock_.now_ms(); };  // the device's own clock (clock_skew)
  port_.random_bytes = [](void* c, uint8_t* out, size_t len) { self(c).inner_.random_bytes(self(c).inner_.ctx, out, len); };
  port_.nvs_get = [](void* c, const char* key, uint8_t* out, size_t cap, size_t* out_len) {
    return self(c).inner_.nvs_get(self(c).inner_.ctx, key, out, cap, out_len);
  };
  port_.nvs_set = [](void* c, const char* key, const uint8_t* data, size_t len) {
    return self(c).inner_.nvs_set(self(c).inner_.ctx, key, data, len);
  };
  port_.log = [](void* c, iotw_log_level level, const char* event, const char* detail) {
    self(c).owner_.log(level_name(level), event, detail);
  };
  // The chip's crypto takes its CPU time (profile cycles / MHz): the port computes, the chip charges.
  port_.sha256 = [](void* c, const uint8_t* in, size_t len, uint8_t out[32]) {
    FirmwareChip& s = self(c);
    s.inner_.sha256(s.inner_.ctx, in, len, out);
    s.charge_cpu(s.profile_.sha256_us(len));
  };
  port_.ed25519_seed_keypair = [](void* c, const uint8_t seed[32], uint8_t pk[32], uint8_t sk[64]) {
    FirmwareChip& s = self(c);
    s.inner_.ed25519_seed_keypair(s.inner_.ctx, seed, pk, sk);
    s.charge_cpu(s.profile_.ed25519_keypair_us());
  };
  port_.ed25519_sign = [](void* c, const uint8_t sk[64], const uint8_t* msg, size_t len, uint8_t sig[64]) {
    FirmwareChip& s = self(c);
    s.inner_.ed25519_sign(s.inner_.ctx, sk, msg, len, sig);
    s.charge_cpu(s.profile_.ed25519_sign_us());
  };
  if (inner_.ed25519_verify)
    port_.ed25519_verify = [](void* c, const uint8_t pk[32], const uint8_t* msg, size_t len, const uint8_t sig[64]) {
      FirmwareChip& s = self(c);
      const int rc = s.inner_.ed25519_verify(s.inner_.ctx, pk, msg, len, sig);
      s.charge_cpu(s.profile_.ed25519_verify_us());
      return rc;
    };
  if (inner_.select_node)  // a trust-node mesh: the chip notes the node its frames go to
    port_.select_node = [](void* c, uint8_t index, const char* reason) {
      FirmwareChip& s = self(c);
      s.node_ = index;
      s.inner_.select_node(s.inner_.ctx, index, reason);
    };
}

void FirmwareChip::emit_boot_banner(nlohmann::json link_fields) {
  std::string banner;
  for (const auto& line : profile_.boot_banner) banner += line + "\n";
  nlohmann::json fields{{"text", banner}, {"model", profile_.model}, {"chip", profile_.chip},
                        {"cpu_mhz", profile_.cpu_mhz}, {"boot_ms", profile_.boot_ms},
                        {"ed25519_sign_us", profile_.ed25519_sign_us()}};
  fields.update(link_fields);
  owner_.emit("boot_banner", std::move(fields));
}

void FirmwareChip::start() {
  node_ = 0;
  boot(cfg_.reset_reason);
  note_state();
  owner_.booted();
}

void FirmwareChip::stop() {
  powered_ = false;
  held_.clear();
}

void FirmwareChip::charge_cpu(double us) {
  const uint64_t now = now_us();
  cpu_free_us_ = std::max(cpu_free_us_, now) + static_cast<uint64_t>(us + 0.5);
}

void FirmwareChip::begin_boot() {
  held_.clear();  // RAM (and the UART driver's queue) is gone
  owner_.ram_lost();
  cpu_free_us_ = now_us() + static_cast<uint64_t>(profile_.boot_ms) * 1000;
}

void FirmwareChip::boot(uint32_t reset_reason) {
  cfg_.reset_reason = reset_reason;
  begin_boot();
  if (iotw_fw_boot(&fw_, &cfg_, &port_) != 0) throw std::runtime_error(name_ + ": NVS not writable");
  powered_ = true;
  wdt_.feed();
}

void FirmwareChip::wipe_ram() {
  volatile uint8_t* ram = reinterpret_cast<volatile uint8_t*>(&fw_);  // RAM (and the secret key) is gone
  for (size_t i = 0; i < sizeof fw_; i++) ram[i] = 0;
}

void FirmwareChip::reset_to(uint32_t reason, const std::vector<std::string>& banner, const char* cause) {
  hung_ = false;
  std::string text;
  for (const auto& line : banner) text += line + "\n";
  owner_.emit("boot_banner", {{"text", text}, {"model", profile_.model}, {"cause", cause}});
  wipe_ram();
  boot(reason);
  owner_.emit("reset", {{"reset_reason", reason}, {"boot_count", fw_.boot_count}, {"cause", cause}});
  note_state();
  owner_.booted();
}

bool FirmwareChip::receive(const uint8_t* bytes, std::size_t len) {
  if (!powered_ || hung_) return false;
  iotw_fw_on_rx(&fw_, bytes, len);
  // The firmware panicked (behaviour reset_on_garbage): its panic handler restarts the chip, a software reset.
  if (state() == IOTW_FW_OFF) reset_to(profile_.sw_reset, profile_.sw_reset_banner, "panic");
  note_state();
  return true;
}

void FirmwareChip::tick() {
  if (!powered_) return;
  if (hung_) {
    if (wdt_.expired()) {
      owner_.emit("watchdog_reset", {{"watchdog", profile_.wdt_name}, {"starved_ms", wdt_.starved_ms()},
                                     {"watchdog_timeout_ms", profile_.wdt_timeout_ms}});
      reset_to(profile_.wdt_reset, profile_.wdt_reset_banner, "watchdog");
    }
    return;
  }
  iotw_fw_poll(&fw_);
  wdt_.feed();
  note_state();
}

void FirmwareChip::release_held() {
  const uint64_t now = now_us();
  std::size_t due = 0;
  while (due < held_.size() && held_[due].due_us <= now) {
    owner_.write(held_[due].node, std::move(held_[due].bytes));
    due++;
  }
  held_.erase(held_.begin(), held_.begin() + static_cast<std::ptrdiff_t>(due));
  if (!held_.empty()) owner_.wake_after(held_.front().due_us - now);
}

int FirmwareChip::send(const uint8_t* bytes, std::size_t len) {
  if (held_.empty() && now_us() >= cpu_free_us_)  // the CPU is idle: out at once
    return owner_.write(node_, std::vector<uint8_t>(bytes, bytes + len)) ? 0 : -1;
  // Still booting or still computing (a signature): the frame leaves when the CPU is done, after those before it.
  held_.push_back({cpu_free_us_, node_, std::vector<uint8_t>(bytes, bytes + len)});
  release_held();
  return 0;
}

void FirmwareChip::reboot() {
  if (!powered_) throw std::runtime_error(name_ + " is not running (powered off?)");
  reset_to(profile_.sw_reset, profile_.sw_reset_banner, "software");
}

void FirmwareChip::hang() {
  if (!powered_) throw std::runtime_error(name_ + " is not running (powered off?)");
  if (hung_) return;
  hung_ = true;
  owner_.emit("hung", {{"watchdog", profile_.wdt_name}, {"watchdog_timeout_ms", profile_.wdt_timeout_ms},
                       {"starved_ms", wdt_.starved_ms()}});
}

void FirmwareChip::skew_clock(int64_t offset_ms, double ppm) {
  const uint64_t starved = wdt_.starved_ms();
  clock_.skew(offset_ms, ppm);
  wdt_.set_starved(starved);  // the step is not time the watchdog counted
  nlohmann::json j = clock_json();
  j["offset_ms"] = offset_ms;
  owner_.emit("clock_skewed", std::move(j));
}

nlohmann::json FirmwareChip::clock_json() const {
  const uint64_t dev = clock_.now_ms();
  return {{"device_ms", dev}, {"true_ms", clock_.base().now_ms()}, {"drift_ms", clock_.drift_ms()},
          {"ppm", clock_.ppm()}, {"uptime_ms", powered_ && dev >= fw_.boot_ms ? dev - fw_.boot_ms : 0}};
}

void FirmwareChip::power_off() {
  powered_ = false;
  hung_ = false;  // a power cycle ends an endless loop
  held_.clear();  // frames waiting for the CPU die with it
  wipe_ram();
  note_state();
}

void FirmwareChip::power_on(uint32_t reset_reason) {
  boot(reset_reason);
  owner_.emit("reset", {{"reset_reason", reset_reason}, {"boot_count", fw_.boot_count}});
  note_state();
  owner_.booted();
}

int64_t FirmwareChip::report_usage(uint64_t energy_mwh, uint32_t on_seconds, uint32_t period_s) {
  if (!powered_) return 0;
  const int64_t rc = iotw_fw_report_usage(&fw_, energy_mwh, on_seconds, period_s);
  note_state();
  return rc;
}

std::size_t FirmwareChip::held_bytes() const {
  std::size_t n = 0;
  for (const Held& h : held_) n += sizeof h + h.bytes.capacity();
  return n;
}

void FirmwareChip::note_state() {
  const iotw_fw_state s = iotw_fw_get_state(&fw_);
  if (s == reported_) return;
  reported_ = s;
  owner_.emit("state", {{"state", state_name(s)}});
}

}  // namespace iotw::emu
