// Modbus TCP requests/s, latency and server CPU per request: the DPS emulator (`iotw-emu dps --modbus-tcp`)
// against pymodbus's own Modbus TCP server (bench/pymodbus_server.py) serving the same register block, both
// driven by the same client in one run. Results: bench/RESULTS.md. Never a test; nothing here asserts a time.
//
//   modbus_tcp_bench --emu build/bin/iotw-emu [--requests 20000] [--rounds 3] [--clients 1] [--count 10]
//                    [--pipeline K] [--emu-before PATH] [--floor] [--server-script PATH] [--python PATH]
//
// Two load shapes, FC03 reads of --count registers from address 0, unit 1:
//   - pollers (default): --clients libmodbus connections, each on its own thread, one request at a time (a
//     poller's pattern): requests/s = clients / mean round trip, which on a small host is mostly the kernel's
//     wakeups, not the server's work;
//   - saturated (--pipeline K): the server's capacity. --clients raw connections driven by one event-loop thread
//     (epoll), each keeping K requests in flight (distinct MBAP transaction ids; Modbus Messaging on TCP/IP
//     Implementation Guide V1.0b 4.2 allows several outstanding per connection): a reply is checked and the next
//     request sent as soon as it arrives, the requests of one wakeup in one write. Every reply is verified
//     (transaction id in order, protocol id, length, unit, function code, byte count, register values); a
//     mismatch counts as an error. Latency is from the write of a request to the read of its reply.
// Every server runs for the whole bench and the rounds rotate the order in which they are driven (round r starts
// with the r-th), so a change of the host's load during the run falls on all of them. Per round and server:
// requests/s over the timed requests (after 200 warm-up requests per client), the median, p99 and p99.9 latency,
// (pollers) the share of wall time spent in round trips over 10x the median (preemptions by other load), the
// server process's CPU time per request (all its threads, /proc/PID/task/*/schedstat: waiting does not count),
// the server's cores busy (its CPU seconds per wall second: below 1 on a shared host means it waited for a CPU
// or for requests) and the client's CPU per request (this process's driving threads). --emu-before adds a
// second emulator binary (e.g. an older build); --floor (pollers only) adds a zero-work server, a forked process
// that answers with a canned reply: the most any server can reach on this host for that load. The last line,
// "result ...", gives the medians over the rounds as key=value pairs (bench/run.sh reads it; floor_req_per_s is 0
// without --floor; pipeline=0 for pollers).
#include <CLI/CLI.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <fmt/format.h>
#include <modbus.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <latch>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iotw/support/process.hpp"

using Clock = std::chrono::steady_clock;

