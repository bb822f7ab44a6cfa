// Load driver: starts iotw-trust-node (UDP + HTTP on loopback), attaches D honest devices that sign with
// real Ed25519 keys, submits hash-only transactions through POST /v1/transactions/batch for S seconds, and
// prints finalized tx/s, blocks/s and p50/p99 block finalization latency (assignment_sent -> block_finalized
// in the node's events). Example: iotw_load_driver --node build/bin/iotw-trust-node --seconds 10
// Devices (class DevicePool: one socket, a loopback source address each) resend Hello with backoff until welcomed
// and heartbeat at the Welcome's interval, so idle devices of a large pool stay attached.
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <queue>
#include <set>
#include <sstream>
#include <thread>

#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <sodium.h>

#include "iotw/frame_codec.h"
#include "iotw/message_codec.h"
#include "iotw/signing.h"
#include "iotw/support/etcd_cluster.hpp"
#include "iotw/support/hex.hpp"
#include "iotw/support/process.hpp"
#include "iotw/trust_node/ledger.hpp"
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

/** The driver's devices: one UDP socket for all of them, each device its own loopback source address
 *  (127.1.0.0 + index, set per datagram with IP_PKTINFO; the node's answers are routed back by their
 *  destination address), so the node sees N distinct UDP peers while the driver holds one descriptor
 *  (RLIMIT_NOFILE here is 20,000 and cannot be raised; 127.0.0.0/8 is all local on Linux). Each device has its
 *  own Ed25519 key, resends Hello with backoff until welcomed, heartbeats at its Welcome's interval and answers
 *  Challenge, Assignment and WitnessRequest honestly. One thread; timers in a heap, so the cost is per
 *  datagram, not per device per loop. */
class DevicePool {
 public:
  static constexpr uint32_t base_addr = 0x7F010000;  // 127.1.0.0

