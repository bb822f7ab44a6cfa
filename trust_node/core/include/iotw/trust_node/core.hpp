// Sans-IO consensus core of the trust node (docs/protocol.md §6-§7, whitepaper "Miner Selection
// Algorithm" and "Security: Witnessing Protocol"). Inputs: decoded envelopes per link, tick(), submit_tx().
// Outputs: envelopes per link and events through CoreSink, durable writes through Ledger.
// Time comes only from Clock, randomness only from Random; single-threaded (the caller serialises calls).
#pragma once
#include <algorithm>
#include <cstdint>
#include <array>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "iotw.pb.h"
#include "iotw/support/clock.hpp"
#include "iotw/trust_node/ledger.hpp"

namespace iotw::tn {

/** Time is the one Clock of support/ (iotw/support/clock.hpp); the core reads now_ms(). The daemon gives it a
 *  SystemClock: Unix epoch ms, which block timestamps carry. */
using iotw::Clock;

/** Source of uniform 64-bit values (the daemon: the ChaCha20 stream of component_seed(seed, "trust_node:select"),
 *  support/include/iotw/support/seeded_random.hpp). */
class Random {
 public:
  virtual ~Random() = default;
  virtual uint64_t next_u64() = 0;
};

/** Where the core's outputs go. */
class CoreSink {
 public:
  virtual ~CoreSink() = default;
  /** Send one envelope on a link (the net layer frames it). */
  virtual void send(uint32_t link, const iotw_v1_Envelope &env) = 0;
  /** One event (docs/events.md, trust-node kinds). */
  virtual void event(std::string_view kind, nlohmann::json fields) = 0;
  /** The same, with fields already serialized as a JSON object (hot paths: txs_accepted carries every hash of
   *  a batch). A sink that writes text can override this to skip the parse. */
  virtual void event_serialized(std::string_view kind, const std::string &fields_json) {
    event(kind, nlohmann::json::parse(fields_json));
  }
};

/** Witness policy (docs/protocol.md §7): strict = all n witnesses valid (whitepaper default); threshold =
 *  t valid of n (the whitepaper's named alternative). */
enum class WitnessPolicy { strict, threshold };
/** Miner selection: uniform among eligible devices, weighted by reputation, or by ECVRF claims (lowest beta
 *  among valid claims in the claim window; docs/protocol.md §7, docs/vrf.md). */
enum class Selection { uniform, reputation, vrf };
/** RFC 9381 suite for Selection::vrf; the value is the suite_string sent in VrfRoundSeed. */
enum class VrfSuite : uint32_t { tai = 3, ell2 = 4 };

/** [rewards]: IOTW base units credited per finalized block / accepted usage report. */
struct RewardsConfig {
  uint64_t miner = 100;    ///< to the block's miner
  uint64_t witness = 10;   ///< to each witness whose attestation is in the block
  uint64_t usage = 5;      ///< to the reporting device, per usage-data tx in the block
};

/** [[device_tags]] rule: devices whose name matches pattern (fnmatch glob) get these tags; the first
 *  matching rule wins. An empty model keeps the model from Hello. */
struct DeviceTagRule {
  std::string pattern;
  std::string manufacturer, model, location;
};

/** A device's diversity tags (docs/trust-node.md "Device tags"); "" = unknown. */
struct DeviceTags {
  std::string manufacturer, model, location;
  auto operator<=>(const DeviceTags &) const = default;
};

/** [consensus] settings (docs/trust-node.md). Durations in ms. */
struct ConsensusConfig {
  uint32_t witnesses = 3;
  uint64_t block_interval_ms = 50;
  uint32_t max_txs_per_block = 64;
  uint64_t assignment_timeout_ms = 1500;
  uint64_t witness_timeout_ms = 1500;
  uint64_t device_timeout_ms = 5000;
  WitnessPolicy policy = WitnessPolicy::strict;
  uint32_t threshold = 0;  ///< t for WitnessPolicy::threshold, 1..witnesses (0 = witnesses)
  Selection selection = Selection::uniform;
  bool diversity = true;   ///< prefer witnesses with tags not yet in the round
  VrfSuite vrf_suite = VrfSuite::tai;  ///< Selection::vrf only
  uint64_t claim_window_ms = 200;      ///< Selection::vrf: how long the node waits for VrfClaims
  RewardsConfig rewards;
  std::vector<DeviceTagRule> device_tags;
  /** The trust node's Ed25519 node key seed (from [node] key, docs/trust-node.md "Node key"); signs
   *  Checkpoints (docs/protocol.md §5 CHECKPOINT). Absent: CheckpointRequests are answered with Error 5. */
  std::optional<std::array<uint8_t, 32>> node_key_seed;
  /** Heartbeats a device may miss in a row before it is detached: device_timeout_ms = this x the interval. */
  static constexpr uint64_t heartbeats_per_timeout = 5;
  /** Heartbeats per second the node plans for from all attached devices together (docs/trust-node.md "Many
   *  devices"): a Welcome gives a longer interval than heartbeat_interval_ms() once the attached devices at that
   *  interval would send more, up to device_timeout_ms. 0 = always heartbeat_interval_ms(). */
  uint32_t max_heartbeats_per_s = 10'000;
  /** The base interval sent in Welcome: device_timeout_ms / 5 (docs/protocol.md §6 "Liveness"). */
  uint32_t heartbeat_interval_ms() const { return static_cast<uint32_t>(device_timeout_ms / heartbeats_per_timeout); }
  /** The interval a Welcome gives when `attached` devices (this one included) are attached: the base interval,
   *  stretched to attached x 1000 / max_heartbeats_per_s ms (rounded up), at most device_timeout_ms. */
  uint32_t heartbeat_interval_ms(size_t attached) const {
    const uint64_t base = heartbeat_interval_ms();
    if (max_heartbeats_per_s == 0) return static_cast<uint32_t>(base);
    const uint64_t spread = (uint64_t{attached} * 1000 + max_heartbeats_per_s - 1) / max_heartbeats_per_s;
    return static_cast<uint32_t>(std::max(base, std::min<uint64_t>(spread, device_timeout_ms)));
  }
};

/** Counters of rejected input (exposed by GET /v1/health). */
struct CoreCounters {
  uint64_t rounds = 0;                 ///< witness rounds closed
  uint64_t attestations_rejected = 0;  ///< bad signature, non-witness, wrong hash/round, duplicate
  uint64_t results_rejected = 0;       ///< wrong hash, bad signature, timeout
  uint64_t registrations_rejected = 0; ///< Prove without Challenge, key mismatch, bad signature
  uint64_t messages_rejected = 0;      ///< unregistered, unexpected, or stale Results (answered with Error)
  uint64_t txs_accepted = 0;           ///< stored pending txs (HTTP and usage)
  uint64_t txs_rejected = 0;           ///< invalid or duplicate submissions
  uint64_t usage_accepted = 0;
  uint64_t usage_rejected = 0;
  uint64_t blocks_finalized = 0;       ///< since start
  uint64_t txs_finalized = 0;          ///< since start
  uint64_t rewards_credited = 0;       ///< base units, since start
  uint64_t vrf_claims_accepted = 0;    ///< VrfClaims whose proof verified in an open claim window
  uint64_t vrf_claims_rejected = 0;    ///< bad/forged proof, wrong round, not asked, duplicate
  uint64_t vrf_fallbacks = 0;          ///< claim windows that closed without a valid claim (uniform pick)
  uint64_t checkpoints_sent = 0;       ///< signed Checkpoints answered to CheckpointRequests
  /** Attestations dropped without blame (docs/trust-node.md "Threat model"): they prove nothing about the device
   *  whose link they came from. Also counted in attestations_rejected. */
  uint64_t attestations_replayed = 0;        ///< an earlier round's attestation the node already had (a replay)
  uint64_t attestations_bad_signature = 0;   ///< does not verify under the registered key (forged or spoofed)
  /** Attributable faults (blacklisted with the signed attestations as evidence). */
  uint64_t attestations_wrong_hash = 0;      ///< signed, this round, over another block hash than the node asked
  uint64_t attestations_equivocation = 0;    ///< a second, different attestation signed for one round
  /** Identity integrity (docs/trust-node.md "Identity integrity"). */
  uint64_t identity_conflicts = 0;      ///< a key proved on a second link while attached on another (refused)
  uint64_t duplicate_names = 0;         ///< a name already held by another attached key (refused)
  uint64_t boot_count_regressions = 0;  ///< a known key registered with a lower boot_count than before (flagged)
  uint64_t witnesses_silent = 0;        ///< witness deadlines missed (each costs the witness one bad point)
  /** Mesh (docs/trust-node.md "Mesh"). */
  uint64_t not_assigning = 0;    ///< device messages answered with Error 6 while this node does not assign jobs
  uint64_t pending_absorbed = 0; ///< pending txs taken over from other nodes' intake (Ledger::new_pending_txs)
};

/** One transaction as submitted over HTTP (docs/trust-node.md): payload and an optional wallet signature
 *  over TX(SHA-256(payload)) (docs/protocol.md §5). */
struct TxRequest {
  Bytes payload;
  std::optional<TxSignature> signature;
  /** SHA-256(payload) when the caller already computed it (the HTTP parser does, on its own thread, so the
   *  core's single thread does not); must be that digest. Absent: submit_batch computes it. */
  std::optional<Hash> hash{};
};

/** Answer to submit_tx. */
struct SubmitResult {
  enum Status { accepted, duplicate, invalid } status;
  Hash hash{};
  std::string error;  ///< for invalid
};

class TrustNodeCore {
 public:
  static constexpr size_t max_tx_payload = 4096;

