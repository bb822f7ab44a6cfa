// A local etcd cluster of real `etcd` processes (Debian's etcd-server) on 127.0.0.1, for the trust-node mesh's
// tests and the harness (docs/trust-node.md "Mesh", "The etcd store"). Each member has its own data folder and
// log under the cluster's folder; ports are picked by the kernel. The members are children of this process
// (ProcessSupervisor, process.hpp): they die with it. Not thread-safe: one thread starts, signals and stops them.
#pragma once
#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "iotw/support/process.hpp"

namespace iotw::support {

struct EtcdClusterOptions {
  int members = 1;                  ///< cluster size (1 or more; 3 tolerates one member down)
  std::string name_prefix = "etcd";  ///< member i is named "<prefix>-<i>"
  std::chrono::milliseconds start_timeout{15000};  ///< per start or restart: until every member is healthy
  std::string binary{};  ///< path of the etcd binary; empty: "etcd" on PATH, else /usr/bin/etcd
};

/// Thrown when the etcd binary is missing: what() names the Debian package.
struct EtcdMissing : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// N etcd members forming one cluster. Member i keeps its data in `<dir>/<prefix>-<i>.data` and writes its log to
/// `<dir>/etcd-<i>.log` (truncated when it is started again).
class EtcdCluster {
 public:
  /// Creates `dir` if needed, starts every member and waits until each answers GET /health with
  /// {"health":"true"}. Throws EtcdMissing when there is no etcd binary, std::runtime_error (with the failing
  /// member's log tail) when a member exits or is not healthy within opt.start_timeout; started members are
  /// stopped then.
  EtcdCluster(std::filesystem::path dir, EtcdClusterOptions opt);
  /// Stops every member still running, one at a time, last first (SIGTERM, a grace period, SIGKILL).
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  int size() const;
  /// "127.0.0.1:PORT" of every member's client URL (plain HTTP: gRPC and the /v3 JSON gateway), member order.
  std::vector<std::string> client_endpoints() const;
  std::string client_endpoint(int i) const;
  /// Member i's pid; -1 when killed (and not restarted).
  int pid(int i) const;
  /// SIGKILL to member i, reaped at once. No-op when it is not running.
  void kill(int i);
  /// SIGSTOP / SIGCONT to member i (a frozen member: its peers and clients time out on it).
  void stop(int i);
  void resume(int i);
  /// Starts killed member i again on its data folder and ports (it rejoins the cluster) and waits until it is
  /// healthy. Throws std::runtime_error (with its log tail) as the constructor does; std::logic_error when
  /// member i is running.
  void restart(int i);
  /// True when member i answers GET /health with {"health":"true"} within 1 s.
  bool healthy(int i) const;

  /// The last `max_bytes` of member i's log (for error messages).
  std::string log_tail(int i, std::size_t max_bytes = 4000) const;

 private:
  struct Member {
    std::string name;
    int client_port = 0;
    int peer_port = 0;
    int pid = -1;
  };
  void start_member(int i, bool existing);
  void wait_healthy(const std::vector<int>& which);
  std::filesystem::path dir_;
  EtcdClusterOptions opt_;
  std::string binary_;
  std::string initial_cluster_;
  std::string token_;
  std::vector<Member> members_;
  ProcessSupervisor sup_;
};

/// The etcd binary: "etcd" on PATH, else /usr/bin/etcd; "" when absent.
std::string find_etcd_binary();

}  // namespace iotw::support
