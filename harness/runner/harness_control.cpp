#include "harness_control.hpp"

#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <stdexcept>

#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

namespace iotw::harness {
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {
/// Compact JSON; invalid UTF-8 (a module's raw UART bytes) is replaced, never thrown on.
std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

struct BadRequest : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const Json* param(const Json& req, const char* key, bool required, bool (Json::*is)() const noexcept,
                  const char* what) {
  if (!req.contains(key)) {
    if (required) throw BadRequest(fmt::format("'{}' needs '{}' ({})", req["cmd"].get<std::string>(), key, what));
    return nullptr;
  }
  const Json& v = req[key];
  if (!(v.*is)()) throw BadRequest(fmt::format("'{}' must be {}", key, what));
  return &v;
}

std::uint64_t integer(const Json& req, const char* key, std::int64_t lo, std::int64_t hi, std::int64_t dflt) {
  const Json* v = param(req, key, false, &Json::is_number_integer, "an integer");
  if (!v) return static_cast<std::uint64_t>(dflt);
  const std::int64_t x = v->is_number_unsigned() && v->get<std::uint64_t>() > static_cast<std::uint64_t>(hi)
                             ? hi + 1
                             : v->get<std::int64_t>();
  if (x < lo || x > hi) throw BadRequest(fmt::format("'{}' is {}; allowed range {}..{}", key, dump(*v), lo, hi));
  return static_cast<std::uint64_t>(x);
}
}  // namespace

// ---------------------------------------------------------------------------------------------------------------

void EventLog::append(std::string event_json) {
  std::lock_guard lock(mutex_);
  bytes_ += event_json.size();
  events_.push_back(std::move(event_json));
  while (events_.size() > 1 && (events_.size() > capacity_ || bytes_ > max_bytes_)) {
    bytes_ -= events_.front().size();
    events_.pop_front();
    ++first_;
  }
}

void EventLog::finish() {
  std::lock_guard lock(mutex_);
  finished_ = true;
}

EventLog::Slice EventLog::read(std::uint64_t since, std::size_t max) const {
  std::lock_guard lock(mutex_);
  Slice s;
  const std::uint64_t end = first_ + events_.size();
  if (since < first_) {
    s.dropped = first_ - since;
    since = first_;
  }
  since = std::min(since, end);
  const std::uint64_t stop = std::min<std::uint64_t>(end, since + max);
  for (std::uint64_t i = since; i < stop; ++i) s.events.push_back(events_[static_cast<std::size_t>(i - first_)]);
  s.next = stop;
  s.finished = finished_ && stop == end;
  return s;
}

// ---------------------------------------------------------------------------------------------------------------

struct HarnessControl::Conn {
  explicit Conn(boost::asio::local::stream_protocol::socket s) : sock(std::move(s)), buf(kMaxLine + 1) {}
  boost::asio::local::stream_protocol::socket sock;
  boost::asio::streambuf buf;
  std::deque<std::string> out;  // reply lines not yet written; out.front() is being written
  std::size_t queued = 0;       // bytes in `out`
  bool writing = false;
  bool close_after = false;     // close once `out` is written
  bool open = true;
};

const std::vector<std::string>& HarnessControl::commands() {
  static const std::vector<std::string> v{"hello", "events", "status", "step", "end", "uart", "traffic", "write_rig",
                                          "stop"};
  return v;
}

HarnessControl::HarnessControl(fs::path run_dir, const EventLog& events, Json hello)
    : run_dir_(std::move(run_dir)), events_(events), hello_(std::move(hello)) {}

HarnessControl::~HarnessControl() { stop(); }

void HarnessControl::start() {
  const std::string direct = (run_dir_ / "harness.sock").string();
  if (direct.size() < sizeof(sockaddr_un{}.sun_path)) {
    socket_path_ = direct;
  } else {  // the run folder's path is too long for a socket address
    socket_path_ = fmt::format("/tmp/iotw-harness-{:016x}.sock", std::hash<std::string>{}(run_dir_.string()));
    link_path_ = direct;
  }
  ::unlink(socket_path_.c_str());
  boost::system::error_code ec;
  const boost::asio::local::stream_protocol::endpoint ep(socket_path_.string());
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec && ::chmod(socket_path_.c_str(), 0600) != 0) ec.assign(errno, boost::system::system_category());
  if (!ec) acceptor_.listen(boost::asio::socket_base::max_listen_connections, ec);
  if (ec) {
    acceptor_.close();
    throw std::runtime_error("control socket " + socket_path_.string() + ": " + ec.message());
  }
  if (!link_path_.empty()) {
    std::error_code fec;
    fs::remove(link_path_, fec);
    fs::create_symlink(socket_path_, link_path_, fec);
    if (fec) {
      acceptor_.close();
      ::unlink(socket_path_.c_str());
      throw std::runtime_error("cannot link " + link_path_.string() + " to " + socket_path_.string() + ": " +
                               fec.message());
    }
  }
  running_ = true;
  accept();
  thread_ = std::thread([this] { io_.run(); });
}

