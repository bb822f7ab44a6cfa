#include "pool_control.hpp"

#include <sys/stat.h>
#include <sys/un.h>

#include <cmath>
#include <algorithm>
#include <cstdio>
#include <stdexcept>


namespace iotw::emu {

namespace {
constexpr int64_t kMaxOffsetMs = 86'400'000;
constexpr double kMinPpm = -999'999, kMaxPpm = 1'000'000;

/// A thrown BadRequest becomes {"ok": false, "error": what()}.
struct BadRequest : std::runtime_error {
  using std::runtime_error::runtime_error;
};

int64_t int_param(const nlohmann::json& req, const char* key, int64_t lo, int64_t hi, int64_t dflt) {
  if (!req.contains(key)) return dflt;
  const auto& v = req[key];
  if (!v.is_number_integer())
    throw BadRequest(std::string("'") + key + "' must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi));
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi)
    throw BadRequest(std::string("'") + key + "' is " + std::to_string(x) + "; allowed range " + std::to_string(lo) +
                     ".." + std::to_string(hi));
  return x;
}

double number_param(const nlohmann::json& req, const char* key, double lo, double hi, double dflt) {
  if (!req.contains(key)) return dflt;
  const auto& v = req[key];
  if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < lo || v.get<double>() > hi) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "'%s' must be a number in %g..%g", key, lo, hi);
    throw BadRequest(buf);
  }
  return v.get<double>();
}
}  // namespace

const std::vector<std::string>& PoolControl::commands() {
  static const std::vector<std::string> v{"ping", "reboot", "hang", "clock_skew", "clock", "power", "ap", "uart", "status"};
  return v;
}

void PoolControl::add(Device& d) { devices_[d.name()] = &d; }

std::string PoolControl::device_names() const {
  std::string out;
  for (const auto& [n, d] : devices_) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "(none)" : out;
}

nlohmann::json PoolControl::fail(const nlohmann::json& req, const std::string& cmd, const std::string& error) {
  nlohmann::json fields{{"cmd", cmd}, {"error", error}};
  if (req.is_object() && req.contains("device") && req["device"].is_string()) fields["device"] = req["device"];
  log_.emit("emu", "control_error", fields);
  nlohmann::json reply{{"ok", false}, {"error", error}};
  if (req.is_object() && req.contains("id")) reply["id"] = req["id"];
  return reply;
}

nlohmann::json PoolControl::reject(const std::string& error) { return fail(nlohmann::json::object(), "", error); }

nlohmann::json PoolControl::handle(const std::string& line) { return handle_now(line, nullptr); }

void PoolControl::handle(const std::string& line, std::function<void(nlohmann::json)> done) {
  nlohmann::json reply = handle_now(line, &done);
  if (!reply.is_null()) done(std::move(reply));  // null: `done` moved into a device's callback, which answers
}

