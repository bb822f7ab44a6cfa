#include "udp_proxy.hpp"

#include <fmt/format.h>

#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

namespace iotw::harness {

namespace asio = boost::asio;
using asio::ip::udp;

namespace {
/// A datagram held for reordering is released anyway when no next datagram of its direction comes this soon.
constexpr auto kHoldLimit = std::chrono::milliseconds(250);
}  // namespace

bool UdpFaults::any() const {
  return loss_rate > 0 || duplicate_rate > 0 || reorder_rate > 0 || delay_ms > 0 || jitter_ms > 0 || partition;
}

void UdpFaultPolicy::set(const UdpFaults& faults) {
  std::lock_guard lock(mutex_);
  faults_ = faults;
}

UdpFaults UdpFaultPolicy::faults() const {
  std::lock_guard lock(mutex_);
  return faults_;
}

UdpFaultCounts UdpFaultPolicy::counts() const {
  std::lock_guard lock(mutex_);
  return counts_;
}

std::uint64_t UdpFaultPolicy::datagrams_delivered(Direction dir) const {
  return delivered_[static_cast<int>(dir)].load();
}

bool UdpFaultPolicy::holding(Direction dir) const {
  std::lock_guard lock(mutex_);
  return held_[static_cast<int>(dir)].has_value();
}

std::optional<std::vector<std::uint8_t>> UdpFaultPolicy::take_held(Direction dir) {
  const int d = static_cast<int>(dir);
  std::lock_guard lock(mutex_);
  auto out = std::move(held_[d]);
  held_[d].reset();
  if (out) ++delivered_[d];
  return out;
}

std::vector<Delivery> UdpFaultPolicy::on_datagram(Direction dir, std::vector<std::uint8_t> datagram) {
  const int d = static_cast<int>(dir);
  std::lock_guard lock(mutex_);
  const UdpFaults& f = faults_;
  std::vector<Delivery> out;
  if (!f.any() && !held_[d]) {  // pass-through
    ++delivered_[d];
    out.push_back({std::move(datagram), std::chrono::milliseconds(0)});
    return out;
  }
  if (f.partition) {
    ++counts_.partitioned;
    return out;
  }
  if (roll(f.loss_rate)) {
    ++counts_.lost;
    return out;
  }
  if (!held_[d] && roll(f.reorder_rate)) {  // held until the next datagram of this direction has gone
    held_[d] = std::move(datagram);
    ++counts_.reordered;
    return out;
  }
  std::chrono::milliseconds delay(f.delay_ms);
  if (f.jitter_ms > 0) delay += std::chrono::milliseconds(rng_() % static_cast<std::uint64_t>(f.jitter_ms + 1));
  counts_.delayed += delay.count() > 0 ? 1 : 0;
  if (roll(f.duplicate_rate)) {
    ++counts_.duplicated;
    out.push_back({datagram, delay});
  }
  out.push_back({std::move(datagram), delay});
  if (held_[d]) {
    out.push_back({std::move(*held_[d]), delay});
    held_[d].reset();
  }
  delivered_[d] += out.size();
  return out;
}

nlohmann::ordered_json udp_link_json(const UdpLinkStats& s, std::string_view kind) {
  const auto counts = [](const UdpDirectionCounts& c) {
    return nlohmann::ordered_json{{"datagrams", c.datagrams}, {"bytes", c.bytes},
                                  {"delivered_datagrams", c.delivered_datagrams}};
  };
  const UdpFaultCounts& f = s.faults;
  return {{"device", s.device},
          {"link", "udp"},
          {"kind", kind},
          {"faults", {{"lost_datagrams", f.lost}, {"duplicated_datagrams", f.duplicated},
                      {"reordered_datagrams", f.reordered}, {"delayed_datagrams", f.delayed},
                      {"partitioned_datagrams", f.partitioned}}},
          {"udp_proxy", fmt::format("{}:{}", s.proxy_ip, s.proxy_port)},
          {"node_to_device", counts(s.node_to_device)},
          {"device_to_node", counts(s.device_to_node)}};
}

// ---------------------------------------------------------------------------------------------------------------

class UdpRelay::Link {
 public:
  Link(asio::io_context& io, std::size_t index, std::string device, std::unique_ptr<UdpFaultPolicy> policy,
       udp::endpoint node, Tap tap, const std::string& bind_ip, std::uint16_t bind_port)
      : io_(io), index_(index), device_(std::move(device)), policy_(std::move(policy)), node_(node),
        tap_(std::move(tap)), front_(io), up_(io), flush_{asio::steady_timer(io), asio::steady_timer(io)} {
    boost::system::error_code ec;
    const auto front_ip = asio::ip::make_address_v4(bind_ip, ec);
    if (ec) throw FabricError(fmt::format("UDP proxy for {}: '{}' is not an IPv4 address", device_, bind_ip));
    for (udp::socket* s : {&front_, &up_}) {
      // the upstream socket: on loopback towards a node on this host, on any address towards another host
      const auto up_ip = node.address().is_loopback() ? asio::ip::make_address_v4("127.0.0.1")
                                                      : asio::ip::address_v4::any();
      const udp::endpoint at(s == &front_ ? front_ip : up_ip, s == &front_ ? bind_port : 0);
      s->open(udp::v4(), ec);
      if (!ec) s->bind(at, ec);
      if (ec)
        throw FabricError(fmt::format("UDP proxy for {}: cannot bind a socket on {}:{}: {}", device_,
                                      at.address().to_string(), at.port(), ec.message()));
    }
    front_ip_ = front_ip.to_bytes();
    port_ = front_.local_endpoint().port();
    up_port_ = up_.local_endpoint().port();
  }

