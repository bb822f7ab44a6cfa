// `iotw ports [--json]`, `iotw certify keygen [-o FILE]`, `iotw certify verify DIR [--certifier HEX]` and the
// certification run `iotw certify --dut SPEC --profile PROFILE ...` (docs/certification.md). Exit codes: docs/cli.md.
#pragma once
#include <filesystem>
#include <ostream>
#include <string>

#include <CLI/CLI.hpp>

#include "iotw/certify/certify_run.hpp"

namespace iotw::certify {

class CertifyCommand {
 public:
  /// Registers `ports` and `certify` (with `keygen` and `verify`) on app.
  explicit CertifyCommand(CLI::App& app);

  /// True when the command line chose `ports` or `certify`.
  bool parsed() const;

  /// ports: the table (or a JSON array with --json) on out, exit 0; exit 3 when enumeration fails.
  /// keygen: writes the key file (default certifier.key), prints "public key: HEX", exit 0; exit 2 when the file
  /// exists, 3 when it cannot be written. verify: "valid: N files, certifier HEX" exit 0, "invalid: <first
  /// problem>" exit 1, "unreadable: <why>" exit 2. The run and --list: run_certification / list_tests.
  int run(std::ostream& out, std::ostream& err) const;

 private:
  CLI::App* ports_ = nullptr;
  CLI::App* certify_ = nullptr;
  CLI::App* keygen_ = nullptr;
  CLI::App* verify_ = nullptr;
  bool json_ = false;
  std::filesystem::path key_out_ = "certifier.key";
  std::filesystem::path verify_dir_;
  std::string expected_key_;
  CertifyOptions run_;
  bool list_ = false;
  std::uint64_t seed_ = 0;
  CLI::Option* seed_opt_ = nullptr;
};

}  // namespace iotw::certify
