// The serial fault proxy (harness/runner LinkFabric + FaultPolicy with no fault active) against socat
// bridging the same kind of PTY pairs (`socat pty,raw,echo=0 pty,raw,echo=0`), in one run. A device-side
// echo answers every message; the driver measures round trips of 64-byte COBS-sized frames (median, p99)
// and messages/s with one message in flight. Results: bench/RESULTS.md. Never a test.
//
//   link_proxy_bench [--messages 20000] [--size 64]
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "fault_policy.hpp"
#include "link_fabric.hpp"
#include "iotw/support/process.hpp"

using Clock = std::chrono::steady_clock;

namespace {

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
};

/// Echo on `dev`, drive on `node`: `n` round trips of `size` bytes (the last one 0x00, like a frame).
Result drive(const std::string& node_path, const std::string& dev_path, int n, int size) {
  const int node = open_raw(node_path), dev = open_raw(dev_path);
  std::atomic<bool> done{false};
  std::thread echo([&] {
    std::vector<std::uint8_t> buf(4096);
    while (!done) {
      const ssize_t r = ::read(dev, buf.data(), buf.size());
      if (r <= 0) break;
      if (::write(dev, buf.data(), static_cast<size_t>(r)) != r) break;
    }
  });
  std::vector<std::uint8_t> msg(size, 0x5a), back(size);
  msg.back() = 0;
  std::vector<double> lat;
  for (int i = 0; i < 200; ++i)  // warm-up
    if (::write(node, msg.data(), msg.size()) != size || !read_exact(node, back.data(), back.size()))
      throw std::runtime_error("warm-up round trip failed");
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    const auto a = Clock::now();
    if (::write(node, msg.data(), msg.size()) != size || !read_exact(node, back.data(), back.size()))
      throw std::runtime_error("round trip failed");
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  done = true;
  ::write(node, msg.data(), 1);  // wake the echo thread's read
  echo.join();
  ::close(node);
  ::close(dev);
  std::sort(lat.begin(), lat.end());
  return {n / secs, lat[lat.size() / 2], lat[lat.size() * 99 / 100]};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"serial fault proxy (pass-through) vs socat, PTY pairs, one run"};
  int n = 20000, size = 64;
  std::string socat = "/usr/bin/socat";
  app.add_option("--messages", n, "round trips per bridge")->check(CLI::Range(100, 10'000'000));
  app.add_option("--size", size, "bytes per message")->check(CLI::Range(2, 4096));
  app.add_option("--socat", socat, "socat binary");
  CLI11_PARSE(app, argc, argv);
  try {
    Result proxy;
    {
      iotw::harness::LinkFabric fabric;
      auto policy = std::make_unique<iotw::harness::FaultPolicy>(1);  // the proxy, no fault set
      const auto link = fabric.add_link("bench", std::move(policy));
      proxy = drive(link.node_side, link.device_side, n, size);
    }
    const auto dir = std::filesystem::temp_directory_path() / ("iotw-bench-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto a = (dir / "a").string(), b = (dir / "b").string();
    iotw::ProcessSupervisor children;
    children.start("socat", socat, {"pty,raw,echo=0,link=" + a, "pty,raw,echo=0,link=" + b},
                   {.stdout_file = "/dev/null", .stderr_file = "/dev/null"});
    for (int i = 0; i < 200 && !(std::filesystem::exists(a) && std::filesystem::exists(b)); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const Result s = drive(a, b, n, size);
    children.stop("socat", std::chrono::seconds(5));
    std::filesystem::remove_all(dir);
    std::printf("| bridge | messages | msgs/s | RTT p50 µs | RTT p99 µs |\n|---|---|---|---|---|\n");
    std::printf("| iotw fault proxy (FaultPolicy, no fault) | %d | %.0f | %.0f | %.0f |\n", n, proxy.msgs_per_s,
                proxy.p50_us, proxy.p99_us);
    std::printf("| socat pty,raw <-> pty,raw | %d | %.0f | %.0f | %.0f |\n", n, s.msgs_per_s, s.p50_us, s.p99_us);
    std::printf("\nratio msgs/s proxy / socat: %.2f; RTT p50 proxy / socat: %.2f; p99: %.2f\n",
                proxy.msgs_per_s / s.msgs_per_s, proxy.p50_us / s.p50_us, proxy.p99_us / s.p99_us);
    return 0;
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "link_proxy_bench: %s\n", ex.what());
    return 2;
  }
}
