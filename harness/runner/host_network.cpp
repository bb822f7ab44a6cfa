#include "host_network.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>

#include "tap_network.hpp"

namespace iotw::harness {
namespace {

std::string ipv4(std::uint32_t a) { return fmt::format("{}.{}.{}.{}", a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255); }

}  // namespace

HostPlan plan_hosts(const RigSpec& spec) {
  HostPlan plan;
  if (!spec.hosts) return plan;
  unsigned a = 0, b = 0, c = 0, d = 0, p = 24;
  std::sscanf(spec.hosts->subnet.c_str(), "%u.%u.%u.%u/%u", &a, &b, &c, &d, &p);
  const std::uint32_t network = a << 24 | b << 16 | c << 8 | d;
  plan.prefix = static_cast<int>(p);
  plan.latency_ms = spec.hosts->latency_ms;
  plan.jitter_ms = spec.hosts->jitter_ms;
  const std::string& tn = spec.hosts->trust_node;
  const std::string& far = spec.hosts->far_host();
  plan.hosts.push_back({tn, ipv4(network + 1), "hl-" + far});
  plan.hosts.push_back({far, ipv4(network + 2), "hl-" + tn});
  return plan;
}

HostNetwork::HostNetwork(const HostPlan& plan, std::uint64_t seed, const std::filesystem::path& commands_file)
    : plan_(plan) {
  std::vector<std::vector<std::string>> commands;
  for (const HostAddress& h : plan_.hosts) names_[h.host] = new_netns_name();
  const HostAddress &tn = plan_.trust_node(), &far = plan_.far();
  const std::string &ns_tn = names_.at(tn.host), &ns_far = names_.at(far.host);
  for (const HostAddress& h : plan_.hosts) commands.push_back({"netns", "add", names_.at(h.host)});
  for (const HostAddress& h : plan_.hosts) commands.push_back({"-n", names_.at(h.host), "link", "set", "lo", "up"});
  for (const HostAddress& h : plan_.hosts) {
    const std::string& ns = names_.at(h.host);
    commands.push_back({"-n", ns, "tuntap", "add", "dev", h.ifname, "mode", "tap"});
    commands.push_back({"-n", ns, "addr", "add", fmt::format("{}/{}", h.ip, plan_.prefix), "dev", h.ifname});
    commands.push_back({"-n", ns, "link", "set", h.ifname, "up"});
  }
  {
    std::ofstream out(commands_file, std::ios::trunc);
    out << "# the host link of this run: " << tn.host << " (" << ns_tn << ") <-> " << far.host << " (" << ns_far
        << "); the harness relays frames between the two TAP interfaces, " << plan_.latency_ms << " ms + 0.."
        << plan_.jitter_ms << " ms each way\n";
    for (const auto& cmd : commands) {
      out << "ip";
      for (const auto& w : cmd) out << ' ' << w;
      out << '\n';
    }
    if (!out.flush()) throw std::runtime_error("cannot write " + commands_file.string());
  }
  try {
    for (const auto& cmd : commands)
      if (auto [code, text] = run_ip(cmd); code != 0) {
        std::string line = "ip";
        for (const auto& w : cmd) line += ' ' + w;
        throw std::runtime_error(fmt::format("setting up the host link failed: `{}` ({}): {}", line, code, text));
      }
    home_fd_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home_fd_ < 0)
      throw std::runtime_error(std::string("cannot open /proc/thread-self/ns/net: ") + std::strerror(errno));
    for (const auto& [host, ns] : names_) {
      const int fd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        throw std::runtime_error(fmt::format("cannot open network namespace {}: {}", ns, std::strerror(errno)));
      fds_[host] = fd;
    }
    int taps[2] = {-1, -1};
    entered_ = true;  // from here on the thread may be in either namespace: teardown() brings it home
    try {
      for (int i : {0, 1}) {
        enter(plan_.hosts[i].host);
        taps[i] = HostLinkRelay::open_tap(plan_.hosts[i].ifname);
      }
    } catch (...) {
      for (int fd : taps)
        if (fd >= 0) ::close(fd);
      throw;
    }
    relay_ = std::make_unique<HostLinkRelay>(
        taps[0], taps[1],
        HostLinkShape{.latency_ms = plan_.latency_ms, .jitter_ms = plan_.jitter_ms}, seed);
    enter(tn.host);
  } catch (...) {
    teardown();
    throw;
  }
}

HostNetwork::~HostNetwork() { teardown(); }

void HostNetwork::enter(const std::string& host) const {
  if (::setns(fds_.at(host), CLONE_NEWNET) != 0)
    throw std::runtime_error(fmt::format("cannot enter network namespace {} (host {}): {}", names_.at(host), host,
                                         std::strerror(errno)));
}

HostNetwork::Visit::Visit(const HostNetwork& net, const std::string& host) : net_(net) { net_.enter(host); }

HostNetwork::Visit::~Visit() {
  try {
    net_.enter(net_.plan_.trust_node().host);
  } catch (...) {
  }
}

void HostNetwork::set_link_up(bool up) {
  if (relay_) relay_->set_partitioned(!up);
}

void HostNetwork::set_tap(HostLinkRelay::Tap tap) {
  if (relay_) relay_->set_tap(std::move(tap));
}

HostLinkCounts HostNetwork::link_counts(Direction dir) const { return relay_ ? relay_->counts(dir) : HostLinkCounts{}; }

void HostNetwork::teardown() noexcept {
  relay_.reset();  // its thread stopped and the TAP descriptors closed before the interfaces go
  if (entered_ && home_fd_ >= 0) ::setns(home_fd_, CLONE_NEWNET);
  entered_ = false;
  if (home_fd_ >= 0) ::close(home_fd_);
  home_fd_ = -1;
  for (auto& [host, fd] : fds_) ::close(fd);
  fds_.clear();
  for (const auto& [host, ns] : names_) {
    try {
      run_ip({"netns", "del", ns});  // its TAP interface goes with it
    } catch (...) {
    }
  }
  names_.clear();
}

}  // namespace iotw::harness
