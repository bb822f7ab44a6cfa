#include "ledger_command.hpp"

#include <sodium.h>

#include <array>
#include <optional>
#include <sstream>
#include <system_error>
#include <vector>

#include "iotw/cli/read_file.hpp"
#include "iotw/exit_code.hpp"
#include "iotw/harness/ledger_verifier.hpp"
#include "iotw/support/hex.hpp"

namespace iotw::harness {
namespace {

/// The node's public key from --node-key-file: 64 hex digits (surrounding whitespace ignored; what
/// `iotw-trust-node --print-node-pubkey` prints), or the node's own 32-byte key file (the Ed25519 seed, as in a
/// rig run folder's node.key), whose public key is derived.
std::optional<std::array<std::uint8_t, 32>> key_from_file(const std::string& text) {
  if (text.size() == 32) {
    std::array<std::uint8_t, 32> pk{};
    std::array<std::uint8_t, 64> sk{};
    crypto_sign_seed_keypair(pk.data(), sk.data(), reinterpret_cast<const std::uint8_t*>(text.data()));
    sodium_memzero(sk.data(), sk.size());
    return pk;
  }
  const auto b = text.find_first_not_of(" \t\r\n"), e = text.find_last_not_of(" \t\r\n");
  if (b == std::string::npos) return std::nullopt;
  return from_hex<32>(text.substr(b, e - b + 1), HexCase::any);
}

}  // namespace

LedgerCommand::LedgerCommand(CLI::App& app) {
  ledger_ = app.add_subcommand("ledger", "Exported ledgers (ledger.jsonl, docs/protocol.md §8)");
  ledger_->require_subcommand(1);
  verify_ = ledger_->add_subcommand(
      "verify",
      "Check every numbered rule of docs/protocol.md §8: prints one line, \"valid: ...\", \"unbound: ...\" (a "
      "ledger without finalization records or signed tip) or \"invalid: rule R at height H: ...\". Exit 0 valid, "
      "1 invalid or unbound, 2 unreadable");
  verify_->add_option("FILE", file_, "ledger.jsonl")->required();
  auto* key = verify_->add_option("--node-key", node_key_,
                                  "The trust node's Ed25519 public key, 64 hex digits (iotw-trust-node "
                                  "--print-node-pubkey). Without a key the node signatures are checked under the "
                                  "key the tip names, which shows consistency, not who signed");
  verify_->add_option("--node-key-file", node_key_file_,
                      "A file with that public key in hex, or the node's 32-byte key file (a run folder's node.key)")
      ->excludes(key);
}

bool LedgerCommand::parsed() const { return ledger_->parsed(); }

int LedgerCommand::run(std::ostream& out, std::ostream& err) const {
  if (sodium_init() < 0) {
    err << "error: libsodium failed to initialise\n";
    return kExitCouldNotRun;
  }
  LedgerVerifyOptions opt;
  if (!node_key_.empty()) {
    opt.node_key = from_hex<32>(node_key_, HexCase::any);
    if (!opt.node_key) {
      err << "error: --node-key: expected 64 hex digits (a 32-byte Ed25519 public key)\n";
      return kExitUsage;
    }
  } else if (!node_key_file_.empty()) {
    try {
      opt.node_key = key_from_file(cli::read_file(node_key_file_));
    } catch (const std::system_error& e) {
      err << "error: --node-key-file: " << e.what() << "\n";
      return kExitUsage;
    }
    if (!opt.node_key) {
      err << "error: --node-key-file: " << node_key_file_
          << " holds neither 64 hex digits nor a 32-byte node key file\n";
      return kExitUsage;
    }
  }
  std::string text;
  try {
    text = cli::read_file(file_);
  } catch (const std::system_error& e) {
    out << "unreadable: " << e.what() << "\n";
    return kExitUsage;
  }
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  const LedgerVerdict v = verify_ledger_text(lines, opt);
  const std::string key = v.node_key ? *v.node_key : "none";
  switch (v.status) {
    case LedgerStatus::valid:
      out << "valid: " << v.blocks_checked << " blocks, tip at height " << v.blocks_checked - 1 << ", node key "
          << key << (v.node_key_pinned ? " (pinned)" : " (not pinned: read from the tip; pass --node-key)") << "\n";
      return kExitPass;
    case LedgerStatus::unbound:
      out << "unbound: " << v.blocks_checked << " blocks, " << v.unbound_reason
          << "; every other rule holds, but the node's signatures do not cover them\n";
      return kExitFail;
    case LedgerStatus::invalid: {
      const LedgerIssue& f = *v.first;
      const std::string prefix = "height " + std::to_string(f.height) + ": ";
      const std::string what = f.what.rfind(prefix, 0) == 0 ? f.what.substr(prefix.size()) : f.what;
      out << "invalid: rule " << f.rule << " at height " << f.height << ": " << what << " (" << v.errors.size()
          << " problem" << (v.errors.size() == 1 ? "" : "s") << " in all)\n";
      return kExitFail;
    }
  }
  return kExitFail;
}

}  // namespace iotw::harness