  /** Loads chain tip, pending txs, devices and blacklist from ledger; writes genesis if the ledger is
   *  empty. Throws LedgerError. The references must outlive the core. */
  TrustNodeCore(ConsensusConfig cfg, Ledger &ledger, Clock &clock, Random &rng, CoreSink &sink);

  /** A link came up (name as in events: "serial:/dev/pts/3", "udp:127.0.0.1:5000"). */
  void link_opened(uint32_t link, std::string name);
  /** A link went away: its attached device is detached (reason "link_closed"). */
  void link_closed(uint32_t link);
  /** One decoded envelope received on link. */
  void on_message(uint32_t link, const iotw_v1_Envelope &env);
  /** Fire due timers (device, assignment and witness timeouts) and start a block when due. */
  void tick();
  /** Store a tx durably (1..max_tx_payload bytes) and queue it for the next block. Throws LedgerError. */
  SubmitResult submit_tx(const Bytes &payload) { return submit_batch({TxRequest{payload, std::nullopt}}).at(0); }
  /** Validate (size, signature), then store every valid non-duplicate tx in one durable ledger transaction;
   *  one result per request, in order. Throws LedgerError (nothing is then acknowledged). */
  std::vector<SubmitResult> submit_batch(std::vector<TxRequest> reqs);
  /** Operator: lift device's blacklist entry; false if it has none. Throws LedgerError. */
  bool lift_blacklist(const Key &device);