nlohmann::json PoolControl::handle_now(const std::string& line, std::function<void(nlohmann::json)>* later) {
  const nlohmann::json req = nlohmann::json::parse(line, nullptr, false);
  if (req.is_discarded() || !req.is_object())
    return fail(nlohmann::json::object(), "", "not a JSON object: one {\"cmd\": ...} per line");
  if (!req.contains("cmd") || !req["cmd"].is_string()) return fail(req, "", "missing string 'cmd'");
  const std::string cmd = req["cmd"].get<std::string>();
  try {
    nlohmann::json reply{{"ok", true}};
    if (req.contains("id")) reply["id"] = req["id"];
    if (cmd == "ping") {
      nlohmann::json names = nlohmann::json::array();
      for (const auto& [n, d] : devices_) names.push_back(n);
      reply["devices"] = std::move(names);
      return reply;
    }
    std::string known;
    for (const auto& c : commands()) known += (known.empty() ? "" : ", ") + c;
    if (std::find(commands().begin(), commands().end(), cmd) == commands().end())
      throw BadRequest("unknown command '" + cmd + "'; allowed: " + known);
    if (!req.contains("device") || !req["device"].is_string()) throw BadRequest("'" + cmd + "' needs a string 'device'");
    const std::string name = req["device"].get<std::string>();
    reply["device"] = name;
    const auto found = devices_.find(name);
    if (found == devices_.end()) throw BadRequest("unknown device '" + name + "'; the pool's devices: " + device_names());
    Device& dev = *found->second;
    nlohmann::json fields{{"cmd", cmd}, {"device", name}};
    if (cmd == "status") {
      reply["status"] = dev.status();
      return reply;  // a question, not a command: no control_command event
    }
    if (!dev.takes(cmd)) dev.refuse(cmd);
    nlohmann::json out;
    if (cmd == "ap") {
      std::optional<int> rssi;
      std::optional<bool> up;
      if (req.contains("rssi")) rssi = static_cast<int>(int_param(req, "rssi", -120, 0, 0));
      if (req.contains("up")) {
        if (!req["up"].is_boolean()) throw BadRequest("'up' must be true or false");
        up = req["up"].get<bool>();
      }
      if (!rssi && !up) throw BadRequest("'ap' needs 'rssi' (dBm, -120..0) and/or 'up' (true/false)");
      out = dev.ap(rssi, up);
    } else if (cmd == "uart") {
      if (!req.contains("data") || !req["data"].is_string() || req["data"].get<std::string>().empty())
        throw BadRequest("'uart' needs a non-empty string 'data' (the bytes to type, e.g. \"AT+GMR\\r\\n\")");
      const std::string data = req["data"].get<std::string>();
      if (data.size() > 256) throw BadRequest("'data' is " + std::to_string(data.size()) + " bytes; at most 256");
      fields["data"] = data;
      log_.emit("emu", "control_command", std::move(fields));
      // Answered once the module has answered: the reply waits on the pool's thread.
      if (!later) throw BadRequest("'uart' answers once the module has: send it on the control socket");
      dev.type_uart(data, [this, req, reply, answer = std::move(*later), cmd](const UartTyped& t) mutable {
        if (!t.error.empty()) {
          answer(fail(req, cmd, t.error));
          return;
        }
        reply["output"] = t.output;
        reply["complete"] = t.complete;
        answer(std::move(reply));
      });
      return nullptr;
    } else if (cmd == "reboot") {
      out = dev.reboot();
    } else if (cmd == "hang") {
      out = dev.hang();
    } else if (cmd == "power") {
      // A bench supply switched by hand (BenchSupply, device.hpp): off, brownout, on.
      const std::string state = req.contains("state") && req["state"].is_string() ? req["state"].get<std::string>() : "";
      const std::optional<Supply> supply = parse_supply(state);
      if (!supply) throw BadRequest("'power' needs 'state': \"off\", \"brownout\" or \"on\"");
      fields["state"] = state;
      out = dev.power(*supply);
    } else if (cmd == "clock_skew") {
      const int64_t offset = int_param(req, "offset_ms", -kMaxOffsetMs, kMaxOffsetMs, 0);
      const double ppm = number_param(req, "ppm", kMinPpm, kMaxPpm, 0);
      fields["offset_ms"] = offset;
      fields["ppm"] = ppm;
      out = dev.clock_skew(offset, ppm);
    } else {  // clock
      out = dev.clock();
    }
    for (auto& [k, v] : out.items()) reply[k] = std::move(v);
    log_.emit("emu", "control_command", std::move(fields));
    return reply;
  } catch (const std::runtime_error& e) {  // BadRequest, ControlError, a device that cannot do it now
    return fail(req, cmd, e.what());
  } catch (const std::exception& e) {
    return fail(req, cmd, std::string("failed: ") + e.what());
  }
}

ControlServer::ControlServer(boost::asio::io_context& io, std::string path, PoolControl& control)
    : path_(std::move(path)), control_(control), server_(io, kLimits, [this](Server::Connection& c) { on_data(c); }) {}

ControlServer::~ControlServer() { stop(); }

void ControlServer::start() {
  if (path_.size() >= sizeof(sockaddr_un{}.sun_path))
    throw std::runtime_error("control socket path too long (" + std::to_string(path_.size()) + " bytes, at most " +
                             std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + "): " + path_);
  ::unlink(path_.c_str());
  try {
    server_.listen(boost::asio::local::stream_protocol::endpoint(path_), false);
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("control socket " + path_ + ": " + e.code().message());
  }
  ::chmod(path_.c_str(), 0600);
  running_ = true;
}

void ControlServer::stop() {
  if (!running_) return;
  running_ = false;
  server_.stop();
  ::unlink(path_.c_str());
}

// Complete lines are answered in order; a `uart` line holds the connection until its module has answered.
void ControlServer::on_data(Server::Connection& c) {
  std::string& in = c.input();
  while (running_ && c.is_open()) {
    const std::size_t eol = in.find('\n');
    if (eol == std::string::npos ? in.size() > kMaxLine : eol > kMaxLine) {
      c.send(control_.reject("line longer than " + std::to_string(kMaxLine) + " bytes; the connection is closed").dump() +
             "\n");
      c.close_after_send();
      return;
    }
    if (eol == std::string::npos) return;
    std::string line = in.substr(0, eol);
    in.erase(0, eol + 1);
    while (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;  // blank line: nothing to answer
    auto in_handle = std::make_shared<bool>(true), answered = std::make_shared<bool>(false);
    control_.handle(line, [this, in_handle, answered, conn = c.shared_from_this()](nlohmann::json r) {
      *answered = true;
      if (!running_ || !conn->is_open()) return;
      conn->send(r.dump() + "\n");
      if (!*in_handle) conn->release();  // answered later: the lines that arrived meanwhile
    });
    *in_handle = false;
    if (!*answered) {
      c.hold();
      return;
    }
  }
}

}  // namespace iotw::emu
