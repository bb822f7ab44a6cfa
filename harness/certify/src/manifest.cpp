#include "iotw/certify/manifest.hpp"

#include <sodium.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <nlohmann/json.hpp>

#include "iotw/support/hex.hpp"

namespace iotw::certify {
namespace fs = std::filesystem;
namespace {

constexpr const char* kManifest = "manifest.json";
constexpr const char* kSignature = "manifest.sig";
constexpr const char* kFormat = "iotw-cert-manifest/1";

void init_sodium() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium could not be initialised");
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error(p.string() + ": cannot be read");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// SHA-256 of a file, streamed; nullopt when it cannot be read.
std::optional<std::string> sha256_file(const fs::path& p, std::uintmax_t* bytes) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  std::vector<char> buf(1 << 16);
  std::uintmax_t n = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto got = in.gcount();
    if (got > 0) crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(buf.data()), static_cast<unsigned long long>(got));
    n += static_cast<std::uintmax_t>(got);
  }
  if (in.bad()) return std::nullopt;
  std::array<std::uint8_t, crypto_hash_sha256_BYTES> h{};
  crypto_hash_sha256_final(&st, h.data());
  if (bytes) *bytes = n;
  return to_hex(h);
}

std::vector<std::uint8_t> signed_message(const std::string& manifest_bytes) {
  constexpr std::size_t kDomain = sizeof kManifestDomain;  // the text and its 0x00
  std::vector<std::uint8_t> m(kDomain + manifest_bytes.size());
  std::memcpy(m.data(), kManifestDomain, kDomain);
  if (!manifest_bytes.empty()) std::memcpy(m.data() + kDomain, manifest_bytes.data(), manifest_bytes.size());
  return m;
}

