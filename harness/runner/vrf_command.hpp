// `iotw vrf prove|verify`: RFC 9381 ECVRF (crypto/include/iotw/ecvrf.h) from the command line, so partners can
// check their device's VRF against ours (docs/vrf.md).
#pragma once
#include <ostream>
#include <string>

#include <CLI/CLI.hpp>

namespace iotw::harness {

class VrfCommand {
 public:
  /// Registers `vrf prove` and `vrf verify` on app.
  explicit VrfCommand(CLI::App& app);

  /// True when the command line chose `vrf`.
  bool parsed() const;

  /// prove: prints "pk: HEX", "pi: HEX" (80 bytes), "beta: HEX" (64 bytes), exit 0.
  /// verify: prints "beta: HEX" and exits 0, or "rejected: REASON" and exits 1.
  /// Bad hex or a wrong length: "error: ..." on err, exit 2.
  int run(std::ostream& out, std::ostream& err) const;

 private:
  CLI::App* vrf_ = nullptr;
  CLI::App* prove_ = nullptr;
  CLI::App* verify_ = nullptr;
  std::string suite_, sk_, pk_, alpha_, pi_;
};

}  // namespace iotw::harness
