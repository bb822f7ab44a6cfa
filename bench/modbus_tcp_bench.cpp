// Modbus TCP requests/s and latency: the DPS emulator (`iotw-emu dps --modbus-tcp`) against pymodbus's own
// Modbus TCP server (bench/pymodbus_server.py) serving the same register block, both driven in one run by
// the same libmodbus client. Results: bench/RESULTS.md. Never a test; nothing here asserts a time.
//
//   modbus_tcp_bench --emu build/bin/iotw-emu [--requests 20000] [--count 10] [--server-script PATH]
#include <CLI/CLI.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <fmt/format.h>
#include <modbus.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

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

struct Result {
  double req_per_s = 0, p50_us = 0, p99_us = 0;
  int errors = 0;
};

/// `requests` FC03 reads of `count` registers from address 0, one at a time (a poller's pattern).
Result drive(int port, int requests, int count, std::vector<uint16_t>* first = nullptr) {
  modbus_t* ctx = connect(port);
  std::vector<uint16_t> regs(count);
  std::vector<double> lat;
  lat.reserve(requests);
  Result r;
  for (int i = 0; i < 200; ++i) modbus_read_registers(ctx, 0, count, regs.data());  // warm-up
  if (first) *first = regs;
  const auto t0 = Clock::now();
  for (int i = 0; i < requests; ++i) {
    const auto a = Clock::now();
    if (modbus_read_registers(ctx, 0, count, regs.data()) != count) ++r.errors;
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  modbus_close(ctx);
  modbus_free(ctx);
  std::sort(lat.begin(), lat.end());
  r.req_per_s = requests / secs;
  r.p50_us = lat[lat.size() / 2];
  r.p99_us = lat[lat.size() * 99 / 100];
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Modbus TCP: DPS emulator vs pymodbus server, same libmodbus client"};
  // bench/CMakeLists.txt copies the script beside this executable.
  std::string emu, script = (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "pymodbus_server.py").string(),
                   python = "/usr/bin/python3";
  int requests = 20000, count = 10;
  app.add_option("--emu", emu, "path of iotw-emu")->required();
  app.add_option("--server-script", script, "pymodbus server script (default: the copy beside this executable)");
  app.add_option("--python", python, "python with pymodbus (Debian's python3-pymodbus)");
  app.add_option("--requests", requests, "FC03 requests per server")->check(CLI::Range(100, 10'000'000));
  app.add_option("--count", count, "registers per request")->check(CLI::Range(1, 10));
  CLI11_PARSE(app, argc, argv);
  try {
    const int emu_port = free_port();
    const iotw::SpawnOptions quiet{.stdout_file = "/dev/null", .stderr_file = "/dev/null"};
    iotw::ProcessSupervisor children;
    children.start("dps", emu, {"dps", "--modbus-tcp", fmt::format("127.0.0.1:{}", emu_port), "--events", "/dev/null"},
                   quiet);
    std::vector<uint16_t> block;
    const Result e = drive(emu_port, requests, count, &block);
    children.stop("dps", std::chrono::seconds(5));

    const int py_port = free_port();
    std::vector<std::string> args = {script, std::to_string(py_port)};
    for (uint16_t v : block) args.push_back(std::to_string(v));
    children.start("pymodbus", python, args, quiet);
    std::vector<uint16_t> py_block;
    const Result p = drive(py_port, requests, count, &py_block);
    children.stop("pymodbus", std::chrono::seconds(5));
    if (py_block != block) std::fprintf(stderr, "warning: the two servers served different register values\n");

    std::printf("| server | requests | req/s | p50 µs | p99 µs | errors |\n|---|---|---|---|---|---|\n");
    std::printf("| iotw-emu dps | %d | %.0f | %.0f | %.0f | %d |\n", requests, e.req_per_s, e.p50_us,
                e.p99_us, e.errors);
    std::printf("| pymodbus %s StartTcpServer | %d | %.0f | %.0f | %.0f | %d |\n", "3.0", requests, p.req_per_s,
                p.p50_us, p.p99_us, p.errors);
    std::printf("\nratio req/s emulator / pymodbus: %.1f; median latency pymodbus / emulator: %.1f\n",
                e.req_per_s / p.req_per_s, p.p50_us / e.p50_us);
    return e.errors || p.errors ? 1 : 0;
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "modbus_tcp_bench: %s\n", ex.what());
    return 2;
  }
}
