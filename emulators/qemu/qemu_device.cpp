#include "qemu_device.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "common/serial_link.hpp"
#include "iotw/support/hex.hpp"
#include "qemu_model.hpp"

namespace iotw::emu {
namespace {

namespace fs = std::filesystem;
constexpr const char* kChild = "qemu";
constexpr auto kStopGrace = std::chrono::milliseconds(2000);
constexpr auto kQmpTimeout = std::chrono::milliseconds(2000);

fs::path qmp_socket_for(const DeviceSpec& spec) {
  const fs::path p = fs::absolute(spec.nvs_dir) / "qmp.sock";
  if (p.string().size() < 100) return p;  // sockaddr_un holds 107 bytes
  return fs::path("/tmp") / ("iotw-qmp-" + std::to_string(std::hash<std::string>{}(p.string())) + ".sock");
}

/// One line from fd within the deadline (without the newline); throws on EOF, error or timeout.
std::string read_line(int fd, std::string& buf, std::chrono::steady_clock::time_point deadline, const std::string& what) {
  for (;;) {
    if (const auto nl = buf.find('\n'); nl != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    const int n = left.count() > 0 ? ::poll(&p, 1, static_cast<int>(left.count())) : 0;
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error(what + ": no answer from QEMU's QMP socket in time");
    char chunk[1024];
    const ssize_t got = ::read(fd, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) throw std::runtime_error(what + ": QEMU closed its QMP socket");
    buf.append(chunk, static_cast<std::size_t>(got));
  }
}

}  // namespace

nlohmann::json QemuDevice::qmp_execute(const fs::path& socket, const nlohmann::json& command,
                                       std::chrono::milliseconds timeout) {
  const std::string what = "QMP " + socket.string();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket.string().size() >= sizeof addr.sun_path) throw std::runtime_error(what + ": path too long for a socket");
  std::strncpy(addr.sun_path, socket.c_str(), sizeof addr.sun_path - 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(what + ": socket: " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error(what + ": " + std::strerror(errno));
  std::string buf;
  const nlohmann::json greeting = nlohmann::json::parse(read_line(fd, buf, deadline, what), nullptr, false);
  if (!greeting.is_object() || !greeting.contains("QMP")) throw std::runtime_error(what + ": not a QMP greeting");
  nlohmann::json result;
  for (const nlohmann::json& cmd : {nlohmann::json{{"execute", "qmp_capabilities"}}, command}) {
    const std::string out = cmd.dump() + "\n";
    if (::send(fd, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size()))
      throw std::runtime_error(what + ": send: " + std::strerror(errno));
    for (;;) {  // asynchronous events ({"event": ...}) may come before the answer
      const nlohmann::json reply = nlohmann::json::parse(read_line(fd, buf, deadline, what), nullptr, false);
      if (!reply.is_object()) throw std::runtime_error(what + ": a reply that is not JSON");
      if (reply.contains("error"))
        throw std::runtime_error(what + ": " + cmd.value("execute", "?") + ": " +
                                 reply["error"].value("desc", reply["error"].dump()));
      if (reply.contains("return")) {
        result = reply["return"];
        break;
      }
    }
  }
  return result;
}

QemuDevice::QemuDevice(boost::asio::io_context& io, DeviceSpec spec, EventLog& log, fs::path qemu)
    : io_(io),
      spec_(std::move(spec)),
      log_(log),
      qemu_(std::move(qemu)),
      source_("emu:" + spec_.name),
      qmp_path_(qmp_socket_for(spec_)),
      log_master_(io),
      watch_timer_(io) {
  const PtyPair pty = open_pty_pair(0);
  log_slave_ = pty.slave;
  log_path_ = pty.path;
  ::fcntl(pty.master, F_SETFL, ::fcntl(pty.master, F_GETFL) | O_NONBLOCK);
  log_master_.assign(pty.master);
}

QemuDevice::~QemuDevice() { stop(); }

std::vector<std::string> QemuDevice::qemu_args() const {
  std::string append = "name=" + spec_.name + " seed=" + spec_.seed + " model=" + kQemuCortexM3Model;
  if (spec_.node_pubkey) append += " node_pubkey=" + to_hex(spec_.node_pubkey->data(), spec_.node_pubkey->size());
  return {"-M", kQemuMachine, "-nographic", "-monitor", "none",
          "-kernel", fs::absolute(spec_.image).string(),
          "-semihosting-config", "enable=on,target=native",
          "-append", append,
          "-chardev", "serial,id=link,path=" + spec_.link, "-serial", "chardev:link",
          "-chardev", "serial,id=log,path=" + log_path_, "-serial", "chardev:log",
          "-qmp", "unix:" + qmp_path_.string() + ",server=on,wait=off"};
}

void QemuDevice::write_reset_reason(uint32_t reason) {
  const fs::path file = fs::path(spec_.nvs_dir) / "reset_reason";
  std::error_code ec;
  if (reason == IOTW_RESET_POWERON) {  // absent = power-on (the contract of the image)
    fs::remove(file, ec);
    return;
  }
  std::ofstream out(file, std::ios::trunc);
  out << reason;
  if (!out.flush()) throw std::runtime_error("cannot write " + file.string());
}

void QemuDevice::launch(uint32_t reset_reason, const char* cause) {
  std::string why = qemu_ == fs::path(kQemuSystemArm) ? qemu_missing() : "";
  if (why.empty()) why = qemu_image_missing(spec_.image);
  if (!why.empty()) throw std::runtime_error(spec_.name + ": " + why);
  fs::create_directories(spec_.nvs_dir);
  write_reset_reason(reset_reason);
  fs::remove(qmp_path_);
  SpawnOptions o;
  o.working_dir = spec_.nvs_dir;  // semihosting files: nvs.<key>, reset_reason
  o.stdout_file = fs::path(spec_.nvs_dir) / "qemu.stdout.log";
  o.stderr_file = fs::path(spec_.nvs_dir) / "qemu.stderr.log";
  const int pid = qemu_proc_.start(kChild, qemu_, qemu_args(), o);
  running_ = true;
  stopped_ = false;
  pending_cause_ = cause;
  log_.emit(source_, "qemu_started",
            {{"pid", pid}, {"machine", kQemuMachine}, {"image", fs::absolute(spec_.image).string()},
             {"seed", spec_.seed}, {"link", spec_.link}, {"log_uart", log_path_}, {"qmp", qmp_path_.string()},
             {"reset_reason", reset_reason}});
  watch();
}

void QemuDevice::start() {
  if (running_) return;
  read_log();
  launch(IOTW_RESET_POWERON, "");
}

void QemuDevice::halt() {
  watch_timer_.cancel();
  if (running_) qemu_proc_.stop(kChild, kStopGrace);
  running_ = false;
}

void QemuDevice::stop() {
  if (stopped_) return;
  stopped_ = true;
  halt();
  boost::system::error_code ec;
  log_master_.close(ec);
  if (log_slave_ >= 0) ::close(log_slave_);
  log_slave_ = -1;
  std::error_code fec;
  fs::remove(qmp_path_, fec);
}

nlohmann::json QemuDevice::status() const {
  nlohmann::json s = Device::status();
  s["powered"] = running_;
  s["boot_count"] = boot_count_;
  s["reset_reason"] = last_reset_reason_;
  return s;
}

nlohmann::json QemuDevice::power(Supply state) {
  std::optional<uint32_t> switched_on;
  supply_.apply(state, powered(), [&] { power_off(); }, [&](uint32_t why) {
    power_on(why);
    switched_on = why;
  });
  nlohmann::json out{{"powered", powered()}};
  if (switched_on) out["reset_reason"] = *switched_on;
  return out;
}

nlohmann::json QemuDevice::reboot() {
  if (!running_) throw std::runtime_error(spec_.name + " is powered off: nothing to reboot (power it on first)");
  write_reset_reason(kQemuSoftwareReset);
  try {
    qmp_execute(qmp_path_, {{"execute", "system_reset"}}, kQmpTimeout);
  } catch (const std::exception&) {
    write_reset_reason(IOTW_RESET_POWERON);  // not reset: the next boot is not a software one
    throw;
  }
  pending_cause_ = "software";
  return {{"reset_reason", kQemuSoftwareReset}, {"boot_count", boot_count_}};
}

void QemuDevice::power_off() {
  if (!running_) return;
  halt();
  log_.emit(source_, "power_off", {{"cause", "control"}});
}

void QemuDevice::power_on(uint32_t reset_reason) {
  if (running_) return;
  launch(reset_reason, "power");
}

void QemuDevice::read_log() {
  log_master_.async_read_some(boost::asio::buffer(rx_), [this](boost::system::error_code ec, std::size_t n) {
    if (ec == boost::asio::error::operation_aborted || !log_master_.is_open()) return;
    if (ec) {  // EIO cannot happen while log_slave_ is open; anything else ends the log
      log_.emit(source_, "log_uart_error", {{"error", ec.message()}});
      return;
    }
    for (std::size_t i = 0; i < n; ++i) {
      const char c = rx_[i];
      if (c == '\n') {
        if (!line_.empty() && line_.back() == '\r') line_.pop_back();
        if (!line_.empty()) on_log_line(line_);
        line_.clear();
      } else if (line_.size() < 1024) {
        line_ += c;
      }
    }
    read_log();
  });
}

// `LEVEL EVENT DETAIL`: the same "log" event the host firmware's runtime emits; `boot reset_reason=N` also counts a
// boot and, after a reset the pool caused, the "reset" event.
void QemuDevice::on_log_line(const std::string& line) {
  const auto sp1 = line.find(' ');
  const std::string level = line.substr(0, sp1);
  std::string event, detail;
  if (sp1 != std::string::npos) {
    const auto sp2 = line.find(' ', sp1 + 1);
    event = line.substr(sp1 + 1, sp2 == std::string::npos ? std::string::npos : sp2 - sp1 - 1);
    if (sp2 != std::string::npos) detail = line.substr(sp2 + 1);
  }
  if (level != "debug" && level != "info" && level != "warn" && level != "error") {
    log_.emit(source_, "log", {{"level", "info"}, {"event", "uart"}, {"detail", line}});  // not the port's format
    return;
  }
  log_.emit(source_, "log", {{"level", level}, {"event", event}, {"detail", detail}});
  // The board's first line after a reset is exactly `boot reset_reason=N`; the core's own `boot boot_count=...` line
  // that follows is an ordinary log line.
  if (event != "boot" || detail.rfind("reset_reason=", 0) != 0) return;
  const uint32_t reason = static_cast<uint32_t>(std::strtoul(detail.c_str() + 13, nullptr, 10));
  ++boot_count_;
  last_reset_reason_ = reason;
  const std::string cause = pending_cause_.empty() && boot_count_ > 1 ? "firmware" : pending_cause_;
  pending_cause_.clear();
  if (!cause.empty()) log_.emit(source_, "reset", {{"reset_reason", reason}, {"boot_count", boot_count_}, {"cause", cause}});
}

// QEMU ending on its own (a firmware panic exits through semihosting, a crash, a kill from outside) is reported,
// never fatal to the pool: the device stays off until a `power on` over the control channel.
void QemuDevice::watch() {
  watch_timer_.expires_after(std::chrono::milliseconds(200));
  watch_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || !running_) return;
    if (const auto exited = qemu_proc_.reap_exited()) {
      running_ = false;
      std::string tail;
      std::ifstream err(fs::path(spec_.nvs_dir) / "qemu.stderr.log");
      for (std::string l; std::getline(err, l);)
        if (!l.empty()) tail = l;  // QEMU's last word, e.g. why it could not open a chardev
      log_.emit(source_, "qemu_exited", {{"code", exited->code}, {"unexpected", true}, {"stderr", tail}});
      return;
    }
    watch();
  });
}

}  // namespace iotw::emu
