// Ledger model of the trust node: blocks, transactions, attestations, devices, blacklist
// (docs/protocol.md §4, §8), and the abstract store the consensus core writes through.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "iotw/support/hex.hpp"

namespace iotw::tn {

using Key = std::array<uint8_t, 32>;     ///< Ed25519 public key
using Hash = std::array<uint8_t, 32>;    ///< SHA-256 digest
using Sig = std::array<uint8_t, 64>;     ///< Ed25519 signature
using Header = std::array<uint8_t, 120>; ///< packed block header (protocol.md §4)
using Bytes = std::vector<uint8_t>;

/** The submitter's optional Ed25519 signature over TX(hash) (docs/protocol.md §5). */
struct TxSignature {
  Key pubkey{};
  Sig signature{};
};

/** A transaction: its hash is SHA-256(payload). */
struct Tx {
  Hash hash{};
  Bytes payload;
  std::optional<TxSignature> signature;  ///< checked at intake; exported as "signer"/"signature"
  std::optional<Key> usage_device;       ///< set only on usage-data txs the node built from a UsageReport
};

/** A witness's signed verdict (verdict 1 = valid, 2 = invalid) over ATTEST(round_id, block hash, verdict). */
struct Attestation {
  Key witness{};
  uint64_t round_id = 0;
  uint8_t verdict = 0;
  Sig signature{};
};

/** The winning VRF claim of a block mined under selection = "vrf" (docs/protocol.md §8): the proof pi of the
 *  miner's key over alpha = VRF(height, prev_hash) (§5) and its output beta, so the ledger alone re-checks
 *  the selection. */
struct VrfProof {
  uint32_t suite = 0;              ///< RFC 9381 suite_string: 3 = TAI, 4 = ELL2
  std::array<uint8_t, 80> pi{};
  std::array<uint8_t, 64> beta{};
};

/** One verified VRF claim of a selection round (docs/protocol.md §8 `vrf.claims`). */
struct VrfClaim {
  Key device{};
  std::array<uint8_t, 80> pi{};
  std::array<uint8_t, 64> beta{};  ///< ECVRF_proof_to_hash(pi), computed by the node
};

/** Every valid claim of the round that chose the block's miner under selection = "vrf" (docs/protocol.md §8,
 *  docs/vrf.md "Selection the ledger proves"): claims sorted by (beta, device); the miner is claims[rank];
 *  rank == claims.size() means no claimant was usable and the miner was a uniform fallback pick. */
struct VrfRound {
  uint32_t suite = 0;  ///< RFC 9381 suite_string: 3 = TAI, 4 = ELL2
  uint32_t rank = 0;
  std::vector<VrfClaim> claims;
};

/** The trust node's signed finalization record of a block (docs/protocol.md §8 rule 14): signature by the
 *  node key over FINALIZE(height, hash, policy, n, t, selection, attestations_hash, selection_hash)
 *  (iotw/ledger_signing.h). Absent on blocks written by a node without a node key or before this format. */
struct Finalization {
  uint8_t policy = 0;     ///< IOTW_POLICY_STRICT (t = n) or IOTW_POLICY_THRESHOLD
  uint32_t n = 0;         ///< witnesses asked per round
  uint32_t t = 0;         ///< valid attestations needed (strict: n)
  uint8_t selection = 0;  ///< IOTW_SELECTION_UNIFORM, _REPUTATION or _VRF
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
  std::optional<VrfProof> vrf;  ///< selection = "vrf" and the miner won by its claim (not a fallback pick)
  std::optional<VrfRound> vrf_round;         ///< selection = "vrf": every claim of the round (this format on)
  std::optional<Finalization> finalization;  ///< node-signed record (absent: unbound, see docs/protocol.md §8)
};

/** The node's signed end of an export (docs/protocol.md §8 "tip"): the last finalized block at time_ms,
 *  signed over TIP(height, hash, time_ms) and, for light clients, CHECKPOINT(height, hash). */
struct SignedTip {
  uint64_t height = 0;
  Hash hash{};
  uint64_t time_ms = 0;
  Key node_key{};
  Sig signature{};             ///< over TIP
  Sig checkpoint_signature{};  ///< over CHECKPOINT (the message devices verify, §6)
};

/** Persisted device identity (the registry survives restarts; attachment does not). */
struct DeviceRecord {
  Key pubkey{};
  std::string name;
  std::string model;
  uint32_t boot_count = 0;
  uint64_t first_seen_ms = 0;
};

/** A blacklisted device: never again chosen as miner or witness (until an operator lifts it). */
struct BlacklistEntry {
  Key pubkey{};
  uint64_t round_id = 0;
  std::string reason;  ///< "incoherent_round", "dissent"
  uint64_t time_ms = 0;
  /** JSON array text: the round's signed attestations [{witness, round_id, block_hash, verdict, signature}]. */
  std::string evidence = "[]";
};

/** A device's record for the reputation formula (docs/protocol.md §7). */
struct Reputation {
  uint64_t good = 0;  ///< accepted Results + valid verdicts in finalized blocks
  uint64_t bad = 0;   ///< rejected/timed-out Results + verdicts contradicting the node's own check
};

/** An IOTW credit in base units (integer; docs/protocol.md §7 "Rewards"). */
struct Credit {
  Key device{};
  uint64_t amount = 0;
};

/** What a finalized block changes besides the chain, applied in the same storage transaction. */
struct BlockEffects {
  std::vector<Credit> credits;
  std::vector<Key> good;  ///< one reputation "good" each
};

/** Thrown by Ledger implementations on a storage failure (message names the operation). */
struct LedgerError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/** Thrown by a replicated store (EtcdLedger) when an append lost a race: another trust node appended at that
 *  height first ("tip moved"), or this node no longer holds the mesh's leadership ("not the leader"). Nothing
 *  was written; what() says which. */
struct LedgerConflict : LedgerError {
  using LedgerError::LedgerError;
};

/** Durable store behind the core. Every mutating call is durable when it returns; throws LedgerError. */
class Ledger {
 public:
  virtual ~Ledger() = default;
  /** Number of blocks stored (tip height + 1; 0 = empty store, genesis not yet written). */
  virtual uint64_t block_count() = 0;
  /** Blocks with height in [from, from + limit), ascending, with txs and attestations. */
  virtual std::vector<Block> blocks(uint64_t from, uint64_t limit) = 0;
  /** Append one block and its effects (balances, reputation) atomically; its txs leave the pending set
   *  (inserted if not already stored). A replicated store throws LedgerConflict (nothing written) when b does
   *  not extend its tip or its fence does not hold. */
  virtual void append_block(const Block &b, const BlockEffects &fx) = 0;
  void append_block(const Block &b) { append_block(b, {}); }
  /** Store pending txs in one durable transaction; element i is false (tx i not stored) when a tx with
   *  that hash already exists (also earlier in the same batch). */
  virtual std::vector<bool> add_pending_txs(const std::vector<Tx> &txs) = 0;
  bool add_pending_tx(const Tx &tx) { return add_pending_txs({tx}).at(0); }
  /** Store a usage-data tx and raise device's last usage seq to seq, atomically. Returns false (nothing
   *  stored) when seq <= the stored seq or the tx hash exists. */
  virtual bool add_usage_tx(const Tx &tx, const Key &device, uint64_t seq) = 0;
  /** Last accepted UsageReport seq per device. */
  virtual std::map<Key, uint64_t> usage_seqs() = 0;
  /** IOTW balances (base units) of every credited device. */
  virtual std::map<Key, uint64_t> balances() = 0;
  virtual std::map<Key, Reputation> reputations() = 0;
  /** Add one "bad" to device's reputation (durable). */
  virtual void add_bad(const Key &device) = 0;
  /** Pending txs in arrival order. */
  virtual std::vector<Tx> pending_txs() = 0;
  /** Pending txs stored through other Ledger instances (other trust nodes of a mesh) since the last call (or
   *  the last pending_txs()), in arrival order; the SQLite store has no other writers and returns none. */
  virtual std::vector<Tx> new_pending_txs() { return {}; }
  /** Insert or update (name, model, boot_count; first_seen_ms is kept) a device. */
  virtual void upsert_device(const DeviceRecord &d) = 0;
  /** upsert_device for each, in order; durable together where the store can (SQLite: one transaction, one
   *  fsync for a burst of registrations). */
  virtual void upsert_devices(const std::vector<DeviceRecord> &ds) {
    for (const DeviceRecord &d : ds) upsert_device(d);
  }
  virtual std::vector<DeviceRecord> devices() = 0;
  /** Insert or replace the entry of e.pubkey (a re-blacklisted device gets the new round and evidence). */
  virtual void add_blacklist(const BlacklistEntry &e) = 0;
  /** Active (not lifted) entries. */
  virtual std::vector<BlacklistEntry> blacklist() = 0;
  /** Mark device's entry lifted at time_ms; false if it has no active entry. */
  virtual bool lift_blacklist(const Key &device, uint64_t time_ms) = 0;
  /** Largest round_id / assignment_id ever persisted (blocks, blacklist), 0 if none. */
  virtual uint64_t max_round_id() = 0;
  virtual uint64_t max_assignment_id() = 0;
  /** Witness round ids must grow across every trust node that ever assigned on this ledger, also over rounds whose
   *  block was never finalized: a device answers only a round id above every one it answered (docs/protocol.md §6
   *  step 5), so a node taking over must not reuse the round its predecessor had in flight. reserved_round_ids():
   *  every round id below it may have been used (0 = none recorded). reserve_round_ids(limit): durably raise that
   *  bound to limit before using ids below it (the etcd store: under the fence, throwing LedgerConflict when this
   *  node no longer leads). Defaults: nothing recorded (a store with one writer, whose blocks and blacklist bound
   *  what it used). */
  virtual uint64_t reserved_round_ids() { return 0; }
  virtual void reserve_round_ids(uint64_t limit) { (void)limit; }
};

// Hex: iotw::to_hex / iotw::from_hex (iotw/support/hex.hpp). Keys and signatures in HTTP paths and bodies
// are accepted in either case (from_hex's default); everything the node writes is lower-case.

/** SHA-256 of n bytes (FIPS 180-4) through OpenSSL's libcrypto, which uses the CPU's SHA extensions when present;
 *  thread-safe (one reused context per thread). */
Hash sha256(const uint8_t *p, size_t n);

/** The genesis block (protocol.md §4). */
Block genesis_block();

/** One ledger.jsonl line object for b (protocol.md §8). */
nlohmann::json block_to_json(const Block &b);

/** Transactions a page of blocks holds at most, unless its first block alone holds more (docs/trust-node.md
 *  `GET /v1/blocks`): a page's memory is bounded by this, not by its block count. */
inline constexpr uint64_t kPageMaxTxs = 20000;

/** Blocks from height `from` on, ascending: at most `limit`, and no further block once the page holds
 *  kPageMaxTxs transactions (always the first block, whatever its size). Reads the ledger a few blocks at a
 *  time, so at most the page plus 4 blocks are in memory. Throws what ledger.blocks throws. */
std::vector<Block> block_page(Ledger &ledger, uint64_t from, uint64_t limit);

/** The Block of one ledger.jsonl block object (block_to_json's inverse: every field, vrf and finalization
 *  included). A tx may also carry "usage_device" (hex), which stores keep beside the export format. Throws
 *  LedgerError naming the field on a missing or malformed one. */
Block block_from_json(const nlohmann::json &j);

/** The FINALIZE message (130 bytes, iotw/ledger_signing.h) for b and its finalization record's policy, n, t and
 *  selection: hashes b's attestations in order and, under VRF selection, b.vrf_round. */
std::array<uint8_t, 130> finalize_message(const Block &b, const Finalization &f);

/** Signs b's finalization record with the node's Ed25519 secret key (64 bytes, libsodium layout). */
Finalization sign_finalization(const Block &b, Finalization f, const std::array<uint8_t, 64> &node_sk);

/** The signed tip for the last finalized block `tip` at time_ms, with the node's key pair. */
SignedTip sign_tip(const Block &tip, uint64_t time_ms, const Key &node_pk, const std::array<uint8_t, 64> &node_sk);

/** The last ledger.jsonl line: {"tip":{height, hash, time_ms, node_key, signature, checkpoint_signature}}. */
nlohmann::json tip_to_json(const SignedTip &t);

}  // namespace iotw::tn