  /** Batched registrations (docs/trust-node.md "Many devices"): when on, a proved registration changes the
   *  registry in memory at once but its durable write, its Welcome and its device_registered event wait for
   *  commit_registrations(), so a burst of registrations costs one store commit (the daemon commits after each
   *  batch of datagrams). Off (the default): each registration is committed before its Welcome is sent. */
  void set_batched_registrations(bool on) { batched_registrations_ = on; }
  bool registrations_to_commit() const { return !to_welcome_.empty(); }
  /** Writes the registrations proved since the last call (one Ledger::upsert_devices), then sends each Welcome
   *  (to devices still attached on the link they proved on) and emits device_registered. Throws LedgerError. */
  void commit_registrations();

  /** Mesh role (docs/trust-node.md "Mesh"). A node that does not assign jobs (a standby of a mesh, or one whose
   *  etcd view is stale) starts no block, drops the block in flight (its txs stay pending in the store), detaches
   *  every attached device (reason "not_assigning") after sending it Error 6, and answers every later device
   *  message with Error 6 (not assigning), so devices move to the next trust node of their list (docs/protocol.md
   *  §6 "Several trust nodes"). It still stores submitted txs. On by default: a node alone always assigns. */
  void set_assigning(bool on);
  bool assigning() const { return assigning_; }
  uint64_t height() const { return tip_.height; }
  /** The finalized tip signed with the node key at the clock's now (docs/protocol.md §8 "tip"); nullopt
   *  without a node key. A node that does not assign (a mesh standby: its core does not follow the chain) signs the
   *  ledger's last block, read from the store now; throws LedgerError when the store does not answer. */
  std::optional<SignedTip> signed_tip() const;
  /** The node key's public half (Checkpoint signer), if a node key is configured. */
  std::optional<Key> node_pubkey() const { return node_pk_; }
  size_t pending_count() const { return pending_.size(); }
  /** Devices attached now (O(1): kept as devices attach and detach). */
  size_t attached_count() const { return attached_; }
  size_t blacklisted_count() const { return blacklist_.size(); }
  /** Registration admission (net/admission.hpp): keys in the registry, whether key is one of them, and the
   *  registrations open now (a Challenge sent on a link, no Prove yet; O(1), asked for every Hello). */
  size_t device_count() const { return devices_.size(); }
  bool knows_device(const Key &key) const { return devices_.count(key) > 0; }
  size_t registrations_in_progress() const { return in_progress_; }
  /** Link has a registration open (a Challenge sent, no Prove yet). */
  bool registration_open(uint32_t link) const {
    auto it = sessions_.find(link);
    return it != sessions_.end() && it->second.challenge != nullptr;
  }
  /** Selection draws its candidates (miner, witnesses) from a uniform sample of this many eligible devices when
   *  more are eligible, so a round costs the same with 100 or 100,000 devices (docs/trust-node.md "Many
   *  devices"); at or below it, from all of them. Selection::vrf picks among all claimants. */
  static constexpr size_t selection_sample = 1024;
  const CoreCounters &counters() const { return counters_; }
  /** Signed verdicts kept per witness to recognise replays and equivocations (the newest ones). */
  static constexpr size_t recent_per_witness = 16;
  /** Entry counts of the core's in-memory tables (docs/trust-node.md "Memory"). Each is bounded by the links
   *  open, the devices registered ([registration] max_devices) or a fixed number per device, never by the
   *  rounds, blocks or time the node has run; the per-block state (the candidate) is replaced every block. */
  struct StateSizes {
    size_t sessions = 0;             ///< one per open link
    size_t devices = 0;              ///< the registry (loaded from the ledger, grows only by registration)
    size_t recent_attestations = 0;  ///< signed verdicts kept, at most recent_per_witness per device
    size_t dropped = 0;              ///< (device, reason) pairs awaiting the next attestations_dropped event
    size_t per_key = 0;              ///< the largest of the per-device maps (usage seqs, balances, reputations,
                                     ///< blacklist): one entry per key
    size_t eligible = 0;             ///< devices that may be given work (attached, confirmed, not blacklisted)
    size_t silence_timers = 0;       ///< liveness deadlines queued: at most one per registered device
    size_t attached_names = 0;       ///< names of attached devices (the duplicate-name index)
  };
  StateSizes state_sizes() const;
  /** GET /v1/devices body entries. */
  nlohmann::json devices_json() const;
  /** GET /v1/balances: {"<device hex>": amount, ...} (base units). */
  nlohmann::json balances_json() const;
  uint64_t balance(const Key &device) const;
  /** GET /v1/blacklist entries: device, name, round_id, reason, time_ms, evidence. */
  nlohmann::json blacklist_json() const;
  /** Reputation score in (0, 1] x 2^20 (docs/protocol.md §7). */
  static uint64_t reputation_weight(const Reputation &r);
  const std::map<Key, Reputation> &reputations() const { return reputation_; }

