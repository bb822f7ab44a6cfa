// Resource check at load time (docs/rig-format.md "Resource check"): what a rig's devices need from the host
// (PTYs, file descriptors of one process, memory) against what the host allows, so `iotw rig check` and
// `iotw rig run` refuse a rig that cannot run, at the [[devices]] line where it stops fitting, with the numbers.
#pragma once
#include <cstdint>

#include "iotw/harness/rig_spec.hpp"

namespace iotw::harness {

/// What this host allows a run now.
struct HostResources {
  std::int64_t free_ptys = 0;            ///< /proc/sys/kernel/pty/max minus /proc/sys/kernel/pty/nr
  std::int64_t fd_limit = 0;             ///< RLIMIT_NOFILE soft limit (each run process inherits it)
  std::uint64_t mem_available_kib = 0;   ///< MemAvailable of /proc/meminfo, KiB
};

/// Reads the host's figures. A figure that cannot be read is set to INT64_MAX / UINT64_MAX (not checked).
HostResources host_resources();

/// Per-device needs (estimates documented in docs/rig-format.md "Resource check").
struct DeviceNeeds {
  static constexpr std::int64_t kPtysPerPtyLink = 2;    ///< the harness's link fabric: device side, node side
  static constexpr std::int64_t kFdsPerPtyLink = 4;     ///< the harness holds both masters and both slaves
  static constexpr std::int64_t kFdsPerUdpLink = 2;     ///< the UDP fault proxy's two sockets
  static constexpr std::int64_t kFdsPerTcpRelay = 3;    ///< an AT-over-TCP link: listener, module's and upstream connection
  static constexpr std::int64_t kFdsBase = 256;         ///< logs, sockets, the capture and the children's pipes
  static constexpr std::uint64_t kKibPerDevice = 256;   ///< emulator (~18 KiB measured) + harness link + node, KiB
  static constexpr std::uint64_t kKibBase = 262144;     ///< the three processes without devices, KiB
  // A qemu-cortex-m3 device also has its QEMU process (docs/emulators.md "QEMU Cortex-M devices"):
  static constexpr std::int64_t kPtysPerQemu = 1;       ///< the pool's PTY for the image's log UART
  static constexpr std::uint64_t kKibPerQemu = 49152;   ///< qemu-system-arm lm3s6965evb: ~36 MiB RSS measured, KiB
};

/// Throws RigError "FILE:LINE:1: ..." at the first [[devices]] group (in file order) where the running total of
/// PTYs, descriptors or memory exceeds what `host` allows; the message gives the need, the limit and its source.
void check_rig_resources(const RigSpec& spec, const HostResources& host);

}  // namespace iotw::harness
