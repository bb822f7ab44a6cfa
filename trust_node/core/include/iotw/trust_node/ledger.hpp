// Ledger model of the trust node: blocks, transactions, attestations, devices, blacklist
// (docs/protocol.md §4, §8), and the abstract store the consensus core writes through.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace iotw::tn {

using Key = std::array<uint8_t, 32>;     ///< Ed25519 public key
using Hash = std::array<uint8_t, 32>;    ///< SHA-256 digest
using Sig = std::array<uint8_t, 64>;     ///< Ed25519 signature
using Header = std::array<uint8_t, 120>; ///< packed block header (protocol.md §4)
using Bytes = std::vector<uint8_t>;

/** A transaction: its hash is SHA-256(payload). */
struct Tx {
  Hash hash{};
  Bytes payload;
};

/** A witness's signed verdict (verdict 1 = valid, 2 = invalid) over ATTEST(round_id, block hash, verdict). */
struct Attestation {
  Key witness{};
  uint64_t round_id = 0;
  uint8_t verdict = 0;
  Sig signature{};
};

/** A finalized block. Genesis: assignment_id 0, round_id 0, empty miner_signature, no txs/attestations. */
struct Block {
  uint64_t height = 0;
  Hash hash{};
  Header header{};
  Key miner{};
  uint64_t assignment_id = 0;
  Bytes miner_signature;  ///< 64 bytes, empty for genesis
  uint64_t round_id = 0;
  std::vector<Tx> txs;
  std::vector<Attestation> attestations;
};

/** Persisted device identity (the registry survives restarts; attachment does not). */
struct DeviceRecord {
  Key pubkey{};
  std::string name;
  std::string model;
  uint32_t boot_count = 0;
  uint64_t first_seen_ms = 0;
};

/** A blacklisted device: never again chosen as miner or witness. */
struct BlacklistEntry {
  Key pubkey{};
  uint64_t round_id = 0;
  std::string reason;  ///< "incoherent_round"
  uint64_t time_ms = 0;
};

/** Thrown by Ledger implementations on a storage failure (message names the operation). */
struct LedgerError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/** Durable store behind the core. Every mutating call is durable when it returns; throws LedgerError. */
class Ledger {
 public:
  virtual ~Ledger() = default;
  /** Number of blocks stored (tip height + 1; 0 = empty store, genesis not yet written). */
  virtual uint64_t block_count() = 0;
  /** Blocks with height in [from, from + limit), ascending, with txs and attestations. */
  virtual std::vector<Block> blocks(uint64_t from, uint64_t limit) = 0;
  /** Append one block atomically; its txs leave the pending set (inserted if not already stored). */
  virtual void append_block(const Block &b) = 0;
  /** Store a pending tx; returns false (nothing stored) when a tx with that hash already exists. */
  virtual bool add_pending_tx(const Tx &tx) = 0;
  /** Pending txs in arrival order. */
  virtual std::vector<Tx> pending_txs() = 0;
  /** Insert or update (name, model, boot_count; first_seen_ms is kept) a device. */
  virtual void upsert_device(const DeviceRecord &d) = 0;
  virtual std::vector<DeviceRecord> devices() = 0;
  virtual void add_blacklist(const BlacklistEntry &e) = 0;
  virtual std::vector<BlacklistEntry> blacklist() = 0;
  /** Largest round_id / assignment_id ever persisted (blocks, blacklist), 0 if none. */
  virtual uint64_t max_round_id() = 0;
  virtual uint64_t max_assignment_id() = 0;
};

/** Lower-case hex of n bytes. */
std::string to_hex(const uint8_t *p, size_t n);
template <size_t N>
std::string to_hex(const std::array<uint8_t, N> &a) { return to_hex(a.data(), N); }
inline std::string to_hex(const Bytes &b) { return to_hex(b.data(), b.size()); }

/** SHA-256 of n bytes (libsodium). */
Hash sha256(const uint8_t *p, size_t n);

/** The genesis block (protocol.md §4). */
Block genesis_block();

/** One ledger.jsonl line object for b (protocol.md §8). */
nlohmann::json block_to_json(const Block &b);

}  // namespace iotw::tn
