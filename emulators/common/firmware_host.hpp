// What every emulator runtime that hosts the firmware core needs (DeviceRuntime on a serial link,
// AtAppliance over AT): the event-stream names of the core's log levels and states (docs/events.md, emu
// kinds `log` and `state`), and the firmware/host-port settings that come from a pool file's device entry.
#pragma once
#include <cstring>
#include <stdexcept>
#include <string>

#include "iotw/support/hex.hpp"

extern "C" {
#include "host_port.h"
#include "iotw/firmware.h"
}

namespace iotw::emu {

/// "debug" | "info" | "warn" | "error" (anything else).
inline const char* level_name(iotw_log_level l) {
  switch (l) {
    case IOTW_LOG_DEBUG: return "debug";
    case IOTW_LOG_INFO: return "info";
    case IOTW_LOG_WARN: return "warn";
    default: return "error";
  }
}

/// "hello_sent" | "proving" | "attached" | "off" (booting or powered down).
inline const char* state_name(iotw_fw_state s) {
  switch (s) {
    case IOTW_FW_HELLO_SENT: return "hello_sent";
    case IOTW_FW_PROVING: return "proving";
    case IOTW_FW_ATTACHED: return "attached";
    default: return "off";
  }
}

/// Copies the NVS directory into the host port's fixed buffer (255 bytes + NUL). Throws
/// std::invalid_argument when it does not fit.
inline void set_nvs_dir(const std::string& dir, iotw_host_port_ctx& ctx) {
  if (dir.size() >= sizeof ctx.nvs_dir) throw std::invalid_argument("nvs_dir too long");
  std::strncpy(ctx.nvs_dir, dir.c_str(), sizeof ctx.nvs_dir - 1);
}

/// The device's seed (DeviceSpec::seed, 64 hex characters) into the host port: its random bytes then come from the
/// ports' hash DRBG of that seed. "" leaves the port on the OS's randomness. Throws std::invalid_argument on other
/// text.
inline void set_port_seed(const std::string& seed_hex, iotw_host_port_ctx& ctx) {
  ctx.seeded = 0;
  if (seed_hex.empty()) return;
  const auto seed = from_hex<32>(seed_hex, HexCase::any);
  if (!seed) throw std::invalid_argument("seed must be 64 hex characters");
  std::memcpy(ctx.seed, seed->data(), seed->size());
  ctx.seeded = 1;
}

}  // namespace iotw::emu
