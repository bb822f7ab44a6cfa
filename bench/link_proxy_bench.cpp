// The serial fault proxy (harness/runner LinkFabric + FaultPolicy with no fault active, in a process of its
// own) against socat bridging the same kind of PTY pairs (`socat pty,raw,echo=0 pty,raw,echo=0`), in one run. A
// device-side echo answers every message; the driver measures round trips of 64-byte COBS-sized frames (median,
// p99) and messages/s (from the summed round-trip times) with one message in flight. Both bridges are up for the
// whole run and carry alternate messages (proxy, socat, socat, proxy, ...), so the shared host's changing load
// falls on both alike. Results: bench/RESULTS.md. Never a test.
//
//   link_proxy_bench [--messages 20000] [--rounds 20] [--size 64] [--relay-cpu N] [--ends-cpu N]
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <sched.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "fault_policy.hpp"
#include "link_fabric.hpp"
#include "iotw/support/process.hpp"

using Clock = std::chrono::steady_clock;

namespace {

/// Confines the calling thread (and the threads and processes it starts from now on) to `cpu`; -1: all CPUs.
void pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (cpu < 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c) CPU_SET(c, &set);
  } else {
    CPU_SET(cpu, &set);
  }
  if (sched_setaffinity(0, sizeof set, &set) != 0)
    throw std::runtime_error("sched_setaffinity to CPU " + std::to_string(cpu) + " failed");
}

int open_raw(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_NOCTTY);
  if (fd < 0) throw std::runtime_error("open " + path);
  termios t{};
  tcgetattr(fd, &t);
  cfmakeraw(&t);
  tcsetattr(fd, TCSANOW, &t);
  return fd;
}