 private:
  struct Device {
    DeviceRecord rec;
    std::optional<uint32_t> link;  ///< set while attached
    /** A Heartbeat arrived on link after the Welcome: the device knows it is registered. Only confirmed devices
     *  are given work (docs/protocol.md §6 step 6), so a lost Welcome never leaves work with a device that
     *  thinks it is detached. */
    bool confirmed = false;
    uint64_t last_seen_ms = 0;
    const DeviceTags *tags = nullptr;  ///< interned in tag_sets_ (a few distinct sets for any number of devices)
    /** Witness deadlines missed in a row (reset by its next accepted attestation), and the first round id at
     *  which it is drawn as a witness again: after the k-th silence in a row it rests min(2^k, 64) rounds
     *  (docs/trust-node.md "Faulty witnesses"). A rested device is still drawn when too few others are eligible. */
    uint32_t silent_streak = 0;
    uint64_t rest_until_round = 0;
    /** Liveness (docs/protocol.md §6): the interval its Welcome gave, and the silence after which it is
     *  detached (max(device_timeout_ms, 5 x the interval)). */
    uint32_t heartbeat_ms = 0;
    uint64_t timeout_ms = 0;
    bool timer_queued = false;  ///< it has a current entry in silence_, due at timer_at_ms
    uint64_t timer_at_ms = 0;
    static constexpr size_t no_slot = SIZE_MAX;
    size_t pool_slot = no_slot;  ///< its index in pool_ while eligible
  };
  struct Session {  ///< per link
    std::string name;
    std::optional<Key> attached;
    /// Hello + nonce awaiting Prove (on the heap: 144 bytes that a registered device's session does not need)
    std::unique_ptr<std::pair<iotw_v1_Hello, Hash>> challenge;
  };
  struct Slot {  ///< one witness position of a round
    Key witness{};
    uint64_t deadline_ms = 0;  ///< node clock, ms: when the witness counts as silent
    std::optional<Attestation> answer;
    uint32_t reasks = 0;       ///< times this witness was asked again for lack of a replacement, capped at
                               ///< kMaxReaskShift: the wait is witness_timeout_ms << reasks; 0 for a fresh witness
    uint64_t recheck_ms = 0;   ///< node clock, ms: while reasks > 0, when to look again for a fresh replacement
                               ///< (every witness_timeout_ms, however long the re-asked witness's wait)
  };
  /** The wait before a witness with no replacement is asked again doubles each time, up to witness_timeout_ms << 4
   *  (docs/protocol.md step 5 "Deadlines"): a witness slower than the timeout is not buried under re-sends. */
  static constexpr uint32_t kMaxReaskShift = 4;
  /** A verdict a device signed (verified), kept to recognise a replay or an equivocation. */
  struct SignedVerdict {
    uint64_t round_id = 0;
    Hash block_hash{};
    uint8_t verdict = 0;
    Sig signature{};
  };
  struct VrfClaimRec {  ///< a verified claim
    Key device{};
    std::array<uint8_t, 64> beta{};
    std::array<uint8_t, 80> pi{};
  };
  struct Candidate {  ///< the block in flight
    uint64_t height = 0;
    uint64_t timestamp_ms = 0;
    /** The block's txs are the first tx_count of pending_, which stay there (pending_ only grows at its back
     *  while a candidate exists) and are moved into the Block at finalize: no copy per tx. */
    size_t tx_count = 0;
    Header header{};
    Hash hash{};
    Key miner{};
    std::set<Key> failed_miners;
    uint64_t assignment_id = 0;
    uint64_t assignment_deadline_ms = 0;
    bool mined = false;
    Sig miner_signature{};
    uint64_t round_id = 0;       ///< 0 until a witness round starts
    std::vector<Slot> slots;
    std::set<Key> round_members;  ///< every device asked in this round (replaced ones too)
    // Selection::vrf (docs/vrf.md): the claim window runs before the first assignment.
    bool vrf_open = false;
    uint64_t claim_deadline_ms = 0;
    std::array<uint8_t, 51> alpha{};
    std::set<Key> vrf_asked;
    std::set<Key> vrf_answered;  ///< sent a claim whose proof verified (a later one is a duplicate)
    std::set<Key> vrf_bad;       ///< sent only proofs that did not verify (not an answer: may still claim)
    std::vector<VrfClaimRec> vrf_claims;  ///< valid claims; sorted by (beta, device) when the window closes
    std::optional<VrfClaimRec> vrf_win;   ///< the claim the current miner was picked by (into the block)
    uint64_t vrf_rejected = 0;
  };

