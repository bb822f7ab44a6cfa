// `iotw vrf prove|verify` through the real binary, against the RFC 9381 vectors (tests/data/ecvrf_vectors.txt).
#include <gtest/gtest.h>

#include "iotw_process.hpp"

namespace iotw::test {
namespace {

// RFC 9381 Appendix B.3 example 16 (TAI) and B.4 (ELL2): same key, empty alpha.
const std::string kSk = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const std::string kPk = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const std::string kTaiPi =
    "8657106690b5526245a92b003bb079ccd1a92130477671f6fc01ad16f26f723f26f8a57ccaed74ee1b190bed1f479d9727d2d0f9b005a6e4"
    "56a35d4fb0daab1268a1b0db10836d9826a528ca76567805";
const std::string kTaiBeta =
    "90cf1df3b703cce59e2a35b925d411164068269d7b2d29f3301c03dd757876ff66b71dda49d2de59d03450451af026798e8f81cd2e333de5"
    "cdf4f3e140fdd8ae";
const std::string kEll2Pi =
    "7d9c633ffeee27349264cf5c667579fc583b4bda63ab71d001f89c10003ab46f14adf9a3cd8b8412d9038531e865c341cafa73589b023d14"
    "311c331a9ad15ff2fb37831e00f0acaa6d73bc9997b06501";
const std::string kEll2Beta =
    "9d574bf9b8302ec0fc1e21c3ec5368269527b87b462ce36dab2d14ccf80c53cccf6758f058c5b1c856b116388152bbe509ee3b9ecfe63d"
    "93c3b4346c1fbc6c54";

/// run_iotw in a fresh sub-folder per call: the capture files are opened without truncation.
IotwResult vrf(const std::vector<std::string>& args, const std::filesystem::path& dir) {
  static int n = 0;
  const auto sub = dir / std::to_string(++n);
  std::filesystem::create_directories(sub);
  std::vector<std::string> all{"vrf"};
  all.insert(all.end(), args.begin(), args.end());
  return run_iotw(all, sub);
}

TEST(IotwVrfCli, ProveAndVerifyMatchTheRfcVectors) {
  const auto dir = scratch_dir();
  const auto tai = vrf({"prove", "--suite", "tai", "--sk", kSk, "--alpha", ""}, dir);
  EXPECT_EQ(tai.code, 0) << tai.err;
  EXPECT_EQ(tai.out, "pk: " + kPk + "\npi: " + kTaiPi + "\nbeta: " + kTaiBeta + "\n");
  const auto ell2 = vrf({"prove", "--suite", "ell2", "--sk", kSk, "--alpha", ""}, dir);
  EXPECT_EQ(ell2.code, 0) << ell2.err;
  EXPECT_EQ(ell2.out, "pk: " + kPk + "\npi: " + kEll2Pi + "\nbeta: " + kEll2Beta + "\n");

  const auto v = vrf({"verify", "--suite", "ell2", "--pk", kPk, "--alpha", "", "--pi", kEll2Pi}, dir);
  EXPECT_EQ(v.code, 0) << v.err;
  EXPECT_EQ(v.out, "beta: " + kEll2Beta + "\n");
  std::filesystem::remove_all(dir);
}

TEST(IotwVrfCli, RejectionsExitOneWithTheReason) {
  const auto dir = scratch_dir();
  auto tampered = kTaiPi;
  tampered[70] = tampered[70] == '0' ? '1' : '0';  // inside c
  const auto bad = vrf({"verify", "--suite", "tai", "--pk", kPk, "--alpha", "", "--pi", tampered}, dir);
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(bad.out, "rejected: proof does not verify for this public key and alpha\n");

  const auto alpha = vrf({"verify", "--suite", "tai", "--pk", kPk, "--alpha", "72", "--pi", kTaiPi}, dir);
  EXPECT_EQ(alpha.code, 1);
  const auto suite = vrf({"verify", "--suite", "ell2", "--pk", kPk, "--alpha", "", "--pi", kTaiPi}, dir);
  EXPECT_EQ(suite.code, 1);

  const std::string identity = "01" + std::string(62, '0');
  const auto key = vrf({"verify", "--suite", "tai", "--pk", identity, "--alpha", "", "--pi", kTaiPi}, dir);
  EXPECT_EQ(key.code, 1);
  EXPECT_NE(key.out.find("rejected: invalid public key"), std::string::npos) << key.out;
  std::filesystem::remove_all(dir);
}

TEST(IotwVrfCli, BadHexOrLengthExitsTwoWithAMessage) {
  const auto dir = scratch_dir();
  const auto odd = vrf({"prove", "--suite", "tai", "--sk", kSk + "0", "--alpha", ""}, dir);
  EXPECT_EQ(odd.code, 2);
  EXPECT_NE(odd.err.find("error: --sk: odd number of hex digits"), std::string::npos) << odd.err;
  const auto short_sk = vrf({"prove", "--suite", "tai", "--sk", kSk.substr(2), "--alpha", ""}, dir);
  EXPECT_EQ(short_sk.code, 2);
  EXPECT_NE(short_sk.err.find("error: --sk: expected 32 bytes (64 hex digits), got 31"), std::string::npos)
      << short_sk.err;
  const auto digit = vrf({"prove", "--suite", "tai", "--sk", kSk, "--alpha", "zz"}, dir);
  EXPECT_EQ(digit.code, 2);
  EXPECT_NE(digit.err.find("error: --alpha: not a hex digit at position 0"), std::string::npos) << digit.err;
  const auto pi = vrf({"verify", "--suite", "tai", "--pk", kPk, "--alpha", "", "--pi", kPk}, dir);
  EXPECT_EQ(pi.code, 2);
  EXPECT_NE(pi.err.find("error: --pi: expected 80 bytes"), std::string::npos) << pi.err;
  EXPECT_EQ(pi.out, "");
  EXPECT_EQ(vrf({"prove", "--suite", "rsa", "--sk", kSk, "--alpha", ""}, dir).code, 2);
  EXPECT_EQ(vrf({"prove", "--suite", "tai", "--alpha", ""}, dir).code, 2);  // --sk missing
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace iotw::test