void HarnessControl::stop() {
  if (!running_) return;
  refuse_changes("the run has ended");
  io_.stop();
  if (thread_.joinable()) thread_.join();
  running_ = false;
  boost::system::error_code ec;
  acceptor_.close(ec);
  for (auto& c : conns_) c->sock.close(ec);
  conns_.clear();
  ::unlink(socket_path_.c_str());
  if (!link_path_.empty()) ::unlink(link_path_.c_str());
}

void HarnessControl::refuse_changes(const std::string& why) {
  std::deque<Pending> queued;
  {
    std::lock_guard lock(mutex_);
    refuse_ = why;
    queued.swap(queue_);
  }
  for (Pending& p : queued) p.reply({{"ok", false}, {"error", why}});
}

void HarnessControl::set_status(Json status) {
  std::lock_guard lock(mutex_);
  status_ = std::move(status);
}

std::optional<HarnessControl::Pending> HarnessControl::take() {
  std::lock_guard lock(mutex_);
  if (queue_.empty()) return std::nullopt;
  Pending p = std::move(queue_.front());
  queue_.pop_front();
  return p;
}

void HarnessControl::accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, boost::asio::local::stream_protocol::socket s) {
    if (ec == boost::asio::error::operation_aborted) return;
    if (!ec) {
      auto c = std::make_shared<Conn>(std::move(s));
      if (conns_.size() >= kMaxClients) {
        ++errors_;
        c->close_after = true;
        send(c, dump({{"ok", false}, {"error", "too many clients"}}) + "\n");
      } else {
        conns_.push_back(c);
        read(c);
      }
    }
    accept();
  });
}

void HarnessControl::close(const std::shared_ptr<Conn>& c) {
  if (!c->open) return;
  c->open = false;
  boost::system::error_code ec;
  c->sock.close(ec);
  std::erase(conns_, c);
}

void HarnessControl::send(const std::shared_ptr<Conn>& c, std::string line) {
  if (!c->open) return;
  if (c->queued > 0 && c->queued + line.size() > kMaxQueued) {  // it does not read its replies
    close(c);
    return;
  }
  c->queued += line.size();
  c->out.push_back(std::move(line));
  if (!c->writing) write(c);
}

void HarnessControl::write(const std::shared_ptr<Conn>& c) {
  c->writing = true;
  boost::asio::async_write(c->sock, boost::asio::buffer(c->out.front()),
                           [this, c](boost::system::error_code ec, std::size_t) {
                             if (!c->open) return;
                             if (ec) {
                               close(c);
                               return;
                             }
                             c->queued -= c->out.front().size();
                             c->out.pop_front();
                             if (!c->out.empty()) {
                               write(c);
                               return;
                             }
                             c->writing = false;
                             if (c->close_after) close(c);
                           });
}

void HarnessControl::read(const std::shared_ptr<Conn>& c) {
  if (!c->open || c->close_after) return;
  boost::asio::async_read_until(c->sock, c->buf, '\n', [this, c](boost::system::error_code ec, std::size_t n) {
    if (!c->open) return;
    if (ec == boost::asio::error::not_found) {  // no newline within kMaxLine + 1 bytes
      c->close_after = true;
      send(c, error_line(Json(), fmt::format("line longer than {} bytes; the connection is closed", kMaxLine)));
      if (c->open && !c->writing) close(c);
      return;
    }
    if (ec) {  // the client closed
      close(c);
      return;
    }
    std::string line(boost::asio::buffers_begin(c->buf.data()), boost::asio::buffers_begin(c->buf.data()) + n);
    c->buf.consume(n);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) {
      read(c);  // a blank line: nothing to answer
      return;
    }
    if (auto reply = handle(c, line)) {
      send(c, std::move(*reply));
      read(c);
    }
  });
}