  void on_hello(uint32_t link, Session &s, const iotw_v1_Hello &h);
  void on_prove(uint32_t link, Session &s, const iotw_v1_Prove &p);
  void on_result(uint32_t link, const Key &from, const iotw_v1_Result &r);
  void on_attestation(uint32_t link, const Key &from, const iotw_v1_Attestation &a);
  void on_usage(uint32_t link, const Device &d, const iotw_v1_UsageReport &u);
  void on_vrf_claim(uint32_t link, const Key &from, const iotw_v1_VrfClaim &m);
  void on_checkpoint_request(uint32_t link, const iotw_v1_CheckpointRequest &m);
  void reject_vrf_claim(uint32_t link, uint64_t height, const Key &from, const char *reason, const char *detail,
                        uint32_t code);
  void open_claims(Candidate &c);
  void close_claims(Candidate &c);
  Key pick_vrf_miner(Candidate &c, const std::vector<Key> &pool);
  void reject_usage(uint32_t link, const Device &d, uint64_t seq, const char *reason, uint32_t code);
  DeviceTags tags_for(const DeviceRecord &r) const;
  std::vector<Key> pick_witnesses(std::vector<Key> pool, size_t n);
  Key pick_diverse(const std::vector<Key> &pool, const std::vector<Key> &chosen);
  /** pick_diverse over `pool` with each member's tags already looked up (`tags[i]` is pool[i]'s); returns the index
   *  of the pick in pool. */
  size_t pick_diverse_at(const std::vector<Key> &pool, const std::vector<const DeviceTags *> &tags,
                         const std::vector<const DeviceTags *> &chosen);
  nlohmann::json diversity_json(const std::vector<Key> &witnesses) const;
  void add_bad(const Key &k);
  void blacklist(const Key &k, uint64_t round_id, const char *reason, const nlohmann::json &evidence);
  void send_error(uint32_t link, uint32_t code, const char *text);
  void detach(Device &d, const char *reason);
  void confirm(Device &d);  ///< first Heartbeat after Welcome: the device may be given work
  /** d becomes attached on link at now (counts, the name index, its liveness deadline). */
  void attach(Device &d, uint32_t link, uint64_t now);
  /** d loses its link (counts, the name index, the pool); no event (detach() is the reason-giving one). */
  void release(Device &d);
  /** Puts d into pool_ or takes it out, as it is eligible or not (attached, confirmed, not blacklisted). */
  void update_pool(Device &d);
  /** Sets or clears a session's open registration, keeping in_progress_. */
  void set_challenge(Session &s, std::optional<std::pair<iotw_v1_Hello, Hash>> c);
  /** Detaches attached devices whose liveness deadline passed (each checked at its deadline, not every tick). */
  void expire_silent(uint64_t now);