bool read_exact(int fd, std::uint8_t* p, size_t n) {
  while (n) {
    const ssize_t r = ::read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

struct Result {
  double msgs_per_s = 0, p50_us = 0, p99_us = 0;
  std::vector<double> round_p50_us;  ///< per round, in round order
};

/// One bridge's two ends as the bench uses them: the driver writes `node` and reads the echo back; a thread
/// echoes on `dev`. Latencies of every measured round trip are kept.
class Endpoint {
 public:
  Endpoint(const std::string& node_path, const std::string& dev_path, int size)
      : node_(open_raw(node_path)), dev_(open_raw(dev_path)), msg_(static_cast<size_t>(size), 0x5a),
        back_(static_cast<size_t>(size)) {
    msg_.back() = 0;
    echo_ = std::thread([this] {
      std::vector<std::uint8_t> buf(4096);
      while (!done_) {
        const ssize_t r = ::read(dev_, buf.data(), buf.size());
        if (r <= 0) break;
        if (::write(dev_, buf.data(), static_cast<size_t>(r)) != r) break;
      }
    });
  }
  ~Endpoint() {
    done_ = true;
    (void)!::write(node_, msg_.data(), 1);  // wake the echo thread's read
    echo_.join();
    ::close(node_);
    ::close(dev_);
  }
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  /// `n` round trips, not measured.
  void warm(int n) {
    for (int i = 0; i < n; ++i) once();
  }

  /// One measured round trip.
  void measure() {
    const auto a = Clock::now();
    once();
    const auto b = Clock::now();
    round_.push_back(std::chrono::duration<double, std::micro>(b - a).count());
    secs_ += std::chrono::duration<double>(b - a).count();
  }

  /// Ends a round: its median is kept, its round trips join the pooled ones.
  void end_round() {
    all_.insert(all_.end(), round_.begin(), round_.end());
    std::sort(round_.begin(), round_.end());
    round_p50_.push_back(round_[round_.size() / 2]);
    round_.clear();
  }

  Result result() {
    std::sort(all_.begin(), all_.end());
    return {static_cast<double>(all_.size()) / secs_, all_[all_.size() / 2], all_[all_.size() * 99 / 100],
            round_p50_};
  }

 private:
  void once() {
    if (::write(node_, msg_.data(), msg_.size()) != static_cast<ssize_t>(msg_.size()) ||
        !read_exact(node_, back_.data(), back_.size()))
      throw std::runtime_error("round trip failed");
  }

  int node_, dev_;
  std::vector<std::uint8_t> msg_, back_;
  std::atomic<bool> done_{false};
  std::thread echo_;
  std::vector<double> round_, all_, round_p50_;
  double secs_ = 0;
};

/// The proxy's own process (`--serve-proxy FILE`), as in a rig, where the harness process relays between the
/// trust node's and the pool's processes: a LinkFabric link through a FaultPolicy with no fault set; its two
/// slave paths go to FILE (node side, device side, one a line); runs until a signal ends it.
int serve_proxy(const std::string& file) {
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigaddset(&term, SIGINT);
  pthread_sigmask(SIG_BLOCK, &term, nullptr);  // the fabric's thread inherits the mask: sigwait below takes them
  iotw::harness::LinkFabric fabric;
  const auto link = fabric.add_link("bench", std::make_unique<iotw::harness::FaultPolicy>(1));
  {
    std::ofstream out(file + ".tmp");
    out << link.node_side << "\n" << link.device_side << "\n";
  }
  std::filesystem::rename(file + ".tmp", file);
  int sig = 0;
  sigwait(&term, &sig);
  return 0;
}

/// Waits up to 2 s for `path` to exist.
bool wait_for(const std::filesystem::path& path) {
  for (int i = 0; i < 200 && !std::filesystem::exists(path); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return std::filesystem::exists(path);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"serial fault proxy (pass-through) vs socat, PTY pairs, alternate messages in one run"};
  int n = 20000, size = 64, rounds = 20;
  std::string socat = "/usr/bin/socat";
  app.add_option("--messages", n, "measured round trips per bridge, split over the rounds")
      ->check(CLI::Range(100, 10'000'000));
  app.add_option("--size", size, "bytes per message")->check(CLI::Range(2, 4096));
  app.add_option("--rounds", rounds, "groups of messages reported with their own medians")
      ->check(CLI::Range(1, 1000));
  app.add_option("--socat", socat, "socat binary");
  int relay_cpu = -1, ends_cpu = -1;
  app.add_option("--relay-cpu", relay_cpu, "run both relay processes (the proxy's, socat) on this CPU (default: any)")
      ->check(CLI::Range(0, CPU_SETSIZE - 1));
  app.add_option("--ends-cpu", ends_cpu, "run the driver and both echo threads on this CPU (default: any)")
      ->check(CLI::Range(0, CPU_SETSIZE - 1));
  std::string serve;
  app.add_option("--serve-proxy", serve, "internal: be the proxy's process, writing its slave paths to this file")
      ->group("");
  CLI11_PARSE(app, argc, argv);
  if (!serve.empty()) {
    try {
      return serve_proxy(serve);
    } catch (const std::exception& ex) {
      std::fprintf(stderr, "link_proxy_bench --serve-proxy: %s\n", ex.what());
      return 2;
    }
  }
  if (n / rounds < 10) {
    std::fprintf(stderr, "link_proxy_bench: --messages must be at least 10 per round\n");
    return 2;
  }
  try {
    // Each bridge is a process of its own, as socat is and as the harness is in a rig: the driver and echo threads
    // live in this process, so a proxy thread in it would switch between threads of one address space where socat
    // switches between processes.
    pin_to(relay_cpu);  // both relay processes inherit it
    const auto dir = std::filesystem::temp_directory_path() / ("iotw-bench-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto a = (dir / "a").string(), b = (dir / "b").string(), paths = (dir / "proxy-paths").string();
    iotw::ProcessSupervisor children;
    children.start("proxy", "/proc/self/exe", {"--serve-proxy", paths},
                   {.stdout_file = "/dev/null", .stderr_file = (dir / "proxy.err").string()});
    children.start("socat", socat, {"pty,raw,echo=0,link=" + a, "pty,raw,echo=0,link=" + b},
                   {.stdout_file = "/dev/null", .stderr_file = "/dev/null"});
    if (!wait_for(paths))
      throw std::runtime_error("the proxy process wrote no slave paths (see " + dir.string() + "/proxy.err)");
    if (!wait_for(a) || !wait_for(b)) throw std::runtime_error("socat made no PTYs");
    std::string node_side, device_side;
    {
      std::ifstream in(paths);
      std::getline(in, node_side);
      std::getline(in, device_side);
    }
    pin_to(ends_cpu);  // the driver (this thread) and the echo threads
    Result proxy, s;
    {
      Endpoint p_end(node_side, device_side, size), s_end(a, b, size);
      p_end.warm(200);
      s_end.warm(200);
      // One message through each bridge in turn (which one goes first alternates), so both see the same moments
      // of the shared host: its state changes within milliseconds (a round trip's median moves from ~35 µs up in
      // steps of ~8.5 µs as more of its ~8 wakeups wait for a busy vCPU), and bridges measured one after the other
      // gave ratios from 0.2 to 1.8 in single runs. Rounds only group the messages for the per-round medians.
      const int per_round = n / rounds;
      for (int r = 0; r < rounds; ++r) {
        for (int i = 0; i < per_round; ++i) {
          Endpoint& first = i % 2 == 0 ? p_end : s_end;
          Endpoint& second = i % 2 == 0 ? s_end : p_end;
          first.measure();
          second.measure();
        }
        p_end.end_round();
        s_end.end_round();
      }
      proxy = p_end.result();
      s = s_end.result();
    }
    children.stop("socat", std::chrono::seconds(5));
    children.stop("proxy", std::chrono::seconds(5));
    std::filesystem::remove_all(dir);
    const int measured = n / rounds * rounds;
    std::printf("| bridge | messages | msgs/s | RTT p50 µs | RTT p99 µs |\n|---|---|---|---|---|\n");
    std::printf("| iotw fault proxy (FaultPolicy, no fault) | %d | %.0f | %.0f | %.0f |\n", measured,
                proxy.msgs_per_s, proxy.p50_us, proxy.p99_us);
    std::printf("| socat pty,raw <-> pty,raw | %d | %.0f | %.0f | %.0f |\n", measured, s.msgs_per_s, s.p50_us,
                s.p99_us);
    std::printf("\nratio msgs/s proxy / socat: %.2f; RTT p50 proxy / socat: %.2f; p99: %.2f\n",
                proxy.msgs_per_s / s.msgs_per_s, proxy.p50_us / s.p50_us, proxy.p99_us / s.p99_us);
    std::printf("CPUs: relays %s, driver and echoes %s\n",
                relay_cpu < 0 ? "any" : std::to_string(relay_cpu).c_str(),
                ends_cpu < 0 ? "any" : std::to_string(ends_cpu).c_str());
    std::printf("per-round RTT p50 proxy / socat (µs), %d rounds of %d messages each:", rounds, n / rounds);
    for (int r = 0; r < rounds; ++r)
      std::printf(" %.0f/%.0f", proxy.round_p50_us[static_cast<size_t>(r)],
                  s.round_p50_us[static_cast<size_t>(r)]);
    std::printf("\n");
    return 0;
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "link_proxy_bench: %s\n", ex.what());
    return 2;
  }
}