/// The folder's files, relative, '/'-separated, sorted; manifest.json and manifest.sig excluded. Throws on a
/// non-regular entry when `refuse_other` is true (writing), skips nothing otherwise.
std::vector<std::string> folder_files(const fs::path& dir, bool refuse_other) {
  std::vector<std::string> out;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
    const fs::file_status st = it->symlink_status();
    if (fs::is_directory(st)) continue;
    const std::string rel = fs::relative(it->path(), dir).generic_string();
    if (rel == kManifest || rel == kSignature) continue;
    if (!fs::is_regular_file(st)) {
      if (refuse_other) throw std::runtime_error(rel + ": not a regular file (a manifest lists regular files only)");
      out.push_back(rel);
      continue;
    }
    out.push_back(rel);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

CertifierPubkey public_key_of(const CertifierSeed& seed) {
  init_sodium();
  CertifierPubkey pk{};
  std::array<std::uint8_t, crypto_sign_SECRETKEYBYTES> sk{};
  crypto_sign_seed_keypair(pk.data(), sk.data(), seed.data());
  sodium_memzero(sk.data(), sk.size());
  return pk;
}

CertifierPubkey generate_certifier_key(const fs::path& path) {
  init_sodium();
  if (fs::exists(fs::symlink_status(path))) throw std::runtime_error(path.string() + " exists; a key file is never overwritten");
  CertifierSeed seed{};
  randombytes_buf(seed.data(), seed.size());
  {
    const mode_t old = ::umask(077);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    ::umask(old);
    if (!out) throw std::runtime_error(path.string() + ": cannot be written");
    out << to_hex(seed) << '\n';
    out.close();
    if (!out) throw std::runtime_error(path.string() + ": cannot be written");
  }
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
  const CertifierPubkey pk = public_key_of(seed);
  sodium_memzero(seed.data(), seed.size());
  return pk;
}

CertifierSeed read_certifier_key(const fs::path& path) {
  std::string text = read_all(path);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  const auto seed = from_hex<32>(text, HexCase::any);
  if (!seed) throw std::runtime_error(path.string() + ": not a certifier key (64 hex digits; make one with `iotw certify keygen`)");
  return *seed;
}

void write_manifest(const fs::path& dir, const CertifierSeed& seed) {
  init_sodium();
  const CertifierPubkey pk = public_key_of(seed);
  nlohmann::ordered_json files = nlohmann::ordered_json::array();
  for (const std::string& rel : folder_files(dir, true)) {
    std::uintmax_t bytes = 0;
    const auto h = sha256_file(dir / rel, &bytes);
    if (!h) throw std::runtime_error((dir / rel).string() + ": cannot be read");
    files.push_back({{"path", rel}, {"bytes", bytes}, {"sha256", *h}});
  }
  const nlohmann::ordered_json manifest{{"format", kFormat}, {"certifier_public_key", to_hex(pk)}, {"files", files}};
  const std::string text = manifest.dump(2) + "\n";
  {
    std::ofstream out(dir / kManifest, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) throw std::runtime_error((dir / kManifest).string() + ": cannot be written");
  }
  std::array<std::uint8_t, crypto_sign_SECRETKEYBYTES> sk{};
  CertifierPubkey pk2{};
  crypto_sign_seed_keypair(pk2.data(), sk.data(), seed.data());
  const auto msg = signed_message(text);
  std::array<std::uint8_t, crypto_sign_BYTES> sig{};
  crypto_sign_detached(sig.data(), nullptr, msg.data(), msg.size(), sk.data());
  sodium_memzero(sk.data(), sk.size());
  const nlohmann::ordered_json s{{"algorithm", "ed25519"}, {"public_key", to_hex(pk)}, {"signature", to_hex(sig)}};
  std::ofstream out(dir / kSignature, std::ios::binary | std::ios::trunc);
  out << s.dump(2) << '\n';
  out.close();
  if (!out) throw std::runtime_error((dir / kSignature).string() + ": cannot be written");
}

ManifestCheck verify_manifest(const fs::path& dir, const std::string& expected) {
  ManifestCheck c;
  using S = ManifestCheck::Status;
  std::string manifest_text, sig_text;
  try {
    if (!fs::is_directory(dir)) {
      c.detail = dir.string() + ": not a folder";
      return c;
    }
    manifest_text = read_all(dir / kManifest);
    sig_text = read_all(dir / kSignature);
  } catch (const std::exception& e) {
    c.detail = e.what();
    return c;
  }
  init_sodium();
  const auto sig_json = nlohmann::json::parse(sig_text, nullptr, false);
  if (!sig_json.is_object() || sig_json.value("algorithm", "") != "ed25519" || !sig_json.contains("public_key") ||
      !sig_json["public_key"].is_string() || !sig_json.contains("signature") || !sig_json["signature"].is_string()) {
    c.detail = "manifest.sig: not {\"algorithm\": \"ed25519\", \"public_key\": HEX, \"signature\": HEX}";
    return c;
  }
  const auto pk = from_hex<32>(sig_json["public_key"].get<std::string>(), HexCase::lower);
  const auto sig = from_hex<64>(sig_json["signature"].get<std::string>(), HexCase::lower);
  if (!pk || !sig) {
    c.detail = "manifest.sig: public_key must be 64 and signature 128 lower-case hex digits";
    return c;
  }
  c.certifier_public_key = to_hex(*pk);
  const auto manifest = nlohmann::json::parse(manifest_text, nullptr, false);
  if (!manifest.is_object() || manifest.value("format", "") != kFormat || !manifest.contains("files") ||
      !manifest["files"].is_array()) {
    c.detail = std::string("manifest.json: not a manifest (format \"") + kFormat + "\" with a files array)";
    return c;
  }
  c.status = S::Invalid;
  const auto msg = signed_message(manifest_text);
  if (crypto_sign_verify_detached(sig->data(), msg.data(), msg.size(), pk->data()) != 0) {
    c.detail = "manifest.json: the signature in manifest.sig does not verify";
    return c;
  }
  if (manifest.value("certifier_public_key", "") != c.certifier_public_key) {
    c.detail = "manifest.json: certifier_public_key is not the key that signed it";
    return c;
  }
  if (!expected.empty() && expected != c.certifier_public_key) {
    c.detail = "manifest.sig: signed by " + c.certifier_public_key + ", not by the expected certifier " + expected;
    return c;
  }
  std::vector<std::string> listed;
  for (const auto& f : manifest["files"]) {
    if (!f.is_object() || !f.contains("path") || !f["path"].is_string() || !f.contains("sha256") || !f["sha256"].is_string() ||
        !f.contains("bytes") || !f["bytes"].is_number_unsigned()) {
      c.detail = "manifest.json: a files entry is not {path, bytes, sha256}";
      return c;
    }
    const std::string rel = f["path"].get<std::string>();
    if (rel.empty() || rel.front() == '/' || rel.find("..") != std::string::npos) {
      c.detail = rel + ": not a path inside the folder";
      return c;
    }
    listed.push_back(rel);
    std::uintmax_t bytes = 0;
    const fs::path p = dir / rel;
    if (!fs::is_regular_file(fs::symlink_status(p))) {
      c.detail = rel + ": missing";
      return c;
    }
    const auto h = sha256_file(p, &bytes);
    if (!h) {
      c.detail = rel + ": cannot be read";
      return c;
    }
    if (bytes != f["bytes"].get<std::uintmax_t>() || *h != f["sha256"].get<std::string>()) {
      c.detail = rel + ": " + (bytes != f["bytes"].get<std::uintmax_t>() ? "size" : "SHA-256") + " differs from the manifest";
      return c;
    }
  }
  std::sort(listed.begin(), listed.end());
  for (const std::string& rel : folder_files(dir, false))
    if (!std::binary_search(listed.begin(), listed.end(), rel)) {
      c.detail = rel + ": not in the manifest";
      return c;
    }
  c.status = S::Valid;
  c.detail = std::to_string(listed.size()) + " files, certifier " + c.certifier_public_key;
  return c;
}

}  // namespace iotw::certify
