// iotw-trust-node --config FILE.toml [--export-ledger OUT.jsonl | --print-node-pubkey]   (docs/trust-node.md)
// Exit codes: 0 after SIGTERM/SIGINT (graceful), 1 on a runtime failure, 2 on a bad command line or config.
#include <sys/prctl.h>

#include <csignal>
#include <iostream>

#include <CLI/CLI.hpp>
#include <sodium.h>

#include <cstdio>

#include "iotw/trust_node/daemon.hpp"

int main(int argc, char **argv) {
  prctl(PR_SET_PDEATHSIG, SIGTERM);  // die with the harness that spawned us
  CLI::App app{"IOTW trust node: ledger, Proof-of-Assignment miner selection, witness rounds"};
  std::string config_path, export_path;
  bool print_pubkey = false;
  app.add_option("--config", config_path, "TOML config (docs/trust-node.md)")->required();
  app.add_option("--export-ledger", export_path,
                 "write the ledger of [node] db as ledger.jsonl (docs/protocol.md §8) to this file and exit");
  app.add_flag("--print-node-pubkey", print_pubkey,
               "print the node key's Ed25519 public key (hex; devices are provisioned with it) and exit; creates the "
               "key file if absent");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  iotw::tn::NodeConfig cfg;
  try {
    cfg = iotw::tn::load_config(config_path);
  } catch (const iotw::tn::ConfigError &e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  try {
    if (print_pubkey) {
      const auto seed = iotw::tn::load_or_create_node_key(cfg.key);
      unsigned char pk[32], sk[64];
      crypto_sign_seed_keypair(pk, sk, seed.data());
      std::printf("%s\n", iotw::to_hex(pk, sizeof pk).c_str());
      return 0;
    }
    if (!export_path.empty()) {
      iotw::tn::export_ledger(cfg.db, export_path);
      return 0;
    }
    return iotw::tn::run_daemon(cfg);
  } catch (const std::exception &e) {
    std::cerr << "iotw-trust-node: " << e.what() << "\n";
    return 1;
  }
}
