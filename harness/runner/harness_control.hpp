// harness.sock, the run's control socket (docs/console.md "The control socket"): line-delimited JSON over a
// UNIX-domain stream socket in the run folder, served on a thread of its own (Boost.Asio). Read-only requests
// (hello, events, status) are answered on that thread from what the runner published; requests that change
// the run (step, end, uart, traffic, write_rig, stop) are queued for the runner's drive loop, which take()s
// them and replies. Each client is served on its own: its replies go out in request order, a client that
// does not read is disconnected once 1 MiB of replies is queued for it, a line over 64 KiB is answered with an
// error and the connection closed, and at most 16 clients are served at once.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <nlohmann/json.hpp>

namespace iotw::harness {

/// The run's live event list for `events` requests: every event in the order the harness read it, each a
/// compact JSON object (docs/events.md), numbered by a cursor from 0. Bounded: only the newest `capacity`
/// are kept; a cursor older than the oldest kept gets the oldest kept and a `dropped` count. Thread-safe.
class EventLog {
 public:
  static constexpr std::size_t kDefaultCapacity = 200'000;             ///< events kept at most
  static constexpr std::size_t kDefaultMaxBytes = 16 * 1024 * 1024;    ///< bytes of their JSON text kept at most
  /// Keeps the newest events within both bounds (a long run's memory stays flat once they are reached).
  explicit EventLog(std::size_t capacity = kDefaultCapacity, std::size_t max_bytes = kDefaultMaxBytes)
      : capacity_(capacity), max_bytes_(max_bytes) {}

  /// Appends one event (compact JSON text of an object).
  void append(std::string event_json);
  /// No more events will come (the run has ended).
  void finish();

  struct Slice {
    std::vector<std::string> events;  ///< JSON texts, cursors first .. next - 1
    std::uint64_t next = 0;           ///< the cursor to ask for next
    std::uint64_t dropped = 0;        ///< events at cursors >= since no longer kept (skipped over)
    bool finished = false;            ///< finish() was called and `events` reach the end
  };
  /// Up to `max` events with cursor >= `since`.
  Slice read(std::uint64_t since, std::size_t max) const;

 private:
  mutable std::mutex mutex_;
  std::size_t capacity_;
  std::size_t max_bytes_;
  std::size_t bytes_ = 0;  // sum of events_[i].size()
  std::deque<std::string> events_;
  std::uint64_t first_ = 0;  // cursor of events_.front()
  bool finished_ = false;
};

class HarnessControl {
 public:
  static constexpr std::size_t kMaxClients = 16;
  static constexpr std::size_t kMaxLine = 64 * 1024;        ///< bytes of one request line, newline excluded
  /// Bytes of replies queued (not yet taken by the kernel) for one client: a reply that would go beyond this
  /// while earlier ones are still queued disconnects the client (one reply alone may be larger).
  static constexpr std::size_t kMaxQueued = 1024 * 1024;

  /// A request that changes the run, for the drive loop. `request` passed the type checks of its parameters
  /// (docs/console.md's table); `reply` sends the reply object (an "id" of the request is added) and may be
  /// called from any thread, once.
  struct Pending {
    nlohmann::json request;
    std::function<void(nlohmann::json)> reply;
  };

  /// `hello`: the reply to `hello` (without ok/id). Nothing is bound before start().
  HarnessControl(std::filesystem::path run_dir, const EventLog& events, nlohmann::json hello);
  ~HarnessControl();
  HarnessControl(const HarnessControl&) = delete;
  HarnessControl& operator=(const HarnessControl&) = delete;

  /// Binds the socket (mode 0600) and starts serving. At run_dir/harness.sock; when that path does not fit a
  /// socket address (108 bytes), at /tmp/iotw-harness-<16 hex digits of a hash of run_dir>.sock with
  /// run_dir/harness.sock a symbolic link to it. Throws std::runtime_error when it cannot bind.
  void start();
  /// Stops serving: queued requests are answered {"ok": false, "error": "the run has ended"}, every client is
  /// disconnected, the socket (and the link) removed. Idempotent.
  void stop();
  /// From now on requests that change the run are answered {"ok": false, "error": `why`} at once, and queued
  /// ones too (the run is finishing).
  void refuse_changes(const std::string& why);

  /// The address bound (run_dir/harness.sock or the /tmp fallback); empty before start().
  const std::filesystem::path& socket_path() const { return socket_path_; }
  /// The reply to `status` from now on (without ok/id).
  void set_status(nlohmann::json status);
  /// The next queued request that changes the run, if any.
  std::optional<Pending> take();
  /// Requests answered with ok: false so far.
  std::uint64_t errors() const { return errors_; }

  /// hello, events, status, step, end, uart, traffic, write_rig, stop.
  static const std::vector<std::string>& commands();

 private:
  struct Conn;
  void accept();
  void read(const std::shared_ptr<Conn>& c);
  void send(const std::shared_ptr<Conn>& c, std::string line);
  void write(const std::shared_ptr<Conn>& c);
  void close(const std::shared_ptr<Conn>& c);
  /// Answers `line`: the reply line now, or nullopt when it was queued for the drive loop (its reply then
  /// goes to `c` and resumes reading).
  std::optional<std::string> handle(const std::shared_ptr<Conn>& c, const std::string& line);
  std::string error_line(const nlohmann::json& request, const std::string& error);

  std::filesystem::path run_dir_, socket_path_, link_path_;
  const EventLog& events_;
  nlohmann::json hello_;
  boost::asio::io_context io_;
  boost::asio::local::stream_protocol::acceptor acceptor_{io_};
  std::vector<std::shared_ptr<Conn>> conns_;  // io thread only
  std::thread thread_;
  bool running_ = false;

  std::mutex mutex_;  // guards status_, queue_, refuse_
  nlohmann::json status_ = nlohmann::json::object();
  std::deque<Pending> queue_;
  std::optional<std::string> refuse_;
  std::atomic<std::uint64_t> errors_{0};
};

}  // namespace iotw::harness
