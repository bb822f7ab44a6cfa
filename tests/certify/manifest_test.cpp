// The signed manifest of a certification report: a report verifies offline; any change to any file, a file
// added or removed, a re-signed manifest under another key, or a broken signature is caught and named.
#include "iotw/certify/manifest.hpp"

#include <sodium.h>
#include <unistd.h>

#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "iotw/support/hex.hpp"

namespace iotw::certify {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using Status = ManifestCheck::Status;

void put(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

std::string get(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct Report : ::testing::Test {
  fs::path dir = fs::temp_directory_path() / ("iotw-manifest-" + std::to_string(::getpid()) + "-" +
                                              ::testing::UnitTest::GetInstance()->current_test_info()->name());
  CertifierSeed seed{};
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    fs::remove_all(dir);
    put(dir / "report.json", R"({"tests": [{"id": "CERT-001", "verdict": "pass"}]})");
    put(dir / "junit.xml", "<testsuites/>\n");
    put(dir / "logs" / "CERT-001.log", "frames\n");
    for (std::size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<std::uint8_t>(i + 1);
    write_manifest(dir, seed);
  }
  void TearDown() override { fs::remove_all(dir); }
};

TEST_F(Report, VerifiesAndNamesItsCertifier) {
  const ManifestCheck c = verify_manifest(dir);
  EXPECT_EQ(c.status, Status::Valid) << c.detail;
  EXPECT_EQ(c.certifier_public_key, to_hex(public_key_of(seed)));
  EXPECT_THAT(c.detail, HasSubstr("3 files"));
  EXPECT_EQ(verify_manifest(dir, to_hex(public_key_of(seed))).status, Status::Valid);
  const auto m = nlohmann::json::parse(get(dir / "manifest.json"));
  ASSERT_EQ(m["files"].size(), 3u);
  EXPECT_EQ(m["files"][1]["path"], "logs/CERT-001.log") << "relative, '/'-separated, sorted";
  // The signature is Ed25519 over the domain, a 0x00 and manifest.json's bytes: checkable without our code.
  const auto sig = nlohmann::json::parse(get(dir / "manifest.sig"));
  const std::string msg = std::string(kManifestDomain) + '\0' + get(dir / "manifest.json");
  const auto s = from_hex<64>(sig["signature"].get<std::string>());
  const auto pk = from_hex<32>(sig["public_key"].get<std::string>());
  ASSERT_TRUE(s && pk);
  EXPECT_EQ(crypto_sign_verify_detached(s->data(), reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), pk->data()), 0);
}

TEST_F(Report, AChangedFileIsNamed) {
  put(dir / "report.json", R"({"tests": [{"id": "CERT-001", "verdict": "fail"}]})");
  const ManifestCheck c = verify_manifest(dir);
  EXPECT_EQ(c.status, Status::Invalid);
  EXPECT_EQ(c.detail, "report.json: SHA-256 differs from the manifest");
}

TEST_F(Report, AnAddedOrRemovedFileIsNamed) {
  put(dir / "logs" / "extra.log", "x");
  EXPECT_EQ(verify_manifest(dir).detail, "logs/extra.log: not in the manifest");
  fs::remove(dir / "logs" / "extra.log");
  fs::remove(dir / "junit.xml");
  const ManifestCheck c = verify_manifest(dir);
  EXPECT_EQ(c.status, Status::Invalid);
  EXPECT_EQ(c.detail, "junit.xml: missing");
}

TEST_F(Report, AnEditedManifestOrSignatureFails) {
  std::string m = get(dir / "manifest.json");
  m.replace(m.find("report.json"), 11, "report.jsoN");
  put(dir / "manifest.json", m);
  EXPECT_EQ(verify_manifest(dir).detail, "manifest.json: the signature in manifest.sig does not verify");
}

TEST_F(Report, ReSignedUnderAnotherKeyIsValidOnlyWithoutAnExpectedCertifier) {
  const std::string honest = to_hex(public_key_of(seed));
  put(dir / "report.json", R"({"tests": [{"id": "CERT-001", "verdict": "pass", "forged": true}]})");
  CertifierSeed other{};
  other[0] = 0xee;
  write_manifest(dir, other);
  EXPECT_EQ(verify_manifest(dir).status, Status::Valid) << "self-consistent; the key tells who signed";
  const ManifestCheck c = verify_manifest(dir, honest);
  EXPECT_EQ(c.status, Status::Invalid);
  EXPECT_THAT(c.detail, HasSubstr("not by the expected certifier " + honest));
}

TEST_F(Report, UnreadableFolders) {
  EXPECT_EQ(verify_manifest(dir / "nope").status, Status::Unreadable);
  fs::remove(dir / "manifest.sig");
  EXPECT_EQ(verify_manifest(dir).status, Status::Unreadable);
  put(dir / "manifest.sig", "not json");
  EXPECT_EQ(verify_manifest(dir).status, Status::Unreadable);
}

TEST(CertifierKey, WrittenOnceWithOwnerOnlyPermissionsAndReadBack) {
  ASSERT_GE(sodium_init(), 0);
  const fs::path p = fs::temp_directory_path() / ("iotw-key-" + std::to_string(::getpid()));
  fs::remove(p);
  const CertifierPubkey pk = generate_certifier_key(p);
  EXPECT_EQ((fs::status(p).permissions() & fs::perms::all), fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(public_key_of(read_certifier_key(p)), pk);
  EXPECT_THROW(generate_certifier_key(p), std::runtime_error) << "never overwritten";
  put(p.string() + ".bad", "zz\n");
  EXPECT_THROW(read_certifier_key(p.string() + ".bad"), std::runtime_error);
  fs::remove(p);
  fs::remove(p.string() + ".bad");
}

}  // namespace
}  // namespace iotw::certify