  /** Eligible devices (pool_) not in exclude, in key order; more than selection_sample of them: a uniform sample
   *  of selection_sample (sample = false: all of them, for Selection::vrf). */
  std::vector<Key> eligible(const std::set<Key> &exclude, bool sample = true) const;
  Key pick(const std::vector<Key> &from);
  /** A uniform index below `size` (> 0) from one or more draws of rng_ (the biased tail rejected). */
  size_t pick_index(size_t size);
  /** `pool` without the devices resting after silence, unless that leaves fewer than `need`: then `pool`. */
  std::vector<Key> rested(std::vector<Key> pool, size_t need) const;
  Key pick_miner(const std::vector<Key> &from);
  Key pick_weighted(const std::vector<Key> &from);  ///< proportional to reputation_weight
  void stalled(const char *reason, size_t needed, size_t eligible_now);
  void maybe_start_block();
  void assign(Candidate &c);
  bool start_round(Candidate &c);
  void request_witness(Candidate &c, Slot &slot);
  void close_round(Candidate &c);
  void finalize(Candidate &c);
  /** Adds the round's VRF claims and the node-signed finalization record to b (docs/protocol.md §8). */
  void bind_finalization(const Candidate &c, Block &b) const;
  void reject_attestation(uint32_t link, uint64_t round_id, const Key &from, const char *reason);
  void faulty_attestation(uint32_t link, Candidate &c, Slot &slot, const iotw_v1_Attestation &a, const char *reason);
  void drop_attestation(const Key &from, const char *reason);
  void flush_dropped(bool force);
  const SignedVerdict *recorded(const Key &from, uint64_t round_id) const;
  void equivocation(const Key &from, const SignedVerdict &first, const iotw_v1_Attestation &second);
  void remember(const Key &from, const SignedVerdict &v);
  nlohmann::json request_evidence(const Candidate &c) const;
  Sig sign_node(const uint8_t *msg, size_t len) const;
  bool refuse_identity(uint32_t link, Session &s, const Key &key, const iotw_v1_Hello &hello);
  void replace_witness(Candidate &c, Slot &slot, const char *reason);
  /** Gives the slot a fresh eligible device (not in the round, not the miner, rested) and asks it; false when there
   *  is none (the slot is unchanged). */
  bool take_fresh_witness(Candidate &c, Slot &slot, const char *reason);
  const std::string &name_of(const Key &k) const;

