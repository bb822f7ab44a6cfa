// iotw-trust-node --config FILE.toml [--export-ledger OUT.jsonl | --print-node-pubkey] [--log-level L] [--version]
// (docs/trust-node.md). Exit codes (docs/cli.md): 0 after SIGTERM/SIGINT (graceful), 2 on a bad command line or
// config, 3 when it could not run (a port in use, an unreadable db, key or events file, a storage failure).
#include <sys/prctl.h>

#include <csignal>
#include <cstdio>

#include <CLI/CLI.hpp>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include "iotw/cli/command_line.hpp"
#include "iotw/exit_code.hpp"
#include "iotw/trust_node/daemon.hpp"

int main(int argc, char **argv) {
  prctl(PR_SET_PDEATHSIG, SIGTERM);  // die with the harness that spawned us
  CLI::App app{"IOTW trust node: ledger, Proof-of-Assignment miner selection, witness rounds"};
  iotw::cli::CommonOptions common(app, "iotw-trust-node");
  std::string config_path, export_path;
  bool print_pubkey = false;
  app.add_option("--config", config_path, "TOML config (docs/trust-node.md)")->required();
  app.add_option("--export-ledger", export_path,
                 "write the ledger of [node] db as ledger.jsonl (docs/protocol.md §8) to this file and exit");
  app.add_flag("--print-node-pubkey", print_pubkey,
               "print the node key's Ed25519 public key (hex; devices are provisioned with it) and exit; creates the "
               "key file if absent");
  if (const auto code = common.parse(argc, argv)) return *code;
  iotw::tn::NodeConfig cfg;
  try {
    cfg = iotw::tn::load_config(config_path);
  } catch (const iotw::tn::ConfigError &e) {
    spdlog::error("{}", e.what());
    return iotw::kExitUsage;
  }
  try {
    if (print_pubkey) {
      const auto seed = iotw::tn::load_or_create_node_key(cfg.key);
      unsigned char pk[32], sk[64];
      crypto_sign_seed_keypair(pk, sk, seed.data());
      std::printf("%s\n", iotw::to_hex(pk, sizeof pk).c_str());
      return iotw::kExitPass;
    }
    if (!export_path.empty()) {
      if (cfg.store.kind != iotw::tn::StoreConfig::Kind::sqlite) {
        spdlog::error("--export-ledger reads a SQLite ledger; this config's ledger is in etcd: export it with GET "
                      "/v1/tip and GET /v1/blocks from any node of the mesh (docs/trust-node.md \"Mesh\")");
        return iotw::kExitUsage;
      }
      iotw::tn::export_ledger(cfg.db, export_path, iotw::tn::load_or_create_node_key(cfg.key));
      return iotw::kExitPass;
    }
    return iotw::tn::run_daemon(cfg);
  } catch (const std::exception &e) {
    spdlog::critical("could not run: {}", e.what());
    return iotw::kExitCouldNotRun;
  }
}
