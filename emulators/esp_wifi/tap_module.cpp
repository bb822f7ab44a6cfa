#include "esp_wifi/tap_module.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <stdexcept>
#include <thread>

#include <sodium.h>

#include "common/device_behaviour.hpp"
#include "common/firmware_host.hpp"
#include "common/ipv4_endpoint.hpp"
#include "common/chip_profile.hpp"
#include "iotw/support/hex.hpp"
#include "iotw/support/seeded_random.hpp"

// lwIP 2.1.3 as Debian builds it (/usr/include/lwip/lwipopts.h: NO_SYS 0, LWIP_TCPIP_CORE_LOCKING 1, pthread
// sys_arch of contrib/ports/unix, tapif reading PRECONFIGURED_TAPIF). lwipopts.h (sys_lock_tcpip_core) and
// netif/tapif.h declare C functions without extern "C", hence the block.
#undef TCP_MSS  // <netinet/tcp.h>'s (via Boost.Asio); lwipopts.h sets lwIP's own
extern "C" {
#include "lwip/init.h"
#include "lwip/ip_addr.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/tcpip.h"
#include "lwip/timeouts.h"
#include "lwip/udp.h"
#include "netif/tapif.h"
}

namespace iotw::emu {

namespace {
constexpr uint32_t kPollMs = 10;  // firmware poll period on tcpip_thread
std::atomic<bool> g_in_use{false};  // lwIP is process-global: one TapModule per process
std::once_flag g_tcpip_once;

void start_tcpip_thread() {
  std::promise<void> ready;
  tcpip_init([](void* arg) { static_cast<std::promise<void>*>(arg)->set_value(); }, &ready);
  ready.get_future().wait();
}
}  // namespace

const std::vector<std::string>& tap_models() {
  static const std::vector<std::string> v{"esp8266", "esp32", "rtl8710", "rtl8195"};
  return v;
}

Ipv4Cidr parse_ipv4_cidr(const std::string& text) {
  const auto slash = text.find('/');
  if (slash == std::string::npos) throw std::invalid_argument("'" + text + "' must be A.B.C.D/P");
  in_addr a{};
  if (::inet_pton(AF_INET, text.substr(0, slash).c_str(), &a) != 1)
    throw std::invalid_argument("'" + text + "': not an IPv4 address");
  const std::string p = text.substr(slash + 1);
  if (p.empty() || p.size() > 2 || p.find_first_not_of("0123456789") != std::string::npos)
    throw std::invalid_argument("'" + text + "': prefix must be 8..30");
  Ipv4Cidr c{ntohl(a.s_addr), std::stoi(p)};
  if (c.prefix < 8 || c.prefix > 30) throw std::invalid_argument("'" + text + "': prefix must be 8..30");
  return c;
}

std::array<uint8_t, 6> parse_mac(const std::string& text) {
  std::array<uint8_t, 6> mac{};
  unsigned v[6];
  char tail = 0;
  if (text.size() != 17 ||
      std::sscanf(text.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
    throw std::invalid_argument("'" + text + "' must be a MAC address aa:bb:cc:dd:ee:ff");
  for (int i = 0; i < 6; i++) mac[i] = static_cast<uint8_t>(v[i]);
  if (mac[0] & 1) throw std::invalid_argument("'" + text + "' is a multicast MAC address");
  return mac;
}

std::string format_mac(const std::array<uint8_t, 6>& mac) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  return buf;
}

/// Everything that lives on lwIP's side. Every member after construction is touched only with the core lock
/// held (tcpip_thread callbacks hold it; start/stop take it).
struct TapModule::Stack {
  TapModule* owner = nullptr;
  netif nif{};
  udp_pcb* pcb = nullptr;
  ip_addr_t node_ip{};
  uint16_t node_port = 0;
  bool running = false;
  bool added = false;  // the netif is in lwIP's list (start() got that far)
  std::string source, model;
  iotw_host_port_ctx port_ctx{};
  iotw_port port{};
  iotw_fw_config cfg{};
  iotw_fw fw{};
  iotw_fw_state reported = IOTW_FW_OFF;
  std::array<uint8_t, 2048> rx{};

  void note_state() {
    const iotw_fw_state s = iotw_fw_get_state(&fw);
    if (s == reported) return;
    reported = s;
    owner->log_.emit(source, "state", {{"state", state_name(s)}});
  }

  static void poll(void* arg) {  // tcpip_thread, core locked
    auto* self = static_cast<Stack*>(arg);
    if (!self->running) return;
    iotw_fw_poll(&self->fw);
    self->note_state();
    sys_timeout(kPollMs, &Stack::poll, self);
  }

  static void on_udp(void* arg, udp_pcb*, pbuf* p, const ip_addr_t*, u16_t) {  // tcpip_thread, core locked
    auto* self = static_cast<Stack*>(arg);
    const u16_t n = pbuf_copy_partial(p, self->rx.data(), static_cast<u16_t>(std::min<size_t>(p->tot_len, self->rx.size())), 0);
    pbuf_free(p);
    if (!self->running) return;
    iotw_fw_on_rx(&self->fw, self->rx.data(), n);
    self->note_state();
  }

  static int on_send(void* user, const uint8_t* bytes, size_t len) {  // from the core: core locked
    auto* self = static_cast<Stack*>(user);
    if (!self->pcb || len > 0xffff) return -1;
    pbuf* p = pbuf_alloc(PBUF_TRANSPORT, static_cast<u16_t>(len), PBUF_RAM);
    if (!p) return -1;
    std::memcpy(p->payload, bytes, len);
    const err_t e = udp_sendto(self->pcb, p, &self->node_ip, self->node_port);
    pbuf_free(p);
    return e == ERR_OK ? 0 : -1;
  }

  static void on_log(void* user, iotw_log_level level, const char* event, const char* detail) {
    auto* self = static_cast<Stack*>(user);
    self->owner->log_.emit(self->source, "log", {{"level", level_name(level)}, {"event", event}, {"detail", detail}});
  }
};

TapModule::TapModule(DeviceSpec spec, EventLog& log) : spec_(std::move(spec)), log_(log) {
  bool expected = false;
  if (!g_in_use.compare_exchange_strong(expected, true))
    throw std::logic_error("one TapModule per process (lwIP keeps global state)");
  try {
    parse_ipv4_cidr(spec_.tap_ip);
    parse_mac(spec_.tap_mac);
    parse_host_port(spec_.trust_node_udp);
    if (spec_.tap.empty() || spec_.tap.size() >= IFNAMSIZ)
      throw std::invalid_argument("tap must be an interface name of 1.." + std::to_string(IFNAMSIZ - 1) + " characters");
    bool known = false;
    for (const auto& m : tap_models()) known = known || m == spec_.model;
    if (!known) throw std::invalid_argument("model '" + spec_.model + "' cannot run over TAP");
    stack_ = std::make_unique<Stack>();
    Stack& s = *stack_;
    s.owner = this;
    s.source = "emu:" + spec_.name;
    s.model = spec_.model;
    s.cfg.name = spec_.name.c_str();
    s.cfg.model = s.model.c_str();
    s.cfg.fw_version = "iotw-fw-0.1";
    s.cfg.reset_reason = 1;  // power-on (ESP rst cause 1 / POWERON_RESET; Ameba: cold boot)
    for (const auto& m : chip_models())
      if (m == spec_.model) {
        const ChipProfile& prof = chip_profile(spec_.model);
        s.cfg.fw_version = prof.fw_version.c_str();  // static profile table: outlives the module
        s.cfg.reset_reason = prof.power_on_reset;
      }
    if (spec_.node_pubkey) s.cfg.node_pubkey = spec_.node_pubkey->data();  // spec_ outlives the core
    s.cfg.faults = behaviour_flags(spec_.behaviour).fw;
    set_nvs_dir(spec_.nvs_dir, s.port_ctx);
    set_port_seed(spec_.seed, s.port_ctx);  // the identity follows from the device's seed
    s.port_ctx.send = &Stack::on_send;
    s.port_ctx.log = &Stack::on_log;
    s.port_ctx.user = &s;
    s.port_ctx.kind = IOTW_LINK_DATAGRAM;  // one firmware frame per UDP datagram (payload + CRC-32)
    if (iotw_host_port_init(&s.port, &s.port_ctx) != 0) throw std::runtime_error("libsodium init failed");
  } catch (...) {
    g_in_use = false;
    throw;
  }
}

TapModule::~TapModule() {
  stop();
  g_in_use = false;
}

void TapModule::start() {
  Stack& s = *stack_;
  if (::if_nametoindex(spec_.tap.c_str()) == 0)
    throw std::runtime_error(spec_.name + ": TAP interface '" + spec_.tap +
                             "' does not exist in this network namespace (create it first: ip tuntap add dev " +
                             spec_.tap + " mode tap)");
  const int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(spec_.name + ": cannot open /dev/net/tun: " + std::strerror(errno));
  ::close(fd);
  const Ipv4Cidr ip = parse_ipv4_cidr(spec_.tap_ip);
  const auto mac = parse_mac(spec_.tap_mac);
  const auto [node_host, node_port] = parse_host_port(spec_.trust_node_udp);
  in_addr node{};
  if (::inet_pton(AF_INET, node_host.c_str(), &node) != 1)
    throw std::runtime_error(spec_.name + ": trust_node_udp must be an IPv4 endpoint");

  // tapif_init (contrib/ports/unix/port/netif/tapif.c) attaches to the interface named by PRECONFIGURED_TAPIF
  // (and then runs no ifconfig), exits the process with perror() when it cannot, and starts tapif_thread,
  // which feeds every frame to netif->input = tcpip_input.
  ::setenv("PRECONFIGURED_TAPIF", spec_.tap.c_str(), 1);
  // LWIP_RANDOMIZE_INITIAL_LOCAL_PORTS draws the first ephemeral port from LWIP_RAND() = rand() in udp_init() (Debian's
  // prebuilt liblwip: the macro cannot be pointed elsewhere): seed rand() from the device's own stream (its "lwip"
  // sub-seed, support/seeded_random.hpp), or from the OS when the device has no seed, so modules differ.
  ::srand(spec_.seed.empty() ? randombytes_random()
                             : static_cast<unsigned>(SeededStream(sub_seed(*from_hex<32>(spec_.seed), "lwip"))()));
  std::call_once(g_tcpip_once, start_tcpip_thread);

  ip4_addr_t addr, mask, gw;
  addr.addr = htonl(ip.addr);
  mask.addr = htonl(ip.prefix == 0 ? 0 : ~uint32_t{0} << (32 - ip.prefix));
  gw.addr = node.s_addr;  // the trust node's side of the link (the namespace's bridge)
  LOCK_TCPIP_CORE();
  if (!netif_add(&s.nif, &addr, &mask, &gw, nullptr, tapif_init, tcpip_input)) {
    UNLOCK_TCPIP_CORE();
    throw std::runtime_error(spec_.name + ": lwIP netif_add failed on " + spec_.tap);
  }
  s.added = true;
  std::memcpy(s.nif.hwaddr, mac.data(), 6);  // tapif sets a fixed 02:12:34:56:78:ab; the module has its own
  s.nif.hwaddr_len = 6;
  netif_set_default(&s.nif);
  netif_set_up(&s.nif);  // gratuitous ARP with the module's MAC
  s.pcb = udp_new_ip_type(IPADDR_TYPE_V4);
  if (!s.pcb || udp_bind(s.pcb, IP4_ADDR_ANY, 0) != ERR_OK) {  // an ephemeral local port, as the SDKs' sockets
    UNLOCK_TCPIP_CORE();
    throw std::runtime_error(spec_.name + ": lwIP cannot bind a UDP pcb");
  }
  ip_addr_set_ip4_u32(&s.node_ip, node.s_addr);
  s.node_port = node_port;
  udp_connect(s.pcb, &s.node_ip, s.node_port);  // like the firmware's connected socket: only the node's datagrams
  udp_recv(s.pcb, &Stack::on_udp, &s);
  const uint16_t local_port = s.pcb->local_port;
  UNLOCK_TCPIP_CORE();

  for (const auto& m : chip_models())
    if (m == spec_.model) {
      std::string banner;
      for (const auto& line : chip_profile(m).boot_banner) banner += line + "\n";
      log_.emit(s.source, "boot_banner", {{"text", banner}, {"model", m}, {"link", "tap:" + spec_.tap}});
    }
  log_.emit(s.source, "tap_started",
            {{"model", spec_.model}, {"mode", "soc"}, {"tap", spec_.tap}, {"ip", spec_.tap_ip},
             {"mac", format_mac(mac)}, {"trust_node_udp", spec_.trust_node_udp}, {"local_port", local_port},
             {"stack", "lwip " LWIP_VERSION_STRING}});

  LOCK_TCPIP_CORE();
  s.running = true;
  const int rc = iotw_fw_boot(&s.fw, &s.cfg, &s.port);  // sends Hello through the pcb
  if (rc == 0) {
    s.note_state();
    sys_timeout(kPollMs, &Stack::poll, &s);
  } else {
    s.running = false;
  }
  UNLOCK_TCPIP_CORE();
  if (rc != 0) throw std::runtime_error(spec_.name + ": NVS not writable");
}

void TapModule::stop() {
  if (!stack_ || !stack_->added) return;  // never started: no tcpip_thread, no core lock
  Stack& s = *stack_;
  LOCK_TCPIP_CORE();
  if (s.running || s.pcb) {
    s.running = false;
    sys_untimeout(&Stack::poll, &s);
    if (s.pcb) {
      udp_remove(s.pcb);
      s.pcb = nullptr;
    }
    netif_set_down(&s.nif);
  }
  UNLOCK_TCPIP_CORE();
}

}  // namespace iotw::emu
