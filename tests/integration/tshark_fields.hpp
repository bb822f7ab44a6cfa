// Reads a capture back with the real tshark, the project's Lua dissector (tools/wireshark/iotw.lua: framing,
// CRC-32, direction) and Wireshark's protobuf dissector on protocol/proto/iotw.proto (the Envelope's fields as
// pbf.iotw.v1.<Message>.<field>). Uses IOTW_TSHARK, IOTW_WIRESHARK_LUA, IOTW_PROTO_DIR and IOTW_NANOPB_PROTO_DIR
// from tests/test_paths.hpp; the tshark options are the ones docs/faults.md gives.
#pragma once
#include <gtest/gtest.h>

#include "iotw/support/process.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace iotw::test {

/// `tshark -X lua_script:iotw.lua -o <protobuf search paths, preferences> -r FILE -T fields -e ...`: one vector of
/// columns per packet (each resized to fields.size(); a field absent from a packet is ""). A tshark exit code
/// other than 0, or a protobuf error on its stderr (the schema did not load), fails the test.
inline std::vector<std::vector<std::string>> tshark_fields(const std::filesystem::path& pcap,
                                                           const std::vector<std::string>& fields) {
  std::vector<std::string> args = {"-X", std::string("lua_script:") + IOTW_WIRESHARK_LUA,
                                   "-o", std::string("uat:protobuf_search_paths:\"") + IOTW_PROTO_DIR + "\",\"TRUE\"",
                                   "-o", std::string("uat:protobuf_search_paths:\"") + IOTW_NANOPB_PROTO_DIR + "\",\"FALSE\"",
                                   "-o", "protobuf.preload_protos:TRUE", "-o", "protobuf.pbf_as_hf:TRUE",
                                   "-r", pcap.string(), "-T", "fields", "-E", "separator=|"};
  for (const auto& f : fields) {
    args.push_back("-e");
    args.push_back(f);
  }
  const std::filesystem::path err_file = pcap.string() + ".tshark.stderr";
  const CapturedRun r = run_captured(IOTW_TSHARK, args, err_file);
  std::vector<std::vector<std::string>> rows;
  std::stringstream out(r.output);
  for (std::string line; std::getline(out, line);) {
    std::vector<std::string> cols;
    std::stringstream ss(line);
    for (std::string col; std::getline(ss, col, '|');) cols.push_back(col);
    cols.resize(fields.size());
    rows.push_back(cols);
  }
  std::ifstream err_in(err_file);
  const std::string err((std::istreambuf_iterator<char>(err_in)), std::istreambuf_iterator<char>());
  std::filesystem::remove(err_file);
  EXPECT_EQ(r.code, 0) << err;
  EXPECT_EQ(err.find("Protobuf"), std::string::npos) << err;
  return rows;
}

/// The Envelope member's message type in a `protobuf.message.name` column ("iotw.v1.Envelope,iotw.v1.Hello" ->
/// "Hello"); "" when the packet holds no decoded member (a broken frame).
inline std::string envelope_member(const std::string& message_names) {
  const std::string prefix = "iotw.v1.Envelope,iotw.v1.";
  return message_names.rfind(prefix, 0) == 0 ? message_names.substr(prefix.size()) : "";
}

}  // namespace iotw::test
