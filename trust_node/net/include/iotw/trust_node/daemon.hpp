// The iotw-trust-node process: one io_context thread owns the core, the store, the links and the HTTP front
// (http_server.hpp, Boost.Beast); transaction bodies are parsed and hashed on a small worker pool
// (docs/trust-node.md "Group commit").
#pragma once
#include <array>
#include <optional>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "iotw/trust_node/config.hpp"

namespace iotw::tn {

/** Writes events (docs/events.md) as JSON lines, stamped with the system clock. Each line is flushed as it
 *  is written, except inside a Hold (one HTTP transaction batch): its lines are flushed together when the
 *  outermost Hold ends, before the request is answered. */
class EventWriter {
 public:
  /** path empty = stdout. Throws std::runtime_error when the file cannot be opened. */
  explicit EventWriter(const std::string &path);
  ~EventWriter();
  EventWriter(const EventWriter &) = delete;
  EventWriter &operator=(const EventWriter &) = delete;
  void write(std::string_view kind, const nlohmann::json &fields);
  /** The same with fields already serialized as one JSON object (no newline). */
  void write_serialized(std::string_view kind, std::string_view fields_json);

  /** Defers flushing while alive (nestable); flushes once on destruction. */
  class Hold {
   public:
    explicit Hold(EventWriter &w) : w_(w) { ++w_.held_; }
    ~Hold() {
      if (--w_.held_ == 0) std::fflush(w_.out_);
    }
    Hold(const Hold &) = delete;
    Hold &operator=(const Hold &) = delete;

   private:
    EventWriter &w_;
  };

 private:
  std::FILE *out_;
  bool owned_;
  int held_ = 0;
};

/** The node key (docs/trust-node.md "Node key"): the 32-byte Ed25519 seed in path, created with 32 random bytes
 *  (mode 0600; temporary file, fsync, link(2): never partial) if the file is absent. Throws std::runtime_error if it cannot be read or created, or is not
 *  exactly 32 bytes. path empty (db ":memory:" without [node] key) = a fresh key for this process only. */
std::array<uint8_t, 32> load_or_create_node_key(const std::string &path);

/** Runs until SIGTERM/SIGINT or stop(); returns the exit code (0). Throws LedgerError /
 *  std::runtime_error on a startup failure (cannot open db, events file, bind). A storage failure while
 *  running ends the process at once with kExitCouldNotRun (3, iotw/exit_code.hpp). */
int run_daemon(const NodeConfig &cfg);

/** Writes the ledger at db_path as ledger.jsonl (docs/protocol.md §8) to out_path, ended by the tip signed with
 *  the node key when node_key_seed is given (the seed of --config's key file). Throws LedgerError /
 *  std::runtime_error. */
void export_ledger(const std::string &db_path, const std::string &out_path,
                   const std::optional<std::array<uint8_t, 32>> &node_key_seed = std::nullopt);

}  // namespace iotw::tn
