// Tests of pool files: the error load_pool_config gives for a pool file's text.
#pragma once
#include <filesystem>
#include <fstream>
#include <string>

#include "pool_config.hpp"

namespace iotw::emu::test {

/** Writes `text` to `file` (replacing it) and loads it: PoolConfigError's message, or "" when it loads. */
inline std::string pool_config_error(const std::filesystem::path& file, const std::string& text) {
  std::ofstream(file) << text;
  try {
    load_pool_config(file);
  } catch (const PoolConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace iotw::emu::test