  ConsensusConfig cfg_;
  Ledger &ledger_;
  Clock &clock_;
  Random &rng_;
  CoreSink &sink_;
  Block tip_;
  std::deque<Tx> pending_;  ///< arrival order (a block takes the front)
  std::map<Key, Device> devices_;
  std::map<Key, BlacklistEntry> blacklist_;
  std::map<Key, uint64_t> usage_seq_;
  std::map<Key, uint64_t> balances_;
  std::map<Key, Reputation> reputation_;
  std::map<uint32_t, Session> sessions_;
  struct ToWelcome {  ///< a proved registration not yet committed
    Key key;
    uint32_t link;
    std::string link_name;
    bool is_new;
  };
  std::vector<ToWelcome> to_welcome_;
  bool batched_registrations_ = false;
  size_t attached_ = 0;     ///< devices with a link
  size_t in_progress_ = 0;  ///< sessions with a challenge
  /** Names of attached devices (non-empty ones) -> key: the duplicate-name check without a registry scan. */
  std::unordered_multimap<std::string, Key> attached_names_;
  /** Eligible devices in no particular order (Device::pool_slot is each one's index): O(1) add, remove, sample. */
  std::vector<Key> pool_;
  /** Every distinct DeviceTags a device has (Device::tags points here: the set's elements never move). */
  std::set<DeviceTags> tag_sets_;
  const DeviceTags *intern(DeviceTags t) { return &*tag_sets_.insert(std::move(t)).first; }
  /** pool_ in key order, made by eligible() when it needs all of it and pool_ changed since (cleared by
   *  update_pool): a round sorts nothing while the pool stays the same. */
  mutable std::vector<Key> sorted_pool_;
  mutable bool sorted_pool_valid_ = false;
  struct SilenceTimer {
    uint64_t at_ms;
    Key key;
    bool operator>(const SilenceTimer &o) const { return at_ms > o.at_ms; }
  };
  /** Liveness deadlines, earliest first; an entry found early is pushed back at the device's current deadline, one
   *  not at its device's timer_at_ms is stale (dropped when due). */
  std::priority_queue<SilenceTimer, std::vector<SilenceTimer>, std::greater<>> silence_;
  std::optional<Candidate> cand_;
  uint64_t next_assignment_id_ = 1;
  uint64_t next_round_id_ = 1;
  std::optional<uint64_t> last_block_ms_;  ///< when the last block was finalized
  bool stalled_ = false;
  bool assigning_ = true;
  uint64_t round_ids_reserved_ = 0;  ///< round ids below it are recorded as possibly used (Ledger::reserve_round_ids)
  static constexpr uint64_t round_id_reserve_step = 1024;  ///< one store write per this many rounds
  uint64_t next_absorb_ms_ = 0;  ///< next Ledger::new_pending_txs poll (at most one per block interval, >= 20 ms)
  CoreCounters counters_;
  std::optional<Key> node_pk_;
  std::array<uint8_t, 64> node_sk_{};
  std::optional<std::pair<uint64_t, Sig>> checkpoint_sig_;  ///< signature of the tip's Checkpoint (by height)
  /** Per witness, its last accepted attestations (at most recent_per_witness; RAM only). */
  std::map<Key, std::vector<SignedVerdict>> recent_attestations_;
  /** Blameless drops since the last attestations_dropped event: (device, reason) -> count. */
  std::map<std::pair<Key, std::string>, uint64_t> dropped_;
  uint64_t dropped_flushed_ms_ = 0;
};

}  // namespace iotw::tn