  DevicePool(size_t n, uint16_t node_port, double hellos_per_s) : devs_(n) {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    // Only loopback traffic reaches it (needs CAP_NET_RAW; without it the source check below still applies).
    if (setsockopt(fd_, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3) != 0) std::perror("load driver: SO_BINDTODEVICE lo");
    const int on = 1, buf = 4 << 20;
    setsockopt(fd_, IPPROTO_IP, IP_PKTINFO, &on, sizeof on);
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    sockaddr_in any{};
    any.sin_family = AF_INET;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr *>(&any), sizeof any) != 0)
      throw std::runtime_error(std::string("device socket: ") + std::strerror(errno));
    node_.sin_family = AF_INET;
    node_.sin_port = htons(node_port);
    node_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (Device &d : devs_) crypto_sign_keypair(d.pk, d.sk);
    const auto t0 = Clock::now();
    for (size_t i = 0; i < n; ++i) {
      // First Hellos paced at hellos_per_s; then each device backs off on its own until welcomed.
      schedule(i, t0 + std::chrono::microseconds(static_cast<int64_t>(1e6 * static_cast<double>(i) / hellos_per_s)));
    }
  }
  ~DevicePool() { close(fd_); }

  /** Receives what is queued, sends what is due; waits at most 5 ms. */
  void step() {
    const auto now0 = Clock::now();
    int wait_ms = 5;
    if (!due_.empty())
      wait_ms = static_cast<int>(std::clamp<int64_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(due_.top().first - now0).count(), 0, 5));
    pollfd p{fd_, POLLIN, 0};
    poll(&p, 1, wait_ms);
    for (int k = 0; k < 4096 && receive(); ++k) {
    }
    const auto now = Clock::now();
    while (!due_.empty() && due_.top().first <= now) {
      const auto [at, i] = due_.top();
      due_.pop();
      Device &d = devs_[i];
      if (at != d.next_send) continue;  // rescheduled since
      if (d.attached) heartbeat(i, now);
      else hello(i, now);
    }
  }
  size_t attached() const {
    return static_cast<size_t>(std::count_if(devs_.begin(), devs_.end(), [](const Device &d) { return d.attached; }));
  }
  uint32_t max_heartbeat_ms() const {
    uint32_t m = 0;
    for (const Device &d : devs_) m = std::max(m, d.heartbeat_ms);
    return m;
  }
  uint64_t heartbeats = 0, hellos = 0, results = 0, attestations = 0, sends_failed = 0;

 private:
  struct Device {
    uint8_t pk[32], sk[64];
    bool attached = false;
    uint32_t heartbeat_ms = 1000;
    uint32_t backoff_ms = 1000;  ///< Hello resend delay (half of it jitter), doubled up to 30 s until welcomed
    uint64_t hb_seq = 0;
    Clock::time_point next_send{};  ///< next Hello (not attached) or Heartbeat (attached)
  };
  void schedule(size_t i, Clock::time_point at) {
    devs_[i].next_send = at;
    due_.emplace(at, static_cast<uint32_t>(i));
  }
  void hello(size_t i, Clock::time_point now) {
    Device &d = devs_[i];
    iotw_v1_Envelope h = iotw_v1_Envelope_init_zero;
    h.which_body = iotw_v1_Envelope_hello_tag;
    std::memcpy(h.body.hello.pubkey, d.pk, 32);
    std::snprintf(h.body.hello.model, sizeof h.body.hello.model, "bench");
    std::snprintf(h.body.hello.name, sizeof h.body.hello.name, "bench-%04zu", i);
    send(i, h);
    ++hellos;
    // Jitter (half the backoff, drawn per retry) keeps retries from synchronizing; the backoff doubles up to 30 s,
    // so 100,000 unadmitted devices retry at a few thousand Hellos a second, not tens of thousands.
    schedule(i, now + std::chrono::milliseconds(d.backoff_ms / 2 + randombytes_uniform(d.backoff_ms / 2 + 1)));
    d.backoff_ms = std::min<uint32_t>(2 * d.backoff_ms, 30000);
  }
  void heartbeat(size_t i, Clock::time_point now) {
    Device &d = devs_[i];
    iotw_v1_Envelope h = iotw_v1_Envelope_init_zero;
    h.which_body = iotw_v1_Envelope_heartbeat_tag;
    h.body.heartbeat.seq = ++d.hb_seq;
    send(i, h);
    ++heartbeats;
    schedule(i, now + std::chrono::milliseconds(d.heartbeat_ms));
  }
  /** One datagram's message header: peer address, one buffer, a control buffer for IP_PKTINFO (sendmsg/recvmsg). */
  static msghdr header(sockaddr_in &peer, iovec &iov, char *ctl, size_t ctl_len) {
    msghdr m{};
    m.msg_name = &peer;
    m.msg_namelen = sizeof peer;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = ctl_len;
    return m;
  }
  void send(size_t i, const iotw_v1_Envelope &e) {
    uint8_t p[IOTW_FRAME_MAX_PAYLOAD], d[IOTW_DATAGRAM_MAX];
    const size_t n = iotw_msg_encode(&e, p, sizeof p);
    iovec iov{d, iotw_datagram_encode(p, n, d, sizeof d)};
    alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(in_pktinfo))] = {};
    msghdr m = header(node_, iov, ctl, sizeof ctl);
    cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
    in_pktinfo pi{};
    pi.ipi_spec_dst.s_addr = htonl(base_addr + static_cast<uint32_t>(i));  // this device's source address
    std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
    if (sendmsg(fd_, &m, 0) < 0) ++sends_failed;  // a full buffer is a lost datagram, as on a real network
  }
  /** One datagram, if any: dispatched to the device it was addressed to. */
  bool receive() {
    uint8_t d[IOTW_DATAGRAM_MAX + 1];
    alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(in_pktinfo))];
    sockaddr_in from{};
    iovec iov{d, sizeof d};
    msghdr m = header(from, iov, ctl, sizeof ctl);
    const ssize_t n = recvmsg(fd_, &m, 0);
    if (n < 0) return false;
    if (from.sin_addr.s_addr != node_.sin_addr.s_addr || from.sin_port != node_.sin_port) return true;
    for (cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
        in_pktinfo pi;
        std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
        const uint32_t i = ntohl(pi.ipi_addr.s_addr) - base_addr;
        if (i < devs_.size()) on_datagram(i, d, static_cast<size_t>(n));
      }
    return true;
  }
  void on_datagram(size_t i, const uint8_t *d, size_t n) {
    Device &dev = devs_[i];
    uint8_t msg[IOTW_SIG_MSG_MAX];
    const long len = iotw_datagram_check(d, n);
    iotw_v1_Envelope in, out = iotw_v1_Envelope_init_zero;
    if (len <= 0 || iotw_msg_decode(d, static_cast<size_t>(len), &in) != 0) return;
    if (in.which_body == iotw_v1_Envelope_welcome_tag) {
      dev.attached = true;
      dev.backoff_ms = 1000;
      if (in.body.welcome.heartbeat_interval_ms > 0) dev.heartbeat_ms = in.body.welcome.heartbeat_interval_ms;
      // The first Heartbeat right away (docs/protocol.md §6 step 6: it confirms the attachment).
      return heartbeat(i, Clock::now());
    }
    if (in.which_body == iotw_v1_Envelope_error_tag && in.body.error.code == 1) {  // not registered: again
      dev.attached = false;
      return schedule(i, Clock::now());
    }
    if (in.which_body == iotw_v1_Envelope_challenge_tag) {
      // Admitted: if the Prove or the Welcome is lost, the next Hello goes out soon (not after a long backoff:
      // the node holds a registration slot until then).
      dev.backoff_ms = 1000;
      schedule(i, Clock::now() + std::chrono::milliseconds(1000 + randombytes_uniform(500)));
      out.which_body = iotw_v1_Envelope_prove_tag;
      std::memcpy(out.body.prove.pubkey, dev.pk, 32);
      const size_t k = iotw_sigmsg_register(in.body.challenge.nonce, dev.pk, msg);
      crypto_sign_detached(out.body.prove.signature, nullptr, msg, k, dev.sk);
    } else if (in.which_body == iotw_v1_Envelope_assignment_tag) {
      out.which_body = iotw_v1_Envelope_result_tag;
      out.body.result.assignment_id = in.body.assignment.assignment_id;
      crypto_hash_sha256(out.body.result.block_hash, in.body.assignment.header, 120);
      const size_t k = iotw_sigmsg_result(out.body.result.assignment_id, out.body.result.block_hash, msg);
      crypto_sign_detached(out.body.result.signature, nullptr, msg, k, dev.sk);
      ++results;
    } else if (in.which_body == iotw_v1_Envelope_witness_request_tag) {
      const auto &r = in.body.witness_request;
      uint8_t h[32];
      crypto_hash_sha256(h, r.header, 120);
      out.which_body = iotw_v1_Envelope_attestation_tag;
      auto &a = out.body.attestation;
      a.round_id = r.round_id;
      std::memcpy(a.block_hash, r.block_hash, 32);
      a.verdict = std::memcmp(h, r.block_hash, 32) == 0 ? iotw_v1_Verdict_VERDICT_VALID : iotw_v1_Verdict_VERDICT_INVALID;
      const size_t k = iotw_sigmsg_attest(a.round_id, a.block_hash, static_cast<uint8_t>(a.verdict), msg);
      crypto_sign_detached(a.signature, nullptr, msg, k, dev.sk);
      ++attestations;
    } else {
      return;
    }
    send(i, out);
  }

  int fd_ = -1;
  sockaddr_in node_{};
  std::vector<Device> devs_;
  std::priority_queue<std::pair<Clock::time_point, uint32_t>, std::vector<std::pair<Clock::time_point, uint32_t>>,
                      std::greater<>>
      due_;
};

