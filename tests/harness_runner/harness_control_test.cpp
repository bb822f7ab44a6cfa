// harness.sock over a real UNIX-domain socket in a temporary folder (docs/console.md "The control socket"):
// read-only requests, queued requests and their order, errors, the bounds (line length, clients, replies a
// client does not read), the /tmp fallback for long run-folder paths.
#include "harness_control.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using iotw::harness::EventLog;
using iotw::harness::HarnessControl;
using Json = nlohmann::json;

namespace {

fs::path temp_dir(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("iotw-hc-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

/// A blocking client; every read has a 20 s safety timeout (a hang fails instead of blocking the suite).
class Client {
 public:
  explicit Client(const fs::path& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{20, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    connected_ = ::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~Client() { ::close(fd_); }
  bool connected() const { return connected_; }
  bool send(const std::string& text) {
    for (std::size_t off = 0; off < text.size();) {
      const ssize_t n = ::send(fd_, text.data() + off, text.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }
  /// The next line, or "" at EOF (or the safety timeout).
  std::string line() {
    for (;;) {
      if (const auto nl = rx_.find('\n'); nl != std::string::npos) {
        std::string l = rx_.substr(0, nl);
        rx_.erase(0, nl + 1);
        return l;
      }
      char buf[65536];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return "";
      rx_.append(buf, static_cast<std::size_t>(n));
    }
  }
  Json request(const Json& req) {
    send(req.dump() + "\n");
    const std::string l = line();
    return l.empty() ? Json() : Json::parse(l);
  }
  /// Reads until EOF; returns the bytes read.
  std::size_t drain() {
    std::size_t total = rx_.size();
    char buf[65536];
    for (ssize_t n; (n = ::recv(fd_, buf, sizeof buf, 0)) > 0;) total += static_cast<std::size_t>(n);
    return total;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string rx_;
};

std::string event(int i) { return Json{{"time_ms", i}, {"source", "harness"}, {"kind", "k"}, {"fields", {{"i", i}}}}.dump(); }

/// The next queued request (the drive loop's side); waits for it to arrive.
HarnessControl::Pending next_request(HarnessControl& control) {
  for (;;) {
    if (auto p = control.take()) return std::move(*p);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

}  // namespace

TEST(HarnessControl, HelloStatusAndEventsWithACursor) {
  const auto dir = temp_dir("basic");
  EventLog log;
  for (int i = 0; i < 5; ++i) log.append(event(i));
  HarnessControl control(dir, log, {{"rig", "smoke"}, {"hold", true}});
  control.set_status({{"state", "running"}, {"height", 3}});
  control.start();
  EXPECT_EQ(control.socket_path(), dir / "harness.sock");
  struct stat st {};
  ASSERT_EQ(::stat((dir / "harness.sock").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  Client c(dir / "harness.sock");
  ASSERT_TRUE(c.connected());
  const Json hello = c.request({{"cmd", "hello"}, {"id", 7}});
  EXPECT_EQ(hello["ok"], true);
  EXPECT_EQ(hello["rig"], "smoke");
  EXPECT_EQ(hello["hold"], true);
  EXPECT_EQ(hello["id"], 7);
  const Json status = c.request({{"cmd", "status"}});
  EXPECT_EQ(status["state"], "running");
  EXPECT_EQ(status["height"], 3);

  Json first = c.request({{"cmd", "events"}, {"max", 2}});
  ASSERT_EQ(first["events"].size(), 2u);
  EXPECT_EQ(first["events"][0]["fields"]["i"], 0);
  EXPECT_EQ(first["events"][1]["fields"]["i"], 1);
  EXPECT_EQ(first["next"], 2);
  EXPECT_EQ(first["dropped"], 0);
  EXPECT_EQ(first["finished"], false);
  Json rest = c.request({{"cmd", "events"}, {"since", 2}, {"id", "x"}});
  ASSERT_EQ(rest["events"].size(), 3u);
  EXPECT_EQ(rest["events"][2]["fields"]["i"], 4);
  EXPECT_EQ(rest["next"], 5);
  EXPECT_EQ(rest["id"], "x");
  log.append(event(5));
  log.finish();
  Json last = c.request({{"cmd", "events"}, {"since", 5}});
  ASSERT_EQ(last["events"].size(), 1u);
  EXPECT_EQ(last["next"], 6);
  EXPECT_EQ(last["finished"], true);
  EXPECT_EQ(control.errors(), 0u);

  control.stop();
  EXPECT_FALSE(fs::exists(dir / "harness.sock"));
  fs::remove_all(dir);
}

TEST(HarnessControl, EventLogKeepsTheNewestAndCountsWhatACursorMissed) {
  EventLog log(3);
  for (int i = 0; i < 5; ++i) log.append(event(i));
  const EventLog::Slice s = log.read(0, 1000);
  EXPECT_EQ(s.dropped, 2u);
  ASSERT_EQ(s.events.size(), 3u);
  EXPECT_EQ(Json::parse(s.events[0])["fields"]["i"], 2);
  EXPECT_EQ(s.next, 5u);
  const EventLog::Slice none = log.read(9, 10);  // a cursor past the end
  EXPECT_TRUE(none.events.empty());
  EXPECT_EQ(none.next, 5u);
}

TEST(HarnessControl, EventLogAlsoBoundsTheBytesItKeeps) {
  const std::string one = event(0);
  EventLog log(1000, one.size() * 4);  // room for four events of this size
  for (int i = 0; i < 10; ++i) log.append(event(i));
  const EventLog::Slice s = log.read(0, 1000);
  ASSERT_EQ(s.events.size(), 4u);
  EXPECT_EQ(s.dropped, 6u);
  EXPECT_EQ(Json::parse(s.events[0])["fields"]["i"], 6);
  EventLog tiny(1000, 1);  // an event larger than the bound is still kept, alone
  tiny.append(event(1));
  tiny.append(event(2));
  const EventLog::Slice t = tiny.read(0, 10);
  ASSERT_EQ(t.events.size(), 1u);
  EXPECT_EQ(Json::parse(t.events[0])["fields"]["i"], 2);
}

TEST(HarnessControl, BadRequestsAreAnsweredAndCountedAndKeepTheConnection) {
  const auto dir = temp_dir("errors");
  EventLog log;
  HarnessControl control(dir, log, {{"rig", "r"}});
  control.start();
  Client c(dir / "harness.sock");
  ASSERT_TRUE(c.connected());
  c.send("this is not json\n");
  EXPECT_EQ(Json::parse(c.line()), (Json{{"ok", false}, {"error", "not a JSON object: one {\"cmd\": ...} per line"}}));
  c.send("[1,2]\n\n");  // not an object; the blank line gets no answer
  EXPECT_EQ(Json::parse(c.line())["ok"], false);
  EXPECT_EQ(c.request({{"id", 3}})["error"], "missing string 'cmd'");
  const Json unknown = c.request({{"cmd", "reboot"}, {"id", 4}});
  EXPECT_EQ(unknown["error"],
            "unknown command 'reboot'; allowed: hello, events, status, step, end, uart, traffic, write_rig, stop");
  EXPECT_EQ(unknown["id"], 4);
  EXPECT_EQ(c.request({{"cmd", "events"}, {"max", 0}})["error"], "'max' is 0; allowed range 1..10000");
  EXPECT_EQ(c.request({{"cmd", "events"}, {"since", "a"}})["error"], "'since' must be an integer");
  EXPECT_EQ(c.request({{"cmd", "step"}})["error"], "'step' needs 'step' (a string: an inline step)");
  EXPECT_EQ(c.request({{"cmd", "traffic"}, {"paused", 1}})["error"], "'paused' must be true or false");
  EXPECT_EQ(c.request({{"cmd", "end"}, {"action", 0}})["error"], "'action' is 0; allowed range 1..9223372036854775807");
  EXPECT_EQ(c.request({{"cmd", "uart"}, {"device", "esp8266-01"}})["error"], "'uart' needs 'data' (a string)");
  EXPECT_EQ(control.errors(), 10u);
  EXPECT_FALSE(control.take().has_value());  // none of them reached the drive loop
  EXPECT_EQ(c.request({{"cmd", "hello"}})["rig"], "r");  // still connected
  fs::remove_all(dir);
}

TEST(HarnessControl, ChangesGoToTheDriveLoopAndRepliesKeepRequestOrder) {
  const auto dir = temp_dir("queue");
  EventLog log;
  HarnessControl control(dir, log, {{"rig", "r"}});
  control.start();
  Client c(dir / "harness.sock");
  ASSERT_TRUE(c.connected());
  // Both lines at once: hello could be answered at once, but its reply must come after the step's.
  c.send(Json{{"cmd", "step"}, {"step", "fault reboot device=esp32-02"}, {"key", "r"}, {"id", 1}}.dump() + "\n" +
         Json{{"cmd", "hello"}, {"id", 2}}.dump() + "\n");
  HarnessControl::Pending p = next_request(control);
  EXPECT_EQ(p.request["cmd"], "step");
  EXPECT_EQ(p.request["key"], "r");
  p.reply({{"ok", true}, {"action", 1}});
  const Json first = Json::parse(c.line());
  EXPECT_EQ(first["id"], 1);
  EXPECT_EQ(first["action"], 1);
  EXPECT_EQ(Json::parse(c.line())["id"], 2);

  // A refused change is counted; once the run is finishing, changes are refused without the drive loop.
  c.send(Json{{"cmd", "stop"}}.dump() + "\n");
  next_request(control).reply({{"ok", false}, {"error", "no"}});
  EXPECT_EQ(Json::parse(c.line())["error"], "no");
  EXPECT_EQ(control.errors(), 1u);
  control.refuse_changes("the run is finishing (stopped)");
  EXPECT_EQ(c.request({{"cmd", "traffic"}, {"paused", true}})["error"], "the run is finishing (stopped)");
  EXPECT_EQ(c.request({{"cmd", "status"}})["ok"], true);
  fs::remove_all(dir);
}

TEST(HarnessControl, StopClosesClientsAndRemovesTheSocket) {
  const auto dir = temp_dir("stop");
  EventLog log;
  HarnessControl control(dir, log, {{"rig", "r"}});
  control.start();
  Client c(dir / "harness.sock");
  ASSERT_TRUE(c.connected());
  ASSERT_EQ(c.request({{"cmd", "hello"}})["ok"], true);  // connected and served
  control.stop();
  EXPECT_EQ(c.line(), "");  // closed
  EXPECT_FALSE(fs::exists(dir / "harness.sock"));
  EXPECT_FALSE(Client(dir / "harness.sock").connected());
  control.stop();  // idempotent
  fs::remove_all(dir);
}

TEST(HarnessControl, LineLongerThan64KiBIsAnsweredAndClosed) {
  const auto dir = temp_dir("long");
  EventLog log;
  HarnessControl control(dir, log, {{"rig", "r"}});
  control.start();
  Client c(dir / "harness.sock");
  ASSERT_TRUE(c.connected());
  const std::string exactly(HarnessControl::kMaxLine - 30, ' ');  // a line of 64 KiB with its request is fine
  const std::string ok = R"({"cmd":"hello","pad":")" + exactly + "\"}";
  ASSERT_LE(ok.size(), HarnessControl::kMaxLine);
  c.send(ok + "\n");
  EXPECT_EQ(Json::parse(c.line())["rig"], "r");
  c.send(std::string(HarnessControl::kMaxLine + 100, 'x'));
  EXPECT_EQ(Json::parse(c.line())["error"], "line longer than 65536 bytes; the connection is closed");
  EXPECT_EQ(c.line(), "");  // closed
  EXPECT_EQ(control.errors(), 1u);
  fs::remove_all(dir);
}

TEST(HarnessControl, SeventeenthClientIsTurnedAway) {
  const auto dir = temp_dir("clients");
  EventLog log;
  HarnessControl control(dir, log, {{"rig", "r"}});
  control.start();
  std::vector<std::unique_ptr<Client>> clients;
  for (std::size_t i = 0; i < HarnessControl::kMaxClients; ++i) {
    clients.push_back(std::make_unique<Client>(dir / "harness.sock"));
    ASSERT_EQ(clients.back()->request({{"cmd", "hello"}})["rig"], "r") << "client " << i + 1;
  }
  Client extra(dir / "harness.sock");
  ASSERT_TRUE(extra.connected());
  EXPECT_EQ(Json::parse(extra.line()), (Json{{"ok", false}, {"error", "too many clients"}}));
  EXPECT_EQ(extra.line(), "");  // closed
  for (auto& c : clients) EXPECT_EQ(c->request({{"cmd", "status"}})["ok"], true);  // the 16 are still served
  fs::remove_all(dir);
}

TEST(HarnessControl, AClientThatNeverReadsIsDisconnectedAndBlocksNobody) {
  const auto dir = temp_dir("slow");
  EventLog log;
  const std::string pad(200, 'p');
  for (int i = 0; i < 10'000; ++i)
    log.append(Json{{"time_ms", i}, {"source", "harness"}, {"kind", "k"}, {"fields", {{"pad", pad}}}}.dump());
  HarnessControl control(dir, log, {{"rig", "r"}});
  control.start();
  Client slow(dir / "harness.sock"), other(dir / "harness.sock");
  ASSERT_TRUE(slow.connected());
  // One reply of about 2.5 MB is served whole to a client that reads it.
  const std::string req = Json{{"cmd", "events"}, {"max", 10'000}}.dump() + "\n";
  other.send(req);
  const std::size_t reply_size = other.line().size() + 1;
  ASSERT_GT(reply_size, 2 * HarnessControl::kMaxQueued);
  // A client that asks for it eight times and never reads: the second reply would queue beyond 1 MiB.
  for (int i = 0; i < 8; ++i) slow.send(req);
  EXPECT_EQ(other.request({{"cmd", "hello"}})["rig"], "r");
  EXPECT_EQ(other.request({{"cmd", "events"}, {"max", 1}})["events"].size(), 1u);
  // The slow client gets what the kernel had buffered of the first reply, then the end of the connection.
  EXPECT_LT(slow.drain(), reply_size);
  EXPECT_EQ(other.request({{"cmd", "status"}})["ok"], true);
  fs::remove_all(dir);
}

TEST(HarnessControl, LongRunFolderPathsBindInTmpBehindALink) {
  const auto base = temp_dir("longpath");
  const fs::path dir = base / std::string(120, 'd');
  fs::create_directories(dir);
  EventLog log;
  HarnessControl control(dir, log, {{"rig", "r"}});
  control.start();
  EXPECT_EQ(control.socket_path().parent_path(), "/tmp");
  EXPECT_EQ(control.socket_path().filename().string().rfind("iotw-harness-", 0), 0u);
  ASSERT_TRUE(fs::is_symlink(dir / "harness.sock"));
  EXPECT_EQ(fs::read_symlink(dir / "harness.sock"), control.socket_path());
  // A client connects through the link (its own path fits a socket address only relatively).
  const fs::path cwd = fs::current_path();
  fs::current_path(dir);
  {
    Client c("harness.sock");
    ASSERT_TRUE(c.connected());
    EXPECT_EQ(c.request({{"cmd", "hello"}})["rig"], "r");
  }
  fs::current_path(cwd);
  const fs::path bound = control.socket_path();
  control.stop();
  EXPECT_FALSE(fs::exists(bound));
  EXPECT_FALSE(fs::is_symlink(dir / "harness.sock"));
  fs::remove_all(base);
}
