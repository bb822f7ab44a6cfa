// The named device behaviours: the Byzantine devices of docs/faults.md and the certification mutants of
// docs/certification.md, in one registry that the emulator (pool files, `iotw-emu --mutant`) and the harness (rig
// files) both read. Each behaviour sets exactly one flag; the layer that owns the flag acts on it.
#pragma once
#include <string>
#include <string_view>
#include <vector>

extern "C" {
#include "iotw/firmware.h"
}

namespace iotw::emu {

/// Where a behaviour's defect lives, which decides the devices it can apply to.
enum class BehaviourLayer {
  none,       ///< "honest"
  firmware,   ///< the firmware core (iotw_fw_faults): any device that runs the firmware
  host,       ///< the chip around the firmware (ports/host's NVS): any device that runs the firmware
  modbus,     ///< the DPS chip's Modbus register map: model dps
  at_module,  ///< the Wi-Fi module's AT command set: AT mode (pool mode = "at", `iotw-emu MODEL --at`)
};

/// The flags a behaviour sets. All zero = honest.
struct BehaviourFlags {
  iotw_fw_faults fw{};               ///< the firmware core's fault flags (firmware.h)
  bool no_nvs = false;               ///< host port: NVS in RAM only, lost at every (re)boot (a new key each boot)
  bool modbus_off_by_one = false;    ///< dps: every register read is served from the next address
  bool at_wrong_terminator = false;  ///< AT module: every "\r\n" it prints becomes "\n" (payload bytes untouched)
};

struct DeviceBehaviour {
  std::string_view name;
  BehaviourLayer layer;
  std::string_view bug;          ///< one line: what the device does wrong ("" for honest)
  void (*set)(BehaviourFlags&);  ///< sets its one flag (no-op for honest)
};

/// Every behaviour, "honest" first.
const std::vector<DeviceBehaviour>& device_behaviour_table();
/// Their names in table order: what a pool file's `behaviour`, a rig's `behaviour` and `--mutant` accept.
const std::vector<std::string>& device_behaviours();
/// The entry called name. Throws std::invalid_argument("unknown behaviour 'X'") for any other name.
const DeviceBehaviour& device_behaviour(std::string_view name);
/// The flags name sets. Throws std::invalid_argument for an unknown name.
BehaviourFlags behaviour_flags(std::string_view name);
/// "" when behaviour name can apply to a device of model ("esp8266", "dps", ...) in mode ("soc" on a serial link,
/// "tap" SoC over TAP, "at") that runs the firmware (has_firmware); else why not, e.g. "behaviour
/// 'modbus_off_by_one' is a defect of the DPS chip's Modbus map; model 'esp32' has none". Host-layer behaviours
/// (no_nvs) exist in mode "soc" only. Throws std::invalid_argument for an unknown name.
std::string behaviour_mismatch(std::string_view name, const std::string& model, const std::string& mode,
                               bool has_firmware = true);

}  // namespace iotw::emu
