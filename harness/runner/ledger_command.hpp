// `iotw ledger verify FILE [--node-key HEX | --node-key-file FILE]`: the harness's independent ledger verifier
// (iotw/harness/ledger_verifier.hpp, docs/protocol.md §8) on an exported ledger.jsonl (docs/cli.md).
#pragma once
#include <ostream>
#include <string>

#include <CLI/CLI.hpp>

namespace iotw::harness {

class LedgerCommand {
 public:
  /// Registers `ledger verify` on app.
  explicit LedgerCommand(CLI::App& app);

  /// True when the command line chose `ledger`.
  bool parsed() const;

  /// Prints one verdict line on out: "valid: ...", "unbound: ..." or "invalid: rule R at height H: WHAT" (R from
  /// docs/protocol.md §8, the broken rule with the lowest height, then the lowest number). Exit 0 valid, 1
  /// invalid or unbound, 2 unreadable (the file cannot be read: "unreadable: FILE: reason") or a bad --node-key.
  int run(std::ostream& out, std::ostream& err) const;

 private:
  CLI::App* ledger_ = nullptr;
  CLI::App* verify_ = nullptr;
  std::string file_, node_key_, node_key_file_;
};

}  // namespace iotw::harness
