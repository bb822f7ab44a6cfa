// The iotw-trust-node process: one io_context thread owns the core, the store and the links; the HTTP API
// (docs/trust-node.md) runs on cpp-httplib's threads and hands every request to the io thread.
#pragma once
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "iotw/trust_node/config.hpp"

namespace iotw::tn {

/** Writes events (docs/events.md) as JSON lines, flushed per line, stamped with the system clock. */
class EventWriter {
 public:
  /** path empty = stdout. Throws std::runtime_error when the file cannot be opened. */
  explicit EventWriter(const std::string &path);
  ~EventWriter();
  void write(std::string_view kind, const nlohmann::json &fields);

 private:
  std::FILE *out_;
  bool owned_;
};

/** Runs until SIGTERM/SIGINT or stop(); returns the exit code (0). Throws LedgerError /
 *  std::runtime_error on a startup failure (cannot open db, events file, bind). */
int run_daemon(const NodeConfig &cfg);

/** Writes the ledger at db_path as ledger.jsonl (docs/protocol.md §8) to out_path. Throws LedgerError /
 *  std::runtime_error. */
void export_ledger(const std::string &db_path, const std::string &out_path);

}  // namespace iotw::tn
