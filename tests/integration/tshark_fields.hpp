// Reads a capture back with the real tshark and the project's Lua dissector (tools/wireshark/iotw.lua).
// Uses IOTW_TSHARK (tshark's path) and IOTW_WIRESHARK_LUA from tests/test_paths.hpp.
#pragma once
#include <gtest/gtest.h>

#include "iotw/support/process.hpp"

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

namespace iotw::test {

/// `tshark -X lua_script:iotw.lua -r FILE -T fields -e ...`: one vector of columns per packet (each resized to
/// fields.size(); a field absent from a packet is ""). A tshark exit code other than 0 fails the test.
inline std::vector<std::vector<std::string>> tshark_fields(const std::filesystem::path& pcap,
                                                           const std::vector<std::string>& fields) {
  std::vector<std::string> args = {"-X", std::string("lua_script:") + IOTW_WIRESHARK_LUA, "-r", pcap.string(), "-T", "fields",
                                   "-E", "separator=|"};
  for (const auto& f : fields) {
    args.push_back("-e");
    args.push_back(f);
  }
  const CapturedRun r = run_captured(IOTW_TSHARK, args, Stderr::discard);
  EXPECT_EQ(r.code, 0);
  std::vector<std::vector<std::string>> rows;
  std::stringstream out(r.output);
  for (std::string line; std::getline(out, line);) {
    std::vector<std::string> cols;
    std::stringstream ss(line);
    for (std::string col; std::getline(ss, col, '|');) cols.push_back(col);
    cols.resize(fields.size());
    rows.push_back(cols);
  }
  return rows;
}

}  // namespace iotw::test