  void start() {
    receive_front();
    receive_up();
  }

  UdpLinkStats stats() const {
    std::lock_guard lock(mutex_);
    return {device_, port_, front_.local_endpoint().address().to_string(), counts_[0], counts_[1], policy_->counts()};
  }
  std::uint16_t port() const { return port_; }
  UdpFaultPolicy* policy() { return policy_.get(); }

 private:
  void receive_front() {
    front_.async_receive_from(asio::buffer(front_buf_), front_from_, [this](boost::system::error_code ec, std::size_t n) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        module_ = front_from_;
        module_known_ = true;
        handle(Direction::DeviceToNode, std::vector<std::uint8_t>(front_buf_.begin(), front_buf_.begin() + n));
      }
      receive_front();
    });
  }
  void receive_up() {
    up_.async_receive_from(asio::buffer(up_buf_), up_from_, [this](boost::system::error_code ec, std::size_t n) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec && up_from_ == node_)
        handle(Direction::NodeToDevice, std::vector<std::uint8_t>(up_buf_.begin(), up_buf_.begin() + n));
      receive_up();
    });
  }

  void handle(Direction dir, std::vector<std::uint8_t> datagram) {
    const int d = static_cast<int>(dir);
    {
      std::lock_guard lock(mutex_);
      ++counts_[d].datagrams;
      counts_[d].bytes += datagram.size();
    }
    for (Delivery& del : policy_->on_datagram(dir, std::move(datagram))) deliver(dir, std::move(del.bytes), del.delay);
    if (policy_->holding(dir)) {
      flush_[d].expires_after(kHoldLimit);
      flush_[d].async_wait([this, dir](boost::system::error_code ec) {
        if (ec) return;
        if (auto held = policy_->take_held(dir)) send(dir, *held);
      });
    }
  }

  void deliver(Direction dir, std::vector<std::uint8_t> bytes, std::chrono::milliseconds delay) {
    if (delay.count() <= 0) {
      send(dir, bytes);
      return;
    }
    auto timer = std::make_shared<asio::steady_timer>(io_, delay);
    timer->async_wait([this, timer, dir, bytes = std::move(bytes)](boost::system::error_code ec) {
      if (!ec) send(dir, bytes);
    });
  }

  void send(Direction dir, const std::vector<std::uint8_t>& bytes) {
    boost::system::error_code ec;  // a node that is down (restarting) or a module not heard yet: the datagram is lost
    Flow flow;
    std::array<std::uint8_t, 4> module_ip{127, 0, 0, 1};  // the flow is the device's leg of the proxy
    if (module_known_ && module_.address().is_v4()) module_ip = module_.address().to_v4().to_bytes();
    if (dir == Direction::DeviceToNode) {
      up_.send_to(asio::buffer(bytes), node_, 0, ec);
      flow = {module_ip, front_ip_, module_.port(), port_};
    } else if (module_known_) {
      front_.send_to(asio::buffer(bytes), module_, 0, ec);
      flow = {front_ip_, module_ip, port_, module_.port()};
    } else {
      return;
    }
    if (ec) return;
    {
      std::lock_guard lock(mutex_);
      ++counts_[static_cast<int>(dir)].delivered_datagrams;
    }
    if (tap_) tap_(index_, dir, flow, bytes);
  }

  asio::io_context& io_;
  std::size_t index_;
  std::string device_;
  std::unique_ptr<UdpFaultPolicy> policy_;
  udp::endpoint node_;
  Tap tap_;
  udp::socket front_, up_;
  asio::steady_timer flush_[2];
  std::uint16_t port_ = 0, up_port_ = 0;
  std::array<std::uint8_t, 4> front_ip_{127, 0, 0, 1};
  std::array<std::uint8_t, 65536> front_buf_{}, up_buf_{};
  udp::endpoint front_from_, up_from_, module_;
  bool module_known_ = false;
  mutable std::mutex mutex_;
  UdpDirectionCounts counts_[2];  // [Direction]
};

UdpRelay::UdpRelay(std::uint16_t node_port)
    : node_port_(node_port), work_(asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}

UdpRelay::~UdpRelay() {
  stop();
  std::lock_guard lock(mutex_);
  links_.clear();  // sockets close while io_ is alive
}

void UdpRelay::set_tap(Tap tap) {
  std::lock_guard lock(mutex_);
  tap_ = std::move(tap);
}

std::uint16_t UdpRelay::add_link(const std::string& device, std::unique_ptr<UdpFaultPolicy> policy,
                                 const std::string& bind_ip, std::uint16_t bind_port, const std::string& node_ip) {
  std::lock_guard lock(mutex_);
  boost::system::error_code ec;
  const auto node_addr = asio::ip::make_address_v4(node_ip, ec);
  if (ec) throw FabricError(fmt::format("UDP proxy for {}: '{}' is not an IPv4 address", device, node_ip));
  const udp::endpoint node(node_addr, node_port_);
  auto link = std::make_shared<Link>(io_, links_.size(), device, std::move(policy), node, tap_, bind_ip, bind_port);
  links_.push_back(link);
  asio::post(io_, [link] { link->start(); });
  return link->port();
}

std::vector<UdpLinkStats> UdpRelay::stats() const {
  std::lock_guard lock(mutex_);
  std::vector<UdpLinkStats> out;
  for (const auto& l : links_) out.push_back(l->stats());
  return out;
}

void UdpRelay::stop() {
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace iotw::harness
