// SoC mode over TAP (docs/emulators.md "TAP mode"): a Wi-Fi module (esp8266, esp32, rtl8710, rtl8195) whose
// firmware core reaches the trust node through a real TCP/IP stack, lwIP 2.1.3 (Debian's liblwip, the unix port:
// NO_SYS = 0, tcpip_thread, pthread sys_arch, tapif), on its own Linux TAP interface with its own MAC and IPv4
// address. Linux pings it and resolves it with ARP; the firmware's datagrams are lwIP UDP (raw API) frames that
// cross the kernel as real UDP to the trust node's [udp] port.
//
// lwIP keeps process-global state (one tcpip_thread, one netif list, one set of timers), so each TAP module runs
// in a process of its own: `iotw-emu --config POOL --device NAME`. A pool (`iotw-emu --config POOL`) starts one
// such child per TAP device (TapModuleProcess, tap_process.hpp) and stops them with itself.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/device_runtime.hpp"
#include "common/event_log.hpp"

namespace iotw::emu {

/// An IPv4 address with its prefix length, from "A.B.C.D/P".
struct Ipv4Cidr {
  uint32_t addr = 0;  ///< host byte order
  int prefix = 24;    ///< 8..30
};

/// Parses "A.B.C.D/P" (P 8..30). Throws std::invalid_argument with the reason.
Ipv4Cidr parse_ipv4_cidr(const std::string& text);
/// Parses "aa:bb:cc:dd:ee:ff" (hex, either case). A multicast MAC (bit 0 of the first octet) is refused.
/// Throws std::invalid_argument.
std::array<uint8_t, 6> parse_mac(const std::string& text);
/// "aa:bb:cc:dd:ee:ff" (lowercase).
std::string format_mac(const std::array<uint8_t, 6>& mac);
/// The models a TAP module can be: esp8266, esp32, rtl8710, rtl8195.
const std::vector<std::string>& tap_models();

/// One TAP module: lwIP (tcpip_thread + tapif_thread) and the firmware core (ports/host for keys, NVS and time;
/// link kind IOTW_LINK_DATAGRAM over an lwIP UDP pcb). The core runs on lwIP's tcpip_thread (its poll is an lwIP
/// timeout every 10 ms, its received datagrams come from the pcb's recv callback), as firmware does on the chip.
/// At most one per process (lwIP is global): a second instance throws std::logic_error.
class TapModule {
 public:
  /// spec.tap, spec.tap_ip, spec.tap_mac and spec.trust_node_udp set (pool_config.cpp checks them).
  /// Throws std::invalid_argument on a bad spec or behaviour.
  TapModule(DeviceSpec spec, EventLog& log);
  ~TapModule();
  TapModule(const TapModule&) = delete;
  TapModule& operator=(const TapModule&) = delete;

  /// Starts lwIP on spec.tap (which must already exist in this network namespace: the harness creates it),
  /// brings the netif up with the MAC and address, boots the firmware. Emits `boot_banner` (models with a chip profile)
  /// and `tap_started` {model, mode, tap, ip, mac, trust_node_udp, local_port, stack}. Throws std::runtime_error
  /// when the TAP interface does not exist, /dev/net/tun cannot be opened, or NVS is not writable.
  void start();
  /// Stops the firmware and the UDP pcb and takes the netif down (lwIP's threads live until the process exits).
  void stop();

 private:
  struct Stack;
  DeviceSpec spec_;
  EventLog& log_;
  std::unique_ptr<Stack> stack_;
};

}  // namespace iotw::emu
