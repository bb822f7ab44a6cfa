#include "iotw/support/etcd_cluster.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <boost/process/search_path.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

namespace iotw::support {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

/// `n` distinct free TCP ports on 127.0.0.1: bound with port 0 (the kernel picks), read back, then closed all
/// together (so no two are the same). Another process could take one before etcd binds it; on a test machine
/// that is rare, and the start then fails with etcd's "address already in use" in the log.
std::vector<int> free_ports(int n) {
  std::vector<int> fds, ports;
  for (int i = 0; i < n; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(std::string("etcd cluster: socket: ") + std::strerror(errno));
    fds.push_back(fd);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      const std::string err = std::strerror(errno);
      for (int f : fds) ::close(f);
      throw std::runtime_error("etcd cluster: cannot pick a free port: " + err);
    }
    ports.push_back(ntohs(a.sin_port));
  }
  for (int f : fds) ::close(f);
  return ports;
}

std::string url(int port) { return "http://127.0.0.1:" + std::to_string(port); }

}  // namespace

std::string find_etcd_binary() {
  const auto found = boost::process::search_path("etcd");
  if (!found.empty()) return found.string();
  std::error_code ec;
  if (fs::exists("/usr/bin/etcd", ec)) return "/usr/bin/etcd";
  return "";
}

EtcdCluster::EtcdCluster(fs::path dir, EtcdClusterOptions opt) : dir_(std::move(dir)), opt_(std::move(opt)) {
  if (opt_.members < 1) throw std::invalid_argument("etcd cluster: members must be at least 1");
  binary_ = opt_.binary.empty() ? find_etcd_binary() : opt_.binary;
  std::error_code ec;
  if (binary_.empty() || !fs::exists(binary_, ec))
    throw EtcdMissing("etcd not found (install Debian's etcd-server)" +
                      (opt_.binary.empty() ? std::string() : ": no file " + opt_.binary));
  fs::create_directories(dir_);
  const std::vector<int> ports = free_ports(2 * opt_.members);
  for (int i = 0; i < opt_.members; ++i) {
    Member m{opt_.name_prefix + "-" + std::to_string(i), ports[2 * i], ports[2 * i + 1], -1};
    initial_cluster_ += (i ? "," : "") + m.name + "=" + url(m.peer_port);
    members_.push_back(m);
  }
  // One token per cluster: members of another cluster that happened to get these ports are refused.
  token_ = opt_.name_prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(ports[0]);
  try {
    std::vector<int> all;
    for (int i = 0; i < opt_.members; ++i) {
      start_member(i, false);
      all.push_back(i);
    }
    wait_healthy(all);
  } catch (...) {
    for (int i = size() - 1; i >= 0; --i) sup_.stop(members_[i].name, 2s);
    throw;
  }
}

EtcdCluster::~EtcdCluster() {
  // One member at a time, last first: SIGTERM to all at once leaves each waiting for peers that are shutting
  // down too (the leader tries to hand its role over) until the grace ends.
  for (int i = size() - 1; i >= 0; --i) sup_.stop(members_[i].name, 5s);
}

void EtcdCluster::start_member(int i, bool existing) {
  Member& m = members_.at(i);
  const fs::path log = dir_ / ("etcd-" + std::to_string(i) + ".log");
  std::vector<std::string> args = {
      "--name", m.name,
      "--data-dir", (dir_ / (m.name + ".data")).string(),
      "--listen-client-urls", url(m.client_port),
      "--advertise-client-urls", url(m.client_port),
      "--listen-peer-urls", url(m.peer_port),
      "--initial-advertise-peer-urls", url(m.peer_port),
      "--initial-cluster", initial_cluster_,
      "--initial-cluster-state", existing ? "existing" : "new",
      "--initial-cluster-token", token_,
      // A whole ledger block (txs, effects) is one txn: raise the defaults (128 ops, 1.5 MiB).
      "--max-txn-ops", "16384",
      "--max-request-bytes", "10485760",
      // The members share one machine (round trips of microseconds): a 50 ms heartbeat and a 500 ms election
      // timeout (defaults 100 / 1000 ms, sized for a LAN) elect a new leader quickly after a kill in tests.
      "--heartbeat-interval", "50",
      "--election-timeout", "500",
      "--logger", "zap",
      "--log-outputs", "stderr",
  };
  m.pid = sup_.start(m.name, binary_, args, {.stdout_file = log, .stderr_file = log});
}

void EtcdCluster::wait_healthy(const std::vector<int>& which) {
  const auto deadline = std::chrono::steady_clock::now() + opt_.start_timeout;
  std::vector<int> waiting = which;
  while (!waiting.empty()) {
    if (auto ended = sup_.reap_exited()) {
      const auto it = std::find_if(members_.begin(), members_.end(),
                                   [&](const Member& m) { return m.name == ended->name; });
      const int i = static_cast<int>(it - members_.begin());
      if (it != members_.end()) it->pid = -1;
      throw std::runtime_error("etcd member " + ended->name + " exited with code " + std::to_string(ended->code) +
                               " while starting; its log (" + (dir_ / ("etcd-" + std::to_string(i) + ".log")).string() +
                               ") ends:\n" + log_tail(i));
    }
    std::erase_if(waiting, [&](int i) { return healthy(i); });
    if (waiting.empty()) break;
    if (std::chrono::steady_clock::now() > deadline) {
      const int i = waiting.front();
      throw std::runtime_error("etcd member " + members_[i].name + " not healthy within " +
                               std::to_string(opt_.start_timeout.count()) + " ms; its log ends:\n" + log_tail(i));
    }
    std::this_thread::sleep_for(50ms);
  }
}

int EtcdCluster::size() const { return static_cast<int>(members_.size()); }

std::vector<std::string> EtcdCluster::client_endpoints() const {
  std::vector<std::string> out;
  for (int i = 0; i < size(); ++i) out.push_back(client_endpoint(i));
  return out;
}

std::string EtcdCluster::client_endpoint(int i) const {
  return "127.0.0.1:" + std::to_string(members_.at(i).client_port);
}

int EtcdCluster::pid(int i) const { return members_.at(i).pid; }

void EtcdCluster::kill(int i) {
  Member& m = members_.at(i);
  sup_.kill(m.name);
  m.pid = -1;
}

void EtcdCluster::stop(int i) { sup_.signal(members_.at(i).name, SIGSTOP); }

void EtcdCluster::resume(int i) { sup_.signal(members_.at(i).name, SIGCONT); }

void EtcdCluster::restart(int i) {
  if (members_.at(i).pid != -1) throw std::logic_error("etcd cluster: member " + members_[i].name + " is running");
  start_member(i, true);
  wait_healthy({i});
}

bool EtcdCluster::healthy(int i) const {
  httplib::Client c("127.0.0.1", members_.at(i).client_port);
  c.set_connection_timeout(1s);
  c.set_read_timeout(1s);
  c.set_write_timeout(1s);
  const auto res = c.Get("/health");
  if (!res || res->status != 200) return false;
  const auto j = nlohmann::json::parse(res->body, nullptr, false);
  return j.is_object() && j.value("health", "") == "true";
}

std::string EtcdCluster::log_tail(int i, std::size_t max_bytes) const {
  std::ifstream in(dir_ / ("etcd-" + std::to_string(i) + ".log"), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string s = ss.str();
  return s.size() > max_bytes ? s.substr(s.size() - max_bytes) : s;
}

}  // namespace iotw::support
