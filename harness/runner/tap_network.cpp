#include "tap_network.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>

#include "iotw/support/process.hpp"

namespace iotw::harness {
namespace {

std::string ipv4(std::uint32_t a) { return fmt::format("{}.{}.{}.{}", a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255); }

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::atomic<int> g_namespaces{0};

}  // namespace

std::pair<int, std::string> run_ip(const std::vector<std::string>& args) {
  const std::string exe = ip_tool();
  if (exe.empty()) return {127, "the ip tool (iproute2) is not installed"};
  CapturedRun r;
  try {
    r = run_captured(exe, args, Stderr::merge);
  } catch (const std::exception& e) {
    return {127, e.what()};
  }
  while (!r.output.empty() && (r.output.back() == '\n' || r.output.back() == ' ')) r.output.pop_back();
  return {r.code, r.output};
}

std::string new_netns_name() {
  for (;;) {  // a name of our own: iotw-<pid>-<n>
    std::string name = fmt::format("iotw-{}-{}", ::getpid(), g_namespaces++);
    struct stat st {};
    if (::stat(("/run/netns/" + name).c_str(), &st) != 0) return name;
  }
}

std::optional<std::string> netns_unavailable() {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  std::vector<std::string> missing;
  if (::syscall(SYS_capget, &hdr, data) != 0) {
    missing.push_back(fmt::format("capget failed: {}", std::strerror(errno)));
  } else {
    for (auto [cap, name] : {std::pair{CAP_NET_ADMIN, "CAP_NET_ADMIN"}, {CAP_SYS_ADMIN, "CAP_SYS_ADMIN"}})
      if (!(data[cap / 32].effective & (1u << (cap % 32)))) missing.push_back(name);
  }
  std::string caps;
  for (const auto& m : missing) caps += (caps.empty() ? "" : " and ") + m;
  std::string out = caps.empty() ? "" : "this process lacks " + caps;
  if (ip_tool().empty())
    out += std::string(out.empty() ? "" : "; ") + "the ip tool is missing (apt-get install iproute2, or scripts/setup.sh)";
  if (out.empty()) return std::nullopt;
  return out;
}

std::string ip_tool() {
  for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"})
    if (::access(p, X_OK) == 0) return p;
  return "";
}

TapPlan plan_tap_network(const RigSpec& spec, std::uint64_t seed) {
  TapPlan plan;
  unsigned a = 0, b = 0, c = 0, d = 0, p = 24;
  std::sscanf(spec.tap.subnet.c_str(), "%u.%u.%u.%u/%u", &a, &b, &c, &d, &p);
  const std::uint32_t network = a << 24 | b << 16 | c << 8 | d;
  plan.prefix = static_cast<int>(p);
  plan.bridge_ip = ipv4(network + 1);
  const std::uint32_t s = static_cast<std::uint32_t>(splitmix64(seed) & 0xffffff);
  std::uint32_t k = 0;
  for (const DeviceInstance& dev : spec.instances()) {
    if (dev.link_kind() != LinkKind::Tap) continue;
    const char* oui = dev.model == "esp8266" ? "5c:cf:7f" : dev.model == "esp32" ? "24:0a:c4" : "00:e0:4c";
    const std::uint32_t low = (s + k) & 0xffffff;
    plan.devices.push_back({dev.name, fmt::format("tap{}", k), ipv4(network + 2 + k),
                            fmt::format("{}:{:02x}:{:02x}:{:02x}", oui, low >> 16, low >> 8 & 255, low & 255), dev.model});
    ++k;
  }
  return plan;
}

std::optional<std::string> tap_network_unavailable() {
  std::string out = netns_unavailable().value_or("");
  if (::access("/dev/net/tun", F_OK) != 0)
    out += std::string(out.empty() ? "" : "; ") + "/dev/net/tun does not exist (modprobe tun)";
  if (out.empty()) return std::nullopt;
  return out;
}

TapNamespace::TapNamespace(const TapPlan& plan, const std::filesystem::path& batch_file) {
  name_ = new_netns_name();
  std::string batch = "link set lo up\n";
  batch += fmt::format("link add {} type bridge\n", plan.bridge);
  batch += fmt::format("addr add {}/{} dev {}\n", plan.bridge_ip, plan.prefix, plan.bridge);
  batch += fmt::format("link set {} up\n", plan.bridge);
  for (const TapAddress& t : plan.devices) {
    batch += fmt::format("tuntap add dev {} mode tap\n", t.ifname);
    batch += fmt::format("link set {} master {}\n", t.ifname, plan.bridge);
    batch += fmt::format("link set {} up\n", t.ifname);
  }
  {
    std::ofstream out(batch_file, std::ios::trunc);
    out << "# ip -n " << name_ << " -batch " << batch_file.filename().string() << "\n" << batch;
    if (!out.flush()) throw std::runtime_error("cannot write " + batch_file.string());
  }
  if (auto [code, text] = run_ip({"netns", "add", name_}); code != 0)
    throw std::runtime_error(fmt::format("ip netns add {} failed ({}): {}", name_, code, text));
  try {
    if (auto [code, text] = run_ip({"-n", name_, "-batch", batch_file.string()}); code != 0)
      throw std::runtime_error(fmt::format("setting up network namespace {} failed ({}; commands in {}): {}", name_,
                                           code, batch_file.string(), text));
    home_fd_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home_fd_ < 0) throw std::runtime_error(std::string("cannot open /proc/thread-self/ns/net: ") + std::strerror(errno));
    const int fd = ::open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
      const int err = errno;
      if (fd >= 0) ::close(fd);
      throw std::runtime_error(fmt::format("cannot enter network namespace {}: {}", name_, std::strerror(err)));
    }
    ::close(fd);
    entered_ = true;
  } catch (...) {
    leave();
    throw;
  }
}

TapNamespace::~TapNamespace() { leave(); }

void TapNamespace::leave() noexcept {
  if (entered_ && home_fd_ >= 0) ::setns(home_fd_, CLONE_NEWNET);
  entered_ = false;
  if (home_fd_ >= 0) ::close(home_fd_);
  home_fd_ = -1;
  if (!name_.empty()) {
    try {
      run_ip({"netns", "del", name_});  // its bridge and TAP interfaces go with it
    } catch (...) {
    }
    name_.clear();
  }
}

}  // namespace iotw::harness