std::string HarnessControl::error_line(const Json& request, const std::string& error) {
  ++errors_;
  Json reply{{"ok", false}, {"error", error}};
  if (request.is_object() && request.contains("id")) reply["id"] = request["id"];
  return dump(reply) + "\n";
}

std::optional<std::string> HarnessControl::handle(const std::shared_ptr<Conn>& c, const std::string& line) {
  const Json req = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (req.is_discarded() || !req.is_object())
    return error_line(Json(), "not a JSON object: one {\"cmd\": ...} per line");
  if (!req.contains("cmd") || !req["cmd"].is_string()) return error_line(req, "missing string 'cmd'");
  const std::string cmd = req["cmd"].get<std::string>();
  const auto& cmds = commands();
  if (std::find(cmds.begin(), cmds.end(), cmd) == cmds.end()) {
    std::string known;
    for (const auto& k : cmds) known += (known.empty() ? "" : ", ") + k;
    return error_line(req, fmt::format("unknown command '{}'; allowed: {}", cmd, known));
  }
  try {
    const auto with_id = [&](Json reply) {
      reply["ok"] = true;
      if (req.contains("id")) reply["id"] = req["id"];
      return dump(reply) + "\n";
    };
    if (cmd == "hello") return with_id(hello_);
    if (cmd == "status") {
      std::lock_guard lock(mutex_);
      return with_id(status_);
    }
    if (cmd == "events") {
      const auto since = integer(req, "since", 0, std::numeric_limits<std::int64_t>::max(), 0);
      const auto max = integer(req, "max", 1, 10'000, 1'000);
      const EventLog::Slice s = events_.read(since, max);
      std::string out = "{\"ok\":true,\"events\":[";
      for (std::size_t i = 0; i < s.events.size(); ++i) out += (i ? "," : "") + s.events[i];
      out += fmt::format("],\"next\":{},\"dropped\":{},\"finished\":{}", s.next, s.dropped, s.finished);
      if (req.contains("id")) out += ",\"id\":" + dump(req["id"]);
      return out + "}\n";
    }
    // Requests that change the run: their parameters' types here, the rest in the drive loop.
    if (cmd == "step") {
      const Json* step = param(req, "step", true, &Json::is_string, "a string: an inline step");
      if (step->get<std::string>().find_first_not_of(" \t") == std::string::npos)
        throw BadRequest("'step' is empty; an inline step is a verb and key=value words");
      param(req, "key", false, &Json::is_string, "a string");
      param(req, "device", false, &Json::is_string, "a string");
    } else if (cmd == "end") {
      param(req, "action", true, &Json::is_number_integer, "an integer");
      integer(req, "action", 1, std::numeric_limits<std::int64_t>::max(), 1);
    } else if (cmd == "uart") {
      param(req, "device", true, &Json::is_string, "a string");
      param(req, "data", true, &Json::is_string, "a string");
    } else if (cmd == "traffic") {
      param(req, "paused", true, &Json::is_boolean, "true or false");
    } else if (cmd == "write_rig") {
      param(req, "path", false, &Json::is_string, "a string");
    }
    std::lock_guard lock(mutex_);
    if (refuse_) throw BadRequest(*refuse_);
    std::weak_ptr<Conn> weak = c;
    const Json id = req.contains("id") ? req["id"] : Json();
    queue_.push_back({req, [this, weak, id](Json reply) {
                        if (!reply.value("ok", false)) ++errors_;
                        if (!id.is_null()) reply["id"] = id;
                        boost::asio::post(io_, [this, weak, line = dump(reply) + "\n"]() mutable {
                          if (auto conn = weak.lock()) {
                            send(conn, std::move(line));
                            read(conn);
                          }
                        });
                      }});
    return std::nullopt;
  } catch (const BadRequest& e) {
    return error_line(req, e.what());
  }
}

}  // namespace iotw::harness