namespace {

int free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

/// A connected libmodbus TCP client (slave 1); waits up to 10 s for the server to listen.
modbus_t* connect(int port) {
  modbus_t* ctx = modbus_new_tcp("127.0.0.1", port);
  if (!ctx) throw std::runtime_error("modbus_new_tcp failed");
  modbus_set_slave(ctx, 1);
  modbus_set_response_timeout(ctx, 2, 0);
  for (int i = 0; i < 200; ++i) {
    if (modbus_connect(ctx) == 0) return ctx;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  modbus_free(ctx);
  throw std::runtime_error(fmt::format("no Modbus TCP server on 127.0.0.1:{}", port));
}

/// CPU time of process pid, all threads, in seconds (the scheduler's nanosecond count; 0 if unreadable).
double cpu_seconds(int pid) {
  double ns = 0;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(fmt::format("/proc/{}/task", pid), ec)) {
    std::ifstream f(task.path() / "schedstat");
    double on_cpu = 0;
    if (f >> on_cpu) ns += on_cpu;
  }
  return ns / 1e9;
}

/// CPU time of the calling thread, in seconds.
double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Server {
  const char* name;
  int port = 0;
  std::function<double()> cpu;  ///< the server's CPU seconds so far
};

/// The least any server can do on this host: a child process (forked from this one) that answers every 12-byte
/// FC03 request with the same reply over blocking read(2)/write(2), nothing else. Its round trip is the kernel's
/// (loopback TCP, two wakeups, two address-space switches, as for any server process); a real server's is this plus
/// its own work. Stopped with SIGKILL by the destructor.
class ZeroWorkServer {
 public:
  explicit ZeroWorkServer(const std::vector<uint16_t>& block) {
    std::vector<uint8_t> reply = {0, 0, 0, 0, 0, static_cast<uint8_t>(3 + 2 * block.size()), 1, 3,
                                  static_cast<uint8_t>(2 * block.size())};
    for (uint16_t v : block) {
      reply.push_back(static_cast<uint8_t>(v >> 8));
      reply.push_back(static_cast<uint8_t>(v & 0xFF));
    }
    const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (lfd < 0 || ::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(lfd, 8) != 0 ||
        ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("zero-work server: cannot listen on 127.0.0.1");
    port_ = ntohs(a.sin_port);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("zero-work server: fork failed");
    if (pid_ == 0) {  // the child: only async-signal-safe calls from here on
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      for (;;) {
        const int fd = ::accept(lfd, nullptr, nullptr);
        if (fd < 0) continue;
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        uint8_t req[12];
        for (;;) {
          std::size_t got = 0;
          while (got < sizeof req) {
            const ssize_t r = ::read(fd, req + got, sizeof req - got);
            if (r <= 0) break;
            got += static_cast<std::size_t>(r);
          }
          if (got < sizeof req) break;
          reply[0] = req[0];  // transaction id
          reply[1] = req[1];
          if (::write(fd, reply.data(), reply.size()) != static_cast<ssize_t>(reply.size())) break;
        }
        ::close(fd);
      }
    }
    ::close(lfd);
  }
  ~ZeroWorkServer() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  ZeroWorkServer(const ZeroWorkServer&) = delete;
  ZeroWorkServer& operator=(const ZeroWorkServer&) = delete;
  int port() const { return port_; }
  int pid() const { return pid_; }

 private:
  int port_ = 0;
  pid_t pid_ = -1;
};

struct Result {
  double req_per_s = 0, p50_us = 0, p99_us = 0, p999_us = 0, cpu_us_per_req = 0;
  double client_cpu_us_per_req = 0;  ///< CPU of this process's driving threads
  double server_busy = 0;            ///< server CPU seconds per wall second over the timed requests (cores busy)
  double slow_share = 0;  ///< share of the timed wall time spent in round trips over 10 x the median (pollers)
  int errors = 0;
};

/// Fills r's latency percentiles from `all` (µs; sorted here).
void percentiles(std::vector<double>& all, Result& r) {
  std::sort(all.begin(), all.end());
  if (all.empty()) return;
  r.p50_us = all[all.size() / 2];
  r.p99_us = all[all.size() * 99 / 100];
  r.p999_us = all[all.size() * 999 / 1000];
}

/// `requests` FC03 reads of `count` registers from address 0 in all, split over `clients` connections, each
/// one request at a time (a poller's pattern). `first` gets the registers of the first warm-up read.
Result drive(const Server& s, int requests, int count, int clients, std::vector<uint16_t>* first = nullptr) {
  std::vector<modbus_t*> ctxs;
  for (int c = 0; c < clients; ++c) ctxs.push_back(connect(s.port));
  std::vector<std::vector<double>> lat(clients);
  std::vector<int> errors(clients, 0);
  std::vector<double> client_cpu(clients, 0);
  std::latch ready(clients + 1), go(1);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      std::vector<uint16_t> regs(count);
      for (int i = 0; i < 200; ++i) modbus_read_registers(ctxs[c], 0, count, regs.data());  // warm-up
      if (c == 0 && first) *first = regs;
      const int n = requests / clients + (c < requests % clients ? 1 : 0);
      lat[c].reserve(n);
      ready.count_down();
      go.wait();
      const double cpu0 = thread_cpu_seconds();
      for (int i = 0; i < n; ++i) {
        const auto a = Clock::now();
        if (modbus_read_registers(ctxs[c], 0, count, regs.data()) != count) ++errors[c];
        lat[c].push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
      }
      client_cpu[c] = thread_cpu_seconds() - cpu0;
    });
  }
  ready.arrive_and_wait();
  const double cpu0 = s.cpu();
  const auto t0 = Clock::now();
  go.count_down();
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = s.cpu() - cpu0;
  for (modbus_t* ctx : ctxs) {
    modbus_close(ctx);
    modbus_free(ctx);
  }
  std::vector<double> all;
  Result r;
  double ccpu = 0;
  for (int c = 0; c < clients; ++c) {
    all.insert(all.end(), lat[c].begin(), lat[c].end());
    r.errors += errors[c];
    ccpu += client_cpu[c];
  }
  percentiles(all, r);
  r.req_per_s = requests / secs;
  r.client_cpu_us_per_req = ccpu * 1e6 / requests;
  r.server_busy = cpu / secs;
  double slow = 0;
  for (double x : all)
    if (x > 10 * r.p50_us) slow += x;
  r.slow_share = slow / 1e6 / secs;
  r.cpu_us_per_req = cpu * 1e6 / requests;
  return r;
}

