#include "iotw/harness/rig_resources.hpp"

#include <fmt/format.h>
#include <sys/resource.h>

#include <fstream>
#include <limits>
#include <string>

#include "iotw/harness/rig_loader.hpp"
#include "qemu/qemu_model.hpp"  // emulators/: qemu-cortex-m3 devices have a QEMU process each

namespace iotw::harness {

namespace {
std::int64_t read_number(const char* path) {
  std::ifstream in(path);
  std::int64_t v = 0;
  return (in >> v) ? v : std::numeric_limits<std::int64_t>::max();
}
}  // namespace

HostResources host_resources() {
  HostResources h;
  const std::int64_t max = read_number("/proc/sys/kernel/pty/max"), nr = read_number("/proc/sys/kernel/pty/nr");
  h.free_ptys = max == std::numeric_limits<std::int64_t>::max() || nr == std::numeric_limits<std::int64_t>::max()
                    ? std::numeric_limits<std::int64_t>::max()
                    : max - nr;
  rlimit rl{};
  h.fd_limit = ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                   ? static_cast<std::int64_t>(rl.rlim_cur)
                   : std::numeric_limits<std::int64_t>::max();
  h.mem_available_kib = std::numeric_limits<std::uint64_t>::max();
  std::ifstream mem("/proc/meminfo");
  for (std::string key; mem >> key;) {
    std::uint64_t kib = 0;
    mem >> kib;
    if (key == "MemAvailable:") {
      h.mem_available_kib = kib;
      break;
    }
    mem.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return h;
}

void check_rig_resources(const RigSpec& spec, const HostResources& host) {
  using N = DeviceNeeds;
  std::int64_t devices = 0, ptys = 0, fds = N::kFdsBase;
  std::uint64_t kib = N::kKibBase;
  for (const DeviceGroup& g : spec.devices) {
    devices += g.count;
    const LinkWiring wiring = link_kind_info(g.link_kind()).wiring;
    if (wiring == LinkWiring::PtyPair) {
      ptys += N::kPtysPerPtyLink * g.count;
      fds += N::kFdsPerPtyLink * g.count;
    } else if (wiring == LinkWiring::TcpRelay) {
      fds += N::kFdsPerTcpRelay * g.count;
    } else {
      fds += N::kFdsPerUdpLink * g.count;
    }
    kib += N::kKibPerDevice * static_cast<std::uint64_t>(g.count);
    if (iotw::emu::is_qemu_model(g.model)) {
      ptys += N::kPtysPerQemu * g.count;
      kib += N::kKibPerQemu * static_cast<std::uint64_t>(g.count);
    }
    const auto where = fmt::format("{}:{}:1: the rig's devices up to this [[devices]] group ({} devices)",
                                   spec.file.string(), g.line, devices);
    if (ptys > host.free_ptys)
      throw RigError(fmt::format("{} need {} PTYs ({} per link = \"pty\" device, one more per qemu-cortex-m3) but the host has {} free "
                                 "(/proc/sys/kernel/pty/max minus /proc/sys/kernel/pty/nr); refused",
                                 where, ptys, N::kPtysPerPtyLink, host.free_ptys));
    if (fds > host.fd_limit)
      throw RigError(fmt::format("{} need about {} file descriptors in the harness ({} + {} per PTY device, {} per "
                                 "other device) but RLIMIT_NOFILE is {} (raise it with `ulimit -n`); refused",
                                 where, fds, N::kFdsBase, N::kFdsPerPtyLink, N::kFdsPerUdpLink, host.fd_limit));
    if (kib > host.mem_available_kib)
      throw RigError(fmt::format("{} need about {} MiB of memory ({} MiB + {} KiB per device, {} MiB per qemu-cortex-m3) but the host has {} MiB "
                                 "available (MemAvailable); refused",
                                 where, kib / 1024, N::kKibBase / 1024, N::kKibPerDevice, N::kKibPerQemu / 1024,
                                 host.mem_available_kib / 1024));
  }
}

}  // namespace iotw::harness
