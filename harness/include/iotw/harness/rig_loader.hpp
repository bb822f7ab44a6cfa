// Rig file loader: TOML text -> validated RigSpec (docs/rig-format.md documents every key).
#pragma once
#include <filesystem>
#include <stdexcept>
#include <string_view>

#include "iotw/harness/rig_spec.hpp"

namespace iotw::harness {

/// A rig file that cannot be used. what() is "FILE:LINE:COL: message": a TOML syntax error, an unknown
/// table or key (the message lists the allowed names), a wrong type, a value out of range (the message
/// gives the range) or an inconsistent rig (duplicate device prefix, too many witnesses for the devices).
class RigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Reads and validates a rig file. RigSpec::file is set to `file`; FILE in errors is `file` as given.
/// Throws RigError: "FILE:LINE:COLUMN: message" for what is wrong inside the file, "FILE: cannot read the rig
/// file: <OS reason>" when it cannot be read (missing, no permission, a folder).
RigSpec load_rig(const std::filesystem::path& file);

/// Same as load_rig() for TOML text already in memory; `file` names it in errors and in RigSpec::file.
/// `open_ended_faults`: a fault that must heal (partition, trust_node_stop, brownout, power_loss, ap_down) may
/// lack duration_s; it then lasts until it is ended from outside (an inline step's `end` request,
/// docs/console.md). Rig files are always loaded without it.
RigSpec parse_rig(std::string_view toml_text, const std::filesystem::path& file, bool open_ended_faults = false);

}  // namespace iotw::harness
