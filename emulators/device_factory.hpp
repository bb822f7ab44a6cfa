// The one place where a pool file's [[device]] becomes a device (docs/emulators.md "Devices"): its model, mode and
// keys map to a DeviceKind (device_kind) and to the class that implements common/device.hpp for that kind
// (make_device). iotw-emu's pool holds the results in one list; nothing else compares model names to pick a kind.
#pragma once
#include <boost/asio.hpp>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/device.hpp"
#include "common/event_log.hpp"
#include "common/pool_config.hpp"

namespace iotw::emu {

/// A validated spec's kind (load_pool_config checked its keys): model qemu-cortex-m3 -> qemu; a `tap` key -> a TAP
/// module; mode "at" -> an AT-mode appliance; model dps -> dps, bulb -> bulb; else (esp8266, esp32) a SoC module.
DeviceKind device_kind(const DeviceSpec& spec);

/// What devices of a pool share: its loop, event stream and clock, the access point its AT-mode modules join, and
/// what a TAP module's child process is started with (`exe --config config --device NAME`).
struct PoolContext {
  boost::asio::io_context& io;
  EventLog& log;
  const Clock& clock;
  AccessPoint access_point;
  std::string exe;     ///< iotw-emu itself (/proc/self/exe), for TAP modules
  std::string config;  ///< the pool file, for TAP modules
};

/// The device for one [[device]] of the pool, not started. Throws std::invalid_argument on a spec its kind
/// refuses (a bad behaviour, model, endpoint) and std::runtime_error when a resource it opens at construction
/// cannot be had (a QEMU device's log PTY).
std::unique_ptr<Device> make_device(const DeviceSpec& spec, const PoolContext& pool);

/// make_device for every device of `cfg`, in the file's order.
std::vector<std::unique_ptr<Device>> make_devices(const PoolConfig& cfg, const PoolContext& pool);

}  // namespace iotw::emu
