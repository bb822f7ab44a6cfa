// Modbus TCP requests/s, latency and server CPU per request: the DPS emulator (`iotw-emu dps --modbus-tcp`)
// against pymodbus's own Modbus TCP server (bench/pymodbus_server.py) serving the same register block, both
// driven by the same libmodbus client in one run. Results: bench/RESULTS.md. Never a test; nothing here asserts
// a time.
//
//   modbus_tcp_bench --emu build/bin/iotw-emu [--requests 20000] [--rounds 3] [--clients 1] [--count 10]
//                    [--emu-before PATH] [--floor] [--server-script PATH] [--python PATH]
//
// Every server runs for the whole bench and the rounds rotate the order in which they are driven (round r starts
// with the r-th), so a change of the host's load during the run falls on all of them. Per round and server:
// requests/s over the timed requests (after 200 warm-up requests per client), the median, p99 and p99.9 round
// trip, the share of wall time spent in round trips over 10x the median (preemptions by other load), and the
// server process's CPU time per request (all its threads, /proc/PID/task/*/schedstat: waiting does not count).
// --emu-before adds a second emulator binary (e.g. an older build); --floor adds a zero-work server, a forked
// process that answers with a canned reply: the most any server can reach on this host. The last line,
// "result ...", gives the medians over the rounds as key=value pairs (bench/run.sh reads it; floor_req_per_s is 0
// without --floor).
#include <CLI/CLI.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <fmt/format.h>
#include <modbus.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
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
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
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
  double slow_share = 0;  ///< share of the timed wall time spent in round trips over 10 x the median
  int errors = 0;
};

/// `requests` FC03 reads of `count` registers from address 0 in all, split over `clients` connections, each
/// one request at a time (a poller's pattern). `first` gets the registers of the first warm-up read.
Result drive(const Server& s, int requests, int count, int clients, std::vector<uint16_t>* first = nullptr) {
  std::vector<modbus_t*> ctxs;
  for (int c = 0; c < clients; ++c) ctxs.push_back(connect(s.port));
  std::vector<std::vector<double>> lat(clients);
  std::vector<int> errors(clients, 0);
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
      for (int i = 0; i < n; ++i) {
        const auto a = Clock::now();
        if (modbus_read_registers(ctxs[c], 0, count, regs.data()) != count) ++errors[c];
        lat[c].push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
      }
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
  for (int c = 0; c < clients; ++c) {
    all.insert(all.end(), lat[c].begin(), lat[c].end());
    r.errors += errors[c];
  }
  std::sort(all.begin(), all.end());
  r.req_per_s = requests / secs;
  r.p50_us = all[all.size() / 2];
  r.p99_us = all[all.size() * 99 / 100];
  r.p999_us = all[all.size() * 999 / 1000];
  double slow = 0;
  for (double x : all)
    if (x > 10 * r.p50_us) slow += x;
  r.slow_share = slow / 1e6 / secs;
  r.cpu_us_per_req = cpu * 1e6 / requests;
  return r;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Modbus TCP: DPS emulator vs pymodbus server, same libmodbus client"};
  // bench/CMakeLists.txt copies the script beside this executable.
  std::string emu, emu_before,
      script = (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "pymodbus_server.py").string(),
      python = "/usr/bin/python3";
  int requests = 20000, count = 10, rounds = 3, clients = 1;
  bool floor = false;
  app.add_option("--emu", emu, "path of iotw-emu")->required();
  app.add_flag("--floor", floor, "also drive a zero-work server (a canned reply per request): this host's ceiling");
  app.add_option("--emu-before", emu_before, "a second iotw-emu (e.g. an older build) driven in the same rounds");
  app.add_option("--server-script", script, "pymodbus server script (default: the copy beside this executable)");
  app.add_option("--python", python, "python with pymodbus (Debian's python3-pymodbus)");
  app.add_option("--requests", requests, "timed FC03 requests per server and round")->check(CLI::Range(100, 10'000'000));
  app.add_option("--rounds", rounds, "rounds, each starting with the next server in turn")->check(CLI::Range(1, 100));
  app.add_option("--clients", clients, "connections, each one request at a time, in parallel")
      ->check(CLI::Range(1, 64));
  app.add_option("--count", count, "registers per request")->check(CLI::Range(1, 10));
  CLI11_PARSE(app, argc, argv);
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

    std::printf("| round | server | clients | requests | req/s | p50 µs | p99 µs | p99.9 µs | time in round trips > 10x "
                "p50 | server CPU µs/req | errors |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    std::vector<std::vector<Result>> results(servers.size());
    int errors = 0;
    for (int round = 1; round <= rounds; ++round) {
      for (std::size_t k = 0; k < servers.size(); ++k) {  // round r starts with server r-1 (mod n)
        const std::size_t i = (k + round - 1) % servers.size();
        std::vector<uint16_t> seen;
        const Result r = drive(servers[i], requests, count, clients, &seen);
        if (seen != block) std::fprintf(stderr, "warning: %s served other register values\n", servers[i].name);
        std::printf("| %d | %s | %d | %d | %.0f | %.0f | %.0f | %.0f | %.0f%% | %.1f | %d |\n", round, servers[i].name,
                    clients, requests, r.req_per_s, r.p50_us, r.p99_us, r.p999_us, 100 * r.slow_share, r.cpu_us_per_req,
                    r.errors);
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
    const double e_cpu = med(er, &Result::cpu_us_per_req), p_cpu = med(pr, &Result::cpu_us_per_req);
    std::printf("\nmedians of %d round(s), against pymodbus:\n", rounds);
    for (std::size_t i = 0; i + 1 < servers.size(); ++i) {
      const auto& r = results[i];
      std::printf("  %s: req/s %.2fx (%.0f vs %.0f); median round trip %.2fx shorter (%.0f vs %.0f µs); server CPU "
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
    std::printf("result clients=%d requests=%d rounds=%d emu_req_per_s=%.0f py_req_per_s=%.0f req_per_s_ratio=%.3f "
                "emu_p50_us=%.1f py_p50_us=%.1f p50_ratio=%.3f emu_cpu_us_per_req=%.2f py_cpu_us_per_req=%.2f "
                "cpu_ratio=%.3f floor_req_per_s=%.0f errors=%d\n",
                clients, requests, rounds, e_rps, p_rps, e_rps / p_rps, e_p50, p_p50, p_p50 / e_p50, e_cpu, p_cpu,
                p_cpu / e_cpu, floor ? med(results[servers.size() - 2], &Result::req_per_s) : 0.0, errors);
    return errors ? 1 : 0;
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "modbus_tcp_bench: %s\n", ex.what());
    return 2;
  }
}
