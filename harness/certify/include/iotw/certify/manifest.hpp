// The signed manifest of a certification run folder (docs/certification.md "The signed report"): manifest.json
// lists every file of the folder with its size and SHA-256; manifest.sig holds the certifier's Ed25519 public key
// and its signature over the exact bytes of manifest.json. Anyone can check a report offline with
// `iotw certify verify DIR` (or with any Ed25519 and SHA-256 implementation, following the doc).
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>

namespace iotw::certify {

using CertifierSeed = std::array<std::uint8_t, 32>;    ///< Ed25519 seed (the secret key file's content)
using CertifierPubkey = std::array<std::uint8_t, 32>;  ///< Ed25519 public key

/// Domain prefix of the signed message: "IOTW-CERT-MANIFEST-v1" and one 0x00 byte, then manifest.json's bytes.
inline constexpr char kManifestDomain[] = "IOTW-CERT-MANIFEST-v1";

/// Writes a new certifier key: `path` gets the 64 lower-case hex digits of a fresh seed (libsodium's CSPRNG) and a
/// newline, mode 0600; returns the public key. Throws std::runtime_error when `path` exists (never overwritten)
/// or cannot be written.
CertifierPubkey generate_certifier_key(const std::filesystem::path& path);

/// Reads a key file written by generate_certifier_key (64 hex digits, either case, optional trailing newline).
/// Throws std::runtime_error naming the file when it cannot be read or is not such a key.
CertifierSeed read_certifier_key(const std::filesystem::path& path);

/// The public key of a seed.
CertifierPubkey public_key_of(const CertifierSeed& seed);

/// Hashes every regular file under `dir` (recursively, paths relative to `dir` with '/' separators, sorted
/// bytewise; manifest.json and manifest.sig themselves excluded) into `dir`/manifest.json:
///   {"format": "iotw-cert-manifest/1", "certifier_public_key": HEX, "files": [{"path", "bytes", "sha256"}, ...]}
/// and signs it into `dir`/manifest.sig: {"algorithm": "ed25519", "public_key": HEX, "signature": HEX (64 bytes)}.
/// Symbolic links and other non-regular files are refused. Throws std::runtime_error on any I/O error.
void write_manifest(const std::filesystem::path& dir, const CertifierSeed& seed);

/// The outcome of verify_manifest.
struct ManifestCheck {
  enum class Status { Valid, Invalid, Unreadable } status = Status::Unreadable;
  std::string detail;  ///< Valid: "N files, certifier KEYHEX"; else the first problem, naming the file
  std::string certifier_public_key;  ///< hex, when manifest.sig could be read
};

/// Checks `dir` offline: manifest.sig's signature over manifest.json (and, when `expected` is given, that the
/// signing key is that one), then every listed file's size and SHA-256, in manifest order, then that the folder
/// holds no file the manifest does not list. Invalid names the first file that does not match ("report.json:
/// SHA-256 differs from the manifest", "extra.txt: not in the manifest", "junit.xml: missing").
/// Unreadable: the folder, manifest.json or manifest.sig cannot be read or parsed.
ManifestCheck verify_manifest(const std::filesystem::path& dir, const std::string& expected_public_key_hex = "");

}  // namespace iotw::certify
