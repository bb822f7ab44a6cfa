#include "vrf_command.hpp"

#include <sodium.h>

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "iotw/ecvrf.h"
#include "iotw/exit_code.hpp"

namespace iotw::harness {
namespace {

using Bytes = std::vector<std::uint8_t>;

std::string to_hex(const std::uint8_t* p, std::size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string s;
  s.reserve(2 * n);
  for (std::size_t i = 0; i < n; i++) {
    s += kDigits[p[i] >> 4];
    s += kDigits[p[i] & 15];
  }
  return s;
}

int nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Strict hex (no prefix, no separators); want_len 0 = any length. Writes "error: ..." to err on failure.
std::optional<Bytes> from_hex(const std::string& name, const std::string& hex, std::size_t want_len,
                              std::ostream& err) {
  if (hex.size() % 2 != 0) {
    err << "error: " << name << ": odd number of hex digits (" << hex.size() << ")\n";
    return std::nullopt;
  }
  Bytes out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); i++) {
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      err << "error: " << name << ": not a hex digit at position " << (hi < 0 ? 2 * i : 2 * i + 1) << "\n";
      return std::nullopt;
    }
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  if (want_len != 0 && out.size() != want_len) {
    err << "error: " << name << ": expected " << want_len << " bytes (" << 2 * want_len << " hex digits), got "
        << out.size() << "\n";
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
  const auto alpha = from_hex("--alpha", alpha_, 0, err);
  if (!alpha) return kExitUsage;
  std::array<std::uint8_t, IOTW_ECVRF_OUTPUT_BYTES> beta{};
  if (prove_->parsed()) {
    auto sk = from_hex("--sk", sk_, IOTW_ECVRF_SK_BYTES, err);
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
  const auto pk = from_hex("--pk", pk_, IOTW_ECVRF_PK_BYTES, err);
  if (!pk) return kExitUsage;
  const auto pi = from_hex("--pi", pi_, IOTW_ECVRF_PROOF_BYTES, err);
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
