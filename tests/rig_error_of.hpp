// Rig-loader tests: the message a rig text is refused with (the one helper every such test shares).
#pragma once
#include <string>

#include "iotw/harness/rig_loader.hpp"

/// The message of the RigError that parse_rig throws for `text` (named "x.toml", so messages read "x.toml:LINE:
/// ..."), or "" when the text is accepted.
inline std::string error_of(const std::string& text) {
  try {
    iotw::harness::parse_rig(text, "x.toml");
  } catch (const iotw::harness::RigError& e) {
    return e.what();
  }
  return "";
}
