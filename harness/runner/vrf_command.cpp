#include "vrf_command.hpp"

#include <sodium.h>

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "iotw/ecvrf.h"
#include "iotw/exit_code.hpp"
#include "iotw/support/hex.hpp"

namespace iotw::harness {
namespace {

using Bytes = std::vector<std::uint8_t>;

/// Strict hex (no prefix, no separators; either case); want_len 0 = any length. Writes "error: ..." to err on
/// failure.
std::optional<Bytes> parse_hex(const std::string& name, const std::string& hex, std::size_t want_len,
                               std::ostream& err) {
  auto out = from_hex(hex, HexCase::any);
  if (!out) {
    if (hex.size() % 2 != 0)
      err << "error: " << name << ": odd number of hex digits (" << hex.size() << ")\n";
    else
      err << "error: " << name << ": not a hex digit at position " << hex.find_first_not_of("0123456789abcdefABCDEF")
          << "\n";
    return std::nullopt;
  }
  if (want_len != 0 && out->size() != want_len) {
    err << "error: " << name << ": expected " << want_len << " bytes (" << 2 * want_len << " hex digits), got "
        << out->size() << "\n";
    return std::nullopt;
  }
  return out;
}

}  // namespace

VrfCommand::VrfCommand(CLI::App& app) {
  vrf_ = app.add_subcommand("vrf", "RFC 9381 ECVRF over edwards25519 (suites TAI and ELL2); see docs/vrf.md");
  vrf_->require_subcommand(1);
  const auto suite_opt = [this](CLI::App* c) {
    c->add_option("--suite", suite_, "tai = ECVRF-EDWARDS25519-SHA512-TAI, ell2 = ECVRF-EDWARDS25519-SHA512-ELL2")
        ->required()
        ->check(CLI::IsMember({"tai", "ell2"}));
    c->add_option("--alpha", alpha_, "VRF input, hex (\"\" = empty)")->required();
  };
  prove_ = vrf_->add_subcommand("prove", "Prints pk, pi (80 bytes) and beta (64 bytes) in hex. Exit 0, 2 bad input");
  suite_opt(prove_);
  prove_->add_option("--sk", sk_, "Ed25519 secret seed, 32 bytes hex")->required();
  verify_ = vrf_->add_subcommand(
      "verify", "Prints beta for a valid proof (exit 0), \"rejected: REASON\" otherwise (exit 1); 2 bad input");
  suite_opt(verify_);
  verify_->add_option("--pk", pk_, "Public key, 32 bytes hex")->required();
  verify_->add_option("--pi", pi_, "Proof, 80 bytes hex")->required();
}

bool VrfCommand::parsed() const { return vrf_->parsed(); }

int VrfCommand::run(std::ostream& out, std::ostream& err) const {
  if (sodium_init() < 0) {
    err << "error: libsodium failed to initialise\n";
    return kExitCouldNotRun;
  }
  const auto suite = suite_ == "tai" ? IOTW_ECVRF_TAI : IOTW_ECVRF_ELL2;
  const auto alpha = parse_hex("--alpha", alpha_, 0, err);
  if (!alpha) return kExitUsage;
  std::array<std::uint8_t, IOTW_ECVRF_OUTPUT_BYTES> beta{};
  if (prove_->parsed()) {
    auto sk = parse_hex("--sk", sk_, IOTW_ECVRF_SK_BYTES, err);
    if (!sk) return kExitUsage;
    std::array<std::uint8_t, IOTW_ECVRF_PK_BYTES> pk{};
    std::array<std::uint8_t, IOTW_ECVRF_PROOF_BYTES> pi{};
    iotw_ecvrf_public_key(pk.data(), sk->data());
    const auto st = iotw_ecvrf_prove(suite, pi.data(), sk->data(), alpha->data(), alpha->size());
    sodium_memzero(sk->data(), sk->size());
    if (st != IOTW_ECVRF_OK) {  // only NO_POINT (~2^-256) remains possible here
      err << "error: prove failed: " << iotw_ecvrf_status_str(st) << "\n";
      return kExitCouldNotRun;
    }
    iotw_ecvrf_proof_to_hash(suite, beta.data(), pi.data());
    out << "pk: " << to_hex(pk.data(), pk.size()) << "\npi: " << to_hex(pi.data(), pi.size())
        << "\nbeta: " << to_hex(beta.data(), beta.size()) << "\n";
    return kExitPass;
  }
  const auto pk = parse_hex("--pk", pk_, IOTW_ECVRF_PK_BYTES, err);
  if (!pk) return kExitUsage;
  const auto pi = parse_hex("--pi", pi_, IOTW_ECVRF_PROOF_BYTES, err);
  if (!pi) return kExitUsage;
  const auto st = iotw_ecvrf_verify(suite, beta.data(), pk->data(), pi->data(), alpha->data(), alpha->size());
  if (st != IOTW_ECVRF_OK) {
    out << "rejected: " << iotw_ecvrf_status_str(st) << "\n";
    return kExitFail;
  }
  out << "beta: " << to_hex(beta.data(), beta.size()) << "\n";
  return kExitPass;
}

}  // namespace iotw::harness