int read_port(const fs::path &f) {
  for (int i = 0; i < 1000; ++i) {
    std::ifstream in(f);
    int p = 0;
    if (in >> p) return p;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  throw std::runtime_error("no port file " + f.string());
}

/** splitmix64 finalizer: a bijection on 64-bit values (distinct inputs give distinct outputs). */
uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/** Appends a hash-only tx payload: a digest-like 32 bytes (raw, for the binary batch) or its 64 lower-case hex
 *  digits (JSON, whose strings are text), unique per id
 *  (the first 16 digits are mix64(id), a bijection). Cheaper than hashing, so the driver, which shares the
 *  node's 2 cores, spends less of them (bench/RESULTS.md). */
void append_payload(std::string &out, uint64_t id, bool raw = false) {
  uint8_t digest[32];
  for (uint64_t w = 0; w < 4; ++w) {
    const uint64_t v = w == 0 ? mix64(id) : mix64(id * 4 + w + 0x9e3779b97f4a7c15ull);
    for (int k = 0; k < 8; ++k) digest[8 * w + k] = static_cast<uint8_t>(v >> (56 - 8 * k));  // big-endian
  }
  if (raw) out.append(reinterpret_cast<const char *>(digest), sizeof digest);  // the binary batch: the 32 bytes
  else iotw::append_hex(out, digest);                                           // JSON text: 64 hex digits
}

/** "accepted" of a batch answer, read without parsing its per-tx results (the node writes it first): the JSON
 *  key, or the binary answer's u32 at byte 8 (docs/trust-node.md "Binary batch"). */
uint64_t accepted_of(const std::string &body, bool binary) {
  if (binary) {
    if (body.size() < 20 || body.compare(0, 4, "ITXR") != 0) return 0;
    const auto *b = reinterpret_cast<const uint8_t *>(body.data());
    return b[8] | b[9] << 8 | b[10] << 16 | static_cast<uint64_t>(b[11]) << 24;
  }
  const size_t at = body.find("\"accepted\":");
  return at == std::string::npos ? 0 : std::strtoull(body.c_str() + at + 11, nullptr, 10);
}

/** CPU seconds (user + system) of /proc/<path>/stat (a process, or one of its threads under task/). */
double proc_cpu_s(const std::string &path) {
  std::ifstream in("/proc/" + path + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = all.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(all.substr(close + 2));
  std::string f;
  unsigned long long ut = 0, st = 0;
  for (int i = 3; i <= 15 && rest >> f; ++i) {  // fields 14 (utime) and 15 (stime), in clock ticks
    if (i == 14) ut = std::stoull(f);
    if (i == 15) st = std::stoull(f);
  }
  return static_cast<double>(ut + st) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

/** A "VmRSS:"-style line of /proc/PID/status, in KiB (0 if absent). */
uint64_t proc_status_kib(pid_t pid, const std::string &key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + ":", 0) == 0) return std::stoull(line.substr(key.size() + 1));
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  CLI::App app{"IOTW trust-node load driver (bench/RESULTS.md)"};
  std::string node_bin;
  double seconds = 10;
  size_t batch = 1000, devices = 4, in_flight = 2;
  uint32_t witnesses = 3, max_txs = 10000;
  app.add_option("--node", node_bin, "iotw-trust-node binary")->required();
  app.add_option("--seconds", seconds, "load duration");
  app.add_option("--batch", batch, "transactions per batch request (<= 10000)")->check(CLI::Range(1, 10000));
  app.add_option("--devices", devices, "attached devices (>= witnesses + 1)");
  app.add_option("--witnesses", witnesses, "n per witness round");
  app.add_option("--max-txs-per-block", max_txs, "[consensus] max_txs_per_block");
  app.add_option("--clients", in_flight, "concurrent HTTP clients");
  std::string encoding = "binary";
  app.add_option("--encoding", encoding, "batch body: binary (application/vnd.iotw.tx-batch) or json")
      ->check(CLI::IsMember({"binary", "json"}));
  double attach_timeout = 60;
  bool keep = false;
  int etcd_members = 0;
  app.add_option("--etcd-members", etcd_members,
                 "0 = the SQLite store (default); N = the etcd store on a local cluster of N real etcd members, "
                 "the node as a one-node mesh (docs/trust-node.md \"Mesh\")")
      ->check(CLI::Range(0, 7));
  app.add_flag("--keep", keep, "keep the node's folder (config, db, events.jsonl) and print its path");
  app.add_option("--attach-timeout", attach_timeout, "seconds to wait for every device to attach");
  double hellos_per_s = 1000;
  app.add_option("--hellos-per-s", hellos_per_s, "devices' first Hellos per second (then each backs off alone)")
      ->check(CLI::PositiveNumber);
  uint32_t max_heartbeats = 10000;
  app.add_option("--max-heartbeats-per-s", max_heartbeats, "the node's [consensus] max_heartbeats_per_s");
  uint64_t device_timeout_ms = 5000;
  app.add_option("--device-timeout-ms", device_timeout_ms, "the node's [consensus] device_timeout_ms");
  CLI11_PARSE(app, argc, argv);
  if (sodium_init() < 0) return 1;

  char tmpl[] = "/tmp/iotw-load-XXXXXX";
  const fs::path dir = mkdtemp(tmpl);
  std::unique_ptr<iotw::support::EtcdCluster> etcd;
  std::string store = "[node]\ndb = \"l.sqlite\"\n";
  if (etcd_members > 0) {
    try {
      etcd = std::make_unique<iotw::support::EtcdCluster>(dir / "etcd",
                                                           iotw::support::EtcdClusterOptions{.members = etcd_members});
    } catch (const std::exception &e) {
      std::cerr << "load driver: " << e.what() << "\n";
      return 1;
    }
    std::string eps;
    for (const std::string &e : etcd->client_endpoints()) eps += (eps.empty() ? "\"" : ", \"") + e + "\"";
    store = "[store]\nkind = \"etcd\"\nendpoints = [" + eps + "]\n[mesh]\nnode_id = \"tn-0\"\n[node]\nkey = \"node.key\"\n";
  }
  std::ofstream(dir / "tn.toml") << store << "seed = 1\nevents = \"events.jsonl\"\n"
                                 << "[http]\nlisten = \"127.0.0.1:0\"\nport_file = \"http.port\"\n"
                                 << "[udp]\nlisten = \"127.0.0.1:0\"\nport_file = \"udp.port\"\n"
                                 // room for every device (the defaults bound hostile sources: docs/trust-node.md)
                                 << "max_peers = " << std::max<size_t>(devices + 1024, 4096) << "\n"
                                 << "[consensus]\nwitnesses = " << witnesses << "\nblock_interval_ms = 0\n"
                                 << "max_txs_per_block = " << max_txs << "\n"
                                 << "max_heartbeats_per_s = " << max_heartbeats << "\n"
                                 << "device_timeout_ms = " << device_timeout_ms << "\n"
                                 << "[registration]\nmax_devices = " << std::max<size_t>(devices, 100'000) << "\n";
  // The node shares the driver's stdout, stderr and process group; stopped with SIGTERM (30 s grace, then SIGKILL).
  iotw::ProcessSupervisor children;
  int pid = 0;
  try {
    pid = children.start("trust-node", node_bin, {"--config", (dir / "tn.toml").string()},
                         {.own_process_group = false, .parent_death_signal = SIGTERM});
  } catch (const std::exception &e) {
    std::cerr << "load driver: " << e.what() << "\n";
    return 1;
  }
  const int http_port = read_port(dir / "http.port"), udp_port = read_port(dir / "udp.port");

  const uint64_t rss_base_kib = proc_status_kib(pid, "VmRSS");  // before any device: the node's baseline
  const double node_cpu_attach0 = proc_cpu_s(std::to_string(pid));
  std::unique_ptr<DevicePool> pool;
  try {
    pool = std::make_unique<DevicePool>(devices, static_cast<uint16_t>(udp_port), hellos_per_s);
  } catch (const std::exception &e) {
    std::cerr << "load driver: " << e.what() << "\n";
    children.stop_all(std::chrono::seconds(30));
    return 1;
  }
  std::atomic<bool> stop{false};
  std::thread serve([&] {
    while (!stop) pool->step();
  });
  httplib::Client http("127.0.0.1", http_port);
  auto health = [&] { return nlohmann::json::parse(http.Get("/v1/health")->body); };
  const auto attach_t0 = Clock::now();
  while (health()["devices_attached"] != devices) {
    if (Clock::now() - attach_t0 > std::chrono::duration<double>(attach_timeout)) {
      std::cerr << "load driver: only " << health()["devices_attached"] << " of " << devices
                << " devices attached after " << attach_timeout << " s\n";
      stop = true;
      serve.join();
      children.stop_all(std::chrono::seconds(30));
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double attach_s = std::chrono::duration<double>(Clock::now() - attach_t0).count();
  const uint64_t attached_at_ms = static_cast<uint64_t>(  // wall clock, like the events' time_ms
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  const uint64_t rss_idle_kib = proc_status_kib(pid, "VmRSS");
  const double node_cpu_attach_s = proc_cpu_s(std::to_string(pid)) - node_cpu_attach0;

  std::atomic<uint64_t> submitted{0};
  auto etcd_cpu = [&] {  // all members' CPU seconds (the etcd store's side of each write)
    double sum = 0;
    for (int i = 0; etcd && i < etcd->size(); ++i)
      if (etcd->pid(i) > 0) sum += proc_cpu_s(std::to_string(etcd->pid(i)));
    return sum;
  };
  const double etcd_cpu0 = etcd_cpu();
  const double node_cpu0 = proc_cpu_s(std::to_string(pid)), io_cpu0 = proc_cpu_s(std::to_string(pid) + "/task/" + std::to_string(pid));
  rusage ru0{};
  getrusage(RUSAGE_SELF, &ru0);
  const auto t0 = std::chrono::steady_clock::now();
  const auto end = t0 + std::chrono::duration<double>(seconds);
  std::vector<std::thread> clients;
  for (size_t c = 0; c < in_flight; ++c)
    clients.emplace_back([&, c] {
      httplib::Client cl("127.0.0.1", http_port);
      cl.set_read_timeout(60, 0);
      std::string body;
      const bool binary = encoding == "binary";
      for (uint64_t n = 0; std::chrono::steady_clock::now() < end; ++n) {
        body.clear();
        body.reserve(20 + batch * 80);
        if (binary) {  // "ITXB", version 1, 3 zero bytes, u32 count; records: kind 0, u16 length 64, payload
          body.append("ITXB\x01\0\0\0", 8);
          for (int k = 0; k < 4; ++k) body += static_cast<char>((batch >> (8 * k)) & 0xff);
        } else {
          body += "{\"transactions\":[";
        }
        for (size_t i = 0; i < batch; ++i) {
          if (binary) body.append("\0\x20\0", 3);  // kind 0, 32 payload bytes
          else body += i ? ",{\"payload\":\"" : "{\"payload\":\"";  // hash-only tx
          append_payload(body, (static_cast<uint64_t>(c) << 48) | (n << 14) | i, binary);  // unique: i < 16384
          if (!binary) body += "\"}";
        }
        if (!binary) body += "]}";
        auto r = cl.Post("/v1/transactions/batch", body, binary ? "application/vnd.iotw.tx-batch" : "application/json");
        if (r && r->status == 202) submitted += accepted_of(r->body, binary);
      }
    });
  for (auto &t : clients) t.join();
  const uint64_t target = submitted;
  nlohmann::json h = health();
  while (h["pending_txs"] != 0) {  // drain: everything acknowledged gets finalized
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    h = health();
  }
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const uint64_t height = h["height"];
  const uint64_t attached_end = h["devices_attached"];
  const uint64_t rss_kib = proc_status_kib(pid, "VmRSS"), hwm_kib = proc_status_kib(pid, "VmHWM");
  // CPU spent during the measured interval: the whole node, its io thread (the main thread: core, SQLite,
  // UDP), and this driver (all its threads: HTTP clients and the devices' UDP loop).
  const double node_cpu = proc_cpu_s(std::to_string(pid)) - node_cpu0;
  const double io_cpu = proc_cpu_s(std::to_string(pid) + "/task/" + std::to_string(pid)) - io_cpu0;
  const double etcd_cpu_s = etcd_cpu() - etcd_cpu0;
  rusage ru1{};
  getrusage(RUSAGE_SELF, &ru1);
  auto tv = [](const timeval &t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  const double driver_cpu = tv(ru1.ru_utime) + tv(ru1.ru_stime) - tv(ru0.ru_utime) - tv(ru0.ru_stime);
  stop = true;
  serve.join();
  children.stop_all(std::chrono::seconds(30));

  std::map<uint64_t, uint64_t> assigned;  // height -> first assignment time
  std::vector<uint64_t> lat;
  std::set<std::string> miners, witnesses_seen;
  uint64_t detached = 0, detached_after_attach = 0;  // the latter: once every device had attached
  std::ifstream ev(dir / "events.jsonl");
  for (std::string line; std::getline(ev, line);) {
    if (line.find("\"device_detached\"") != std::string::npos) {
      ++detached;
      detached_after_attach += nlohmann::json::parse(line)["time_ms"].get<uint64_t>() >= attached_at_ms;
    }
    if (line.find("\"witness_requested\"") != std::string::npos)
      witnesses_seen.insert(nlohmann::json::parse(line)["fields"]["witness"].get<std::string>());
    if (line.find("\"assignment_sent\"") == std::string::npos && line.find("\"block_finalized\"") == std::string::npos)
      continue;
    const auto e = nlohmann::json::parse(line);
    const uint64_t ht = e["fields"]["height"];
    if (e["kind"] == "assignment_sent") assigned.emplace(ht, e["time_ms"].get<uint64_t>()),
                                        miners.insert(e["fields"]["miner"].get<std::string>());
    else if (assigned.count(ht)) lat.push_back(e["time_ms"].get<uint64_t>() - assigned[ht]);
  }
  // The SHA-256 limit (issue 17): one core doing nothing but the node's hashing per tx, with the node's own
  // function (iotw::tn::sha256: OpenSSL, SHA-NI where present): the payload digest (64 bytes here) and the
  // tx's 32 bytes of the block's tx_root input. Measured after the run, on an otherwise idle driver.
  double sha_payload_ns = 0, sha_root_ns = 0;
  {
    uint8_t payload[64] = {1};
    std::vector<uint8_t> roots(32 * 10000, 7);
    constexpr int kPayloads = 200000, kRoots = 20;
    const auto a = Clock::now();
    for (int i = 0; i < kPayloads; ++i) payload[0] = static_cast<uint8_t>(iotw::tn::sha256(payload, sizeof payload)[0] + i);
    const auto b = Clock::now();
    for (int i = 0; i < kRoots; ++i) roots[0] = iotw::tn::sha256(roots.data(), roots.size())[0];
    const auto c = Clock::now();
    sha_payload_ns = std::chrono::duration<double, std::nano>(b - a).count() / kPayloads;
    sha_root_ns = std::chrono::duration<double, std::nano>(c - b).count() / (kRoots * 10000.0);
  }
  const double sha_limit = 1e9 / (sha_payload_ns + sha_root_ns);
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) { return lat.empty() ? 0 : lat[std::min(lat.size() - 1, static_cast<size_t>(p * lat.size()))]; };
  std::cout << nlohmann::json{{"store", etcd_members ? "etcd x" + std::to_string(etcd_members) : "sqlite"},
                              {"devices", devices},
                              {"witnesses", witnesses},
                              {"batch", batch},
                              {"clients", in_flight},
                              {"encoding", encoding},
                              {"seconds", elapsed},
                              {"txs_finalized", target},
                              {"tx_per_s", target / elapsed},
                              {"blocks", height},
                              {"blocks_per_s", height / elapsed},
                              {"block_latency_ms_p50", pct(0.50)},
                              {"block_latency_ms_p99", pct(0.99)},
                              {"attach_s", attach_s},
                              {"devices_attached_end", attached_end},
                              {"device_detached_events", detached},
                              {"device_detached_after_attach", detached_after_attach},
                              {"node_cpu_attach_s", node_cpu_attach_s},
                              {"node_rss_kib_base", rss_base_kib},
                              {"node_bytes_per_device",
                               devices ? (static_cast<double>(rss_idle_kib) - static_cast<double>(rss_base_kib)) * 1024.0 /
                                             static_cast<double>(devices)
                                       : 0.0},
                              {"heartbeat_ms_max", pool->max_heartbeat_ms()},
                              {"driver_heartbeats", pool->heartbeats},
                              {"driver_hellos", pool->hellos},
                              {"driver_results", pool->results},
                              {"driver_attestations", pool->attestations},
                              {"driver_sends_failed", pool->sends_failed},
                              {"distinct_miners", miners.size()},
                              {"distinct_witnesses", witnesses_seen.size()},
                              {"node_rss_kib_attached_idle", rss_idle_kib},
                              {"node_rss_kib_end", rss_kib},
                              {"node_rss_kib_peak", hwm_kib},
                              {"node_cpu_s", node_cpu},
                              {"node_io_thread_cpu_s", io_cpu},
                              {"driver_cpu_s", driver_cpu},
                              {"node_cpu_us_per_tx", target ? node_cpu * 1e6 / static_cast<double>(target) : 0.0},
                              {"sha256_ns_per_payload", sha_payload_ns},
                              {"sha256_ns_per_root_entry", sha_root_ns},
                              {"sha256_limit_tx_per_s", sha_limit},
                              {"sha256_limit_fraction", target / elapsed / sha_limit},
                              {"etcd_cpu_s", etcd_cpu_s},
                              {"etcd_cpu_us_per_tx", target ? etcd_cpu_s * 1e6 / static_cast<double>(target) : 0.0}}
                   .dump(1)
            << "\n";
  if (keep) std::cerr << "load driver: node folder kept: " << dir.string() << "\n";
  else fs::remove_all(dir);
  return 0;
}
