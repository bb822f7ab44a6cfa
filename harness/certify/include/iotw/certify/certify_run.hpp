// `iotw certify --dut SPEC --profile PROFILE ...`: one certification run (docs/certification.md "The certification
// run"): starts the reference trust node, relays the DUT's link through the Engine, runs the profile's CERT tests
// and writes the run folder (report.json, logs/, junit.xml, report.html, config.json, trust_node.toml, dut.json,
// and manifest.json / manifest.sig when a certifier key is given).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace iotw::certify {

struct CertifyOptions {
  std::string dut;                                   ///< the --dut SPEC (parsed by the run)
  std::string profile = "soc";                       ///< soc | at-esp | at-realtek | dps | bulb
  std::filesystem::path out;                         ///< run folder; empty = runs/certify-<profile>-<UTC stamp>-<seed>
  std::filesystem::path key;                         ///< certifier key; empty = the report is not signed
  std::vector<std::string> only;                     ///< CERT ids to run; empty = every test of the profile
  std::string reset_cmd;                             ///< run through /bin/sh -c to reset the DUT
  std::string power_cmd;                             ///< `CMD off|on|brownout` through /bin/sh -c (soc, dps, bulb)
  std::string modbus;                                ///< --modbus (parse_modbus_target); empty: CERT-081/082 not_run
  std::string lan;                                   ///< --lan (parse_lan_target); empty: CERT-085 not_run
  double usage_period_s = 60;                        ///< the DUT's UsageReport period, seconds (> 0)
  std::optional<std::uint64_t> seed;                 ///< nonces, headers, fuzz; default: random, printed
  double fuzz_s = 20;                                ///< CERT-070's length in seconds (> 0)
  std::filesystem::path node_key;                    ///< the trust node's key file (32 raw bytes; created if absent)
  std::string wifi_ssid;                             ///< the access point an AT module joins (CERT-091, 092, 096, 097); empty: not_run
  std::string wifi_password;                         ///< its password (empty: an open network)
  std::filesystem::path bin_dir;                     ///< holds iotw-trust-node
  std::string command_line;                          ///< for config.json
};

/// `--list`: the profile's built tests, one line each ("CERT-001  bad CRC ignored  <rule>"). Exit 0, or 2 for an
/// unknown profile.
int list_tests(const std::string& profile, std::ostream& out, std::ostream& err);

/// The run. Exit codes (docs/cli.md): 0 every selected test that could run passed, 1 one failed, 2 usage or
/// configuration error (unknown profile or id, bad --dut, unknown port: the message lists the ports), 3 the run
/// could not start (the port is held by another process, the trust node would not start).
int run_certification(const CertifyOptions& options, std::ostream& out, std::ostream& err);

}  // namespace iotw::certify
