// Link fabric: one proxied serial link per device between the trust node and the emulator pool (or an external
// device's serial port or TCP connection: add_external_link, add_tcp_link; or an AT module's TCP connection relayed to
// the trust node's [tcp] port: add_tcp_relay).
// Per device the fabric opens two PTYs, A (trust-node side) and B (device side), keeps both masters and one slave
// fd of each open (so a peer closing/reopening its slave never hangs the master up), and relays bytes
// master A <-> master B on its own Boost.Asio io_context thread. Every chunk passes a LinkPolicy on the way:
// PassThrough, or the seeded serial fault proxy FaultPolicy (fault_policy.hpp).
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace iotw::harness {

/// Which way a chunk travels on a link.
enum class Direction { NodeToDevice, DeviceToNode };

/// The IPv4 addresses and ports one relayed UDP datagram was sent from and to (UdpRelay, links.pcapng).
struct UdpFlow {
  std::array<std::uint8_t, 4> src_ip{127, 0, 0, 1}, dst_ip{127, 0, 0, 1};
  std::uint16_t src_port = 0, dst_port = 0;
};

/// One write the policy asks for: `bytes` reach the other side after `delay` (0 = at once). Deliveries of
/// one direction always arrive in the order they were asked for: a delayed one holds back later ones.
struct Delivery {
  std::vector<std::uint8_t> bytes;
  std::chrono::milliseconds delay{0};
};

/// What a link does with each chunk read from one side before it reaches the other side.
/// Called on the fabric's io thread only, one chunk at a time, in read order per direction.
class LinkPolicy {
 public:
  virtual ~LinkPolicy() = default;
  /// Returns the deliveries for `chunk` (empty = dropped). Must not block.
  virtual std::vector<Delivery> on_chunk(Direction dir, std::vector<std::uint8_t> chunk) = 0;
};

/// Delivers every chunk unchanged and at once.
class PassThrough final : public LinkPolicy {
 public:
  std::vector<Delivery> on_chunk(Direction, std::vector<std::uint8_t> chunk) override;
};

/// Traffic of one direction: what was read from the sender (`bytes`, `chunks` = reads) and what was
/// written to the receiver (`delivered_bytes`; differs from `bytes` only under a fault policy).
struct DirectionCounts {
  std::uint64_t bytes = 0;
  std::uint64_t chunks = 0;
  std::uint64_t delivered_bytes = 0;
};

/// A device's link: names and PTY slave paths handed to the two processes.
struct LinkInfo {
  std::string device;       ///< device name, e.g. "esp-01"
  std::string node_side;    ///< slave path of PTY A, e.g. "/dev/pts/5" (the trust node's [[serial]] path); a TCP
                            ///< relay: "tcp:127.0.0.1:PORT", the node's [tcp] port it connects to
  std::string device_side;  ///< slave path of PTY B (the device's link); an external device: its port's path, or
                            ///< "tcp:IP:PORT" where the harness listens for it
};

struct LinkStats {
  LinkInfo info;
  DirectionCounts node_to_device;
  DirectionCounts device_to_node;
};

/// Thrown when a PTY cannot be created or configured; what() names the failing call and errno text.
struct FabricError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class LinkFabric {
 public:
  /// Starts the relay thread (idle until links are added).
  LinkFabric();
  /// Stops the relay and closes every PTY.
  ~LinkFabric();
  LinkFabric(const LinkFabric&) = delete;
  LinkFabric& operator=(const LinkFabric&) = delete;

  /// Sees every delivery as it is queued for writing: link index (add_link order), direction, bytes.
  /// Called on the relay thread. Links added before set_tap() are not tapped.
  using Tap = std::function<void(std::size_t, Direction, const std::vector<std::uint8_t>&)>;
  void set_tap(Tap tap);

  /// Creates the PTY pair for `device` (both raw) and starts relaying through `policy`.
  /// Throws FabricError when a PTY cannot be created.
  LinkInfo add_link(const std::string& device, std::unique_ptr<LinkPolicy> policy = std::make_unique<PassThrough>());

  /// An external device's link (docs/rig-format.md "External devices"): a PTY for the trust node, relayed through
  /// `policy` to `fd`, the device's serial port or PTY as the caller opened it (non-blocking; the fabric owns fd
  /// from now on and closes it). LinkInfo::device_side = `where` (e.g. the port's path).
  LinkInfo add_external_link(const std::string& device, int fd, const std::string& where,
                             std::unique_ptr<LinkPolicy> policy);

  /// An external device that connects over TCP (serial framing, docs/protocol.md §2): a PTY for the trust node,
  /// relayed through `policy` to the current connection accepted on `ip`:`port` (port 0 = a free one). Bytes for the
  /// device while none is connected are dropped; a new connection replaces the previous one (a device that reset).
  /// LinkInfo::device_side = "tcp:IP:PORT" (the bound port). Throws FabricError when it cannot listen there.
  LinkInfo add_tcp_link(const std::string& device, const std::string& ip, std::uint16_t port,
                        std::unique_ptr<LinkPolicy> policy);

  /// An AT module's TCP link (serial framing, docs/protocol.md §2), relayed through the harness: listens on a free port
  /// of 127.0.0.1 for the module and, for each connection it accepts, connects to the trust node's [tcp] port
  /// `node_port` on 127.0.0.1 and relays the two through `policy`. Either connection's end closes the other (the node
  /// sees a new peer each time the module reconnects). While the node does not listen (it was killed and restarts) the
  /// module's connection is held and the relay tries the node again every 50 ms; the module's bytes are dropped
  /// meanwhile. A new module connection replaces the previous pair. LinkInfo::node_side = "tcp:127.0.0.1:NODE_PORT",
  /// device_side = "tcp:127.0.0.1:PORT" (where the module connects). Throws FabricError when it cannot listen.
  LinkInfo add_tcp_relay(const std::string& device, std::uint16_t node_port, std::unique_ptr<LinkPolicy> policy);

  /// Counters of every link, in the order added. Thread-safe.
  std::vector<LinkStats> stats() const;

  /// Stops relaying (pending writes are dropped) and joins the relay thread; idempotent.
  void stop();

 private:
  class Link;
  /// Adds the link `make(index, tap)` builds (under the lock) and starts it on the relay thread.
  LinkInfo start_link(const std::function<std::unique_ptr<Link>(std::size_t, const Tap&)>& make);
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Link>> links_;
  Tap tap_;
  std::thread thread_;
};

}  // namespace iotw::harness