/// A raw Modbus TCP client connection of the saturated driver: its own MBAP framing, K requests in flight.
struct PipelinedConnection {
  int fd = -1;
  uint16_t next_tid = 0;
  std::deque<std::pair<uint16_t, Clock::time_point>> in_flight;  ///< transaction id, write time; oldest first
  std::vector<uint8_t> in = std::vector<uint8_t>(65536);
  std::size_t in_len = 0;
  std::string out;  ///< requests not yet written
  bool want_out = false;
};

/// A blocking TCP connection to 127.0.0.1:port with TCP_NODELAY, then made non-blocking; waits up to 10 s.
int connect_raw(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  for (int i = 0; i < 200; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(fmt::format("socket: {}", std::strerror(errno)));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      const int fl = ::fcntl(fd, F_GETFL);
      ::fcntl(fd, F_SETFL, fl | O_NONBLOCK);
      return fd;
    }
    ::close(fd);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error(fmt::format("no Modbus TCP server on 127.0.0.1:{}", port));
}

/// The saturated load: `requests` FC03 reads of block.size() registers over `clients` connections driven by
/// this thread, each with `pipeline` requests in flight; every reply checked against `block`. A server that
/// answers nothing for 10 s ends the bench (std::runtime_error).
Result drive_saturated(const Server& s, int requests, int clients, int pipeline, const std::vector<uint16_t>& block) {
  const auto count = static_cast<uint16_t>(block.size());
  std::vector<PipelinedConnection> conns(static_cast<std::size_t>(clients));
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) throw std::runtime_error("epoll_create1 failed");
  for (std::size_t i = 0; i < conns.size(); ++i) {
    conns[i].fd = connect_raw(s.port);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
  }
  const auto set_out = [&](std::size_t i, bool on) {
    if (conns[i].want_out == on) return;
    conns[i].want_out = on;
    epoll_event ev{};
    ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
    ev.data.u64 = i;
    ::epoll_ctl(ep, EPOLL_CTL_MOD, conns[i].fd, &ev);
  };
  const auto flush = [&](std::size_t i) {
    auto& c = conns[i];
    while (!c.out.empty()) {
      const ssize_t w = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (w < 0) throw std::runtime_error(fmt::format("{}: send: {}", s.name, std::strerror(errno)));
      c.out.erase(0, static_cast<std::size_t>(w));
    }
    set_out(i, !c.out.empty());
  };
  int issued = 0, done = 0, errors = 0, target = 0;
  bool record = false;
  std::vector<double> lat;
  const auto queue_request = [&](PipelinedConnection& c, Clock::time_point now) {
    const uint16_t tid = c.next_tid++;
    const uint8_t req[12] = {static_cast<uint8_t>(tid >> 8), static_cast<uint8_t>(tid & 0xFF), 0, 0, 0, 6, 1,
                             3, 0, 0, static_cast<uint8_t>(count >> 8), static_cast<uint8_t>(count & 0xFF)};
    c.out.append(reinterpret_cast<const char*>(req), sizeof req);
    c.in_flight.emplace_back(tid, now);
    ++issued;
  };
  const auto error = [&](const std::string& what) {
    if (errors++ == 0) std::fprintf(stderr, "%s: %s\n", s.name, what.c_str());
  };
  const std::size_t reply_len = 9 + 2 * std::size_t{count};
  // Checks and consumes the whole replies at the front of c.in; false if the stream cannot be re-framed.
  const auto take_replies = [&](PipelinedConnection& c, Clock::time_point now) {
    std::size_t off = 0;
    while (c.in_len - off >= 6) {
      const uint8_t* p = c.in.data() + off;
      const std::size_t len = static_cast<std::size_t>(p[4] << 8 | p[5]);
      if (len < 2 || len > 254) {
        error(fmt::format("impossible MBAP length {}", len));
        return false;
      }
      if (c.in_len - off < 6 + len) break;
      const uint16_t tid = static_cast<uint16_t>(p[0] << 8 | p[1]);
      if (c.in_flight.empty()) {
        error("a reply to no request");
        return false;
      }
      const auto [want_tid, sent] = c.in_flight.front();
      c.in_flight.pop_front();
      if (tid != want_tid) {
        error(fmt::format("transaction id {} where {} was due", tid, want_tid));
      } else if (p[2] != 0 || p[3] != 0 || 6 + len != reply_len || p[6] != 1 || p[7] != 3 || p[8] != 2 * count) {
        error(fmt::format("reply header {:02x} {:02x} length {} unit {} function {} byte count {}", p[2], p[3], len,
                          p[6], p[7], p[8]));
      } else {
        for (uint16_t k = 0; k < count; ++k)
          if (static_cast<uint16_t>(p[9 + 2 * k] << 8 | p[10 + 2 * k]) != block[k]) {
            error(fmt::format("register {} = {}, expected {}", k, p[9 + 2 * k] << 8 | p[10 + 2 * k], block[k]));
            break;
          }
      }
      if (record) lat.push_back(std::chrono::duration<double, std::micro>(now - sent).count());
      ++done;
      off += 6 + len;
      if (issued < target) queue_request(c, now);
    }
    std::memmove(c.in.data(), c.in.data() + off, c.in_len - off);
    c.in_len -= off;
    return true;
  };
  std::vector<epoll_event> events(conns.size());
  // One phase: n requests in all, at most `pipeline` in flight per connection.
  const auto phase = [&](int n) {
    issued = done = 0;
    target = n;
    const auto now = Clock::now();
    for (std::size_t i = 0; i < conns.size(); ++i) {
      for (int k = 0; k < pipeline && issued < target; ++k) queue_request(conns[i], now);
      flush(i);
    }
    while (done < target) {
      const int ready = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 10000);
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) throw std::runtime_error(fmt::format("{} answered nothing for 10 s", s.name));
      for (int e = 0; e < ready; ++e) {
        const std::size_t i = events[e].data.u64;
        auto& c = conns[i];
        if (events[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
          const ssize_t r = ::recv(c.fd, c.in.data() + c.in_len, c.in.size() - c.in_len, 0);
          if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            throw std::runtime_error(fmt::format("{} closed a connection", s.name));
          if (r > 0) {
            c.in_len += static_cast<std::size_t>(r);
            if (!take_replies(c, Clock::now())) throw std::runtime_error(fmt::format("{}: reply stream lost", s.name));
          }
        }
        flush(i);
      }
    }
  };
  phase(200 * clients);  // warm-up
  record = true;
  lat.reserve(static_cast<std::size_t>(requests));
  const double cpu0 = s.cpu(), ccpu0 = thread_cpu_seconds();
  const auto t0 = Clock::now();
  phase(requests);
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = s.cpu() - cpu0, ccpu = thread_cpu_seconds() - ccpu0;
  for (auto& c : conns) ::close(c.fd);
  ::close(ep);
  Result r;
  percentiles(lat, r);
  r.req_per_s = requests / secs;
  r.cpu_us_per_req = cpu * 1e6 / requests;
  r.client_cpu_us_per_req = ccpu * 1e6 / requests;
  r.server_busy = cpu / secs;
  r.errors = errors;
  return r;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Modbus TCP: DPS emulator vs pymodbus server, the same client for both"};
  // bench/CMakeLists.txt copies the script beside this executable.
  std::string emu, emu_before,
      script = (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "pymodbus_server.py").string(),
      python = "/usr/bin/python3";
  int requests = 20000, count = 10, rounds = 3, clients = 1, pipeline = 0;
  bool floor = false;
  app.add_option("--emu", emu, "path of iotw-emu")->required();
  app.add_flag("--floor", floor,
               "also drive a zero-work server (a canned reply per request): this host's ceiling (pollers only)");
  app.add_option("--emu-before", emu_before, "a second iotw-emu (e.g. an older build) driven in the same rounds");
  app.add_option("--server-script", script, "pymodbus server script (default: the copy beside this executable)");
  app.add_option("--python", python, "python with pymodbus (Debian's python3-pymodbus)");
  app.add_option("--requests", requests, "timed FC03 requests per server and round")->check(CLI::Range(100, 10'000'000));
  app.add_option("--rounds", rounds, "rounds, each starting with the next server in turn")->check(CLI::Range(1, 100));
  app.add_option("--clients", clients, "connections in parallel (pollers: one thread each)")->check(CLI::Range(1, 64));
  app.add_option("--pipeline", pipeline,
                 "saturated load: requests in flight per connection, all connections on one event-loop thread "
                 "(default: pollers, one request at a time)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--count", count, "registers per request")->check(CLI::Range(1, 10));
  CLI11_PARSE(app, argc, argv);
  if (floor && pipeline > 0) {
    std::fprintf(stderr, "modbus_tcp_bench: --floor is for the poller load (its server answers one connection at a "
                         "time); leave it out with --pipeline\n");
    return 2;
  }
  try {
    const iotw::SpawnOptions quiet{.stdout_file = "/dev/null", .stderr_file = "/dev/null"};
    iotw::ProcessSupervisor children;
    std::vector<Server> servers;
    const auto start_emu = [&](const char* name, const std::string& exe) {
      Server s{name, free_port(), {}};
      const int pid = children.start(
          name, exe, {"dps", "--modbus-tcp", fmt::format("127.0.0.1:{}", s.port), "--events", "/dev/null"}, quiet);
      s.cpu = [pid] { return cpu_seconds(pid); };
      servers.push_back(s);
    };
    start_emu("iotw-emu dps", emu);
    if (!emu_before.empty()) start_emu("iotw-emu dps (before)", emu_before);
    std::vector<uint16_t> block(count);
    {  // the emulator's registers, served by pymodbus too
      modbus_t* ctx = connect(servers[0].port);
      const int got = modbus_read_registers(ctx, 0, count, block.data());
      modbus_close(ctx);
      modbus_free(ctx);
      if (got != count) throw std::runtime_error("the emulator did not answer the first FC03 read");
    }
    Server py{"pymodbus 3.0 StartTcpServer", free_port(), {}};
    std::vector<std::string> args = {script, std::to_string(py.port)};
    for (uint16_t v : block) args.push_back(std::to_string(v));
    const int py_pid = children.start(py.name, python, args, quiet);
    py.cpu = [py_pid] { return cpu_seconds(py_pid); };
    servers.push_back(py);
    std::optional<ZeroWorkServer> zero;
    if (floor) {
      zero.emplace(block);
      servers.insert(servers.end() - 1, Server{"zero-work server (a process: read, canned reply)", zero->port(),
                                               [pid = zero->pid()] { return cpu_seconds(pid); }});
    }

    std::printf("| round | server | clients | in flight per client | requests | req/s | p50 µs | p99 µs | p99.9 µs | "
                "time in round trips > 10x p50 | server CPU µs/req | server cores busy | client CPU µs/req | errors |\n"
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    std::vector<std::vector<Result>> results(servers.size());
    int errors = 0;
    for (int round = 1; round <= rounds; ++round) {
      for (std::size_t k = 0; k < servers.size(); ++k) {  // round r starts with server r-1 (mod n)
        const std::size_t i = (k + round - 1) % servers.size();
        Result r;
        if (pipeline > 0) {
          r = drive_saturated(servers[i], requests, clients, pipeline, block);
        } else {
          std::vector<uint16_t> seen;
          r = drive(servers[i], requests, count, clients, &seen);
          if (seen != block) std::fprintf(stderr, "warning: %s served other register values\n", servers[i].name);
        }
        std::printf("| %d | %s | %d | %d | %d | %.0f | %.0f | %.0f | %.0f | %s | %.2f | %.2f | %.2f | %d |\n", round,
                    servers[i].name, clients, std::max(pipeline, 1), requests, r.req_per_s, r.p50_us, r.p99_us,
                    r.p999_us, pipeline > 0 ? "—" : fmt::format("{:.0f}%", 100 * r.slow_share).c_str(),
                    r.cpu_us_per_req, r.server_busy, r.client_cpu_us_per_req, r.errors);
        std::fflush(stdout);
        errors += r.errors;
        results[i].push_back(r);
      }
    }
    children.stop_all(std::chrono::seconds(5));

    const auto med = [](const std::vector<Result>& v, double Result::*f) {
      std::vector<double> x;
      for (const auto& r : v) x.push_back(r.*f);
      return median(x);
    };
    const auto& er = results.front();
    const auto& pr = results.back();
    const double e_rps = med(er, &Result::req_per_s), p_rps = med(pr, &Result::req_per_s);
    const double e_p50 = med(er, &Result::p50_us), p_p50 = med(pr, &Result::p50_us);
    const double e_p99 = med(er, &Result::p99_us), p_p99 = med(pr, &Result::p99_us);
    const double e_cpu = med(er, &Result::cpu_us_per_req), p_cpu = med(pr, &Result::cpu_us_per_req);
    std::printf("\nmedians of %d round(s), against pymodbus:\n", rounds);
    for (std::size_t i = 0; i + 1 < servers.size(); ++i) {
      const auto& r = results[i];
      std::printf("  %s: req/s %.2fx (%.0f vs %.0f); median latency %.2fx shorter (%.0f vs %.0f µs); server CPU "
                  "per request %.2fx less (%.1f vs %.1f µs)\n",
                  servers[i].name, med(r, &Result::req_per_s) / p_rps, med(r, &Result::req_per_s), p_rps,
                  p_p50 / med(r, &Result::p50_us), med(r, &Result::p50_us), p_p50, p_cpu / med(r, &Result::cpu_us_per_req),
                  med(r, &Result::cpu_us_per_req), p_cpu);
    }
    if (floor) {
      const auto& z = results[servers.size() - 2];
      std::printf("  the most any server reaches here (zero-work server / pymodbus): req/s %.2fx, median round trip "
                  "%.2fx shorter\n",
                  med(z, &Result::req_per_s) / p_rps, p_p50 / med(z, &Result::p50_us));
    }
    std::printf("result clients=%d pipeline=%d requests=%d rounds=%d emu_req_per_s=%.0f py_req_per_s=%.0f req_per_s_ratio=%.3f "
                "emu_p50_us=%.1f py_p50_us=%.1f p50_ratio=%.3f emu_p99_us=%.1f py_p99_us=%.1f emu_cpu_us_per_req=%.2f py_cpu_us_per_req=%.2f "
                "cpu_ratio=%.3f emu_busy=%.2f py_busy=%.2f floor_req_per_s=%.0f errors=%d\n",
                clients, pipeline, requests, rounds, e_rps, p_rps, e_rps / p_rps, e_p50, p_p50, p_p50 / e_p50, e_p99, p_p99, e_cpu, p_cpu,
                p_cpu / e_cpu, med(er, &Result::server_busy), med(pr, &Result::server_busy), floor ? med(results[servers.size() - 2], &Result::req_per_s) : 0.0, errors);
    return errors ? 1 : 0;
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "modbus_tcp_bench: %s\n", ex.what());
    return 2;
  }
}
