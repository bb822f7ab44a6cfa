#include "yeelight_bulb.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace iotw::emu {

namespace {

constexpr const char* kSupport = "get_prop set_default set_power toggle set_bright set_ct_abx set_rgb set_hsv set_name";

struct BadParams {};

std::string result_line(const nlohmann::json& id, const nlohmann::json& result) {
  return nlohmann::json{{"id", id}, {"result", result}}.dump() + "\r\n";
}
std::string error_line(const nlohmann::json& id, const std::string& message) {
  return nlohmann::json{{"id", id}, {"error", {{"code", -1}, {"message", message}}}}.dump() + "\r\n";
}

int int_param(const nlohmann::json& p, size_t i, int lo, int hi) {
  if (i >= p.size() || !p[i].is_number_integer()) throw BadParams{};
  const auto v = p[i].get<int64_t>();
  if (v < lo || v > hi) throw BadParams{};
  return static_cast<int>(v);
}

// The trailing "effect, duration" pair of the set_* methods.
void effect_params(const nlohmann::json& p, size_t i) {
  if (i + 2 != p.size() || !p[i].is_string()) throw BadParams{};
  const auto e = p[i].get<std::string>();
  if (e != "sudden" && e != "smooth") throw BadParams{};
  int_param(p, i + 1, 30, 1 << 30);
}

}  // namespace

double YeelightBulb::power_w() const {
  if (!s_.power) return 0;
  return kRatedW * s_.bright / 100.0 * (s_.color_mode == 2 ? 1.0 : 0.8);
}

std::string YeelightBulb::prop(const std::string& n) const {
  if (n == "power") return s_.power ? "on" : "off";
  if (n == "bright") return std::to_string(s_.bright);
  if (n == "ct") return std::to_string(s_.ct);
  if (n == "rgb") return std::to_string(s_.rgb);
  if (n == "hue") return std::to_string(s_.hue);
  if (n == "sat") return std::to_string(s_.sat);
  if (n == "color_mode") return std::to_string(s_.color_mode);
  if (n == "flowing" || n == "music_on") return "0";
  if (n == "delayoff") return "0";
  if (n == "name") return s_.name;
  return "";  // unknown property (spec example: "not_exist" -> "")
}

nlohmann::json YeelightBulb::props(const nlohmann::json& names) const {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& n : names) out[n.get<std::string>()] = prop(n.get<std::string>());
  return out;
}

YeelightBulb::Reply YeelightBulb::handle(const std::string& line) {
  const auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("id") || !j["id"].is_number_integer() ||
      !j.contains("method") || !j["method"].is_string())
    return {error_line(j.is_object() && j.contains("id") ? j["id"] : nlohmann::json(nullptr), "invalid command"), ""};
  const nlohmann::json id = j["id"];
  const std::string m = j["method"].get<std::string>();
  const nlohmann::json p = j.contains("params") ? j["params"] : nlohmann::json::array();
  if (!p.is_array()) return {error_line(id, "invalid command"), ""};
  const BulbState before = s_;
  try {
    if (m == "get_prop") {
      if (p.empty()) throw BadParams{};
      nlohmann::json r = nlohmann::json::array();
      for (const auto& n : p) {
        if (!n.is_string()) throw BadParams{};
        r.push_back(prop(n.get<std::string>()));
      }
      return {result_line(id, r), ""};
    }
    const bool color_cmd = m == "set_bright" || m == "set_ct_abx" || m == "set_rgb" || m == "set_hsv";
    if (m == "set_power") {
      if (p.empty() || !p[0].is_string()) throw BadParams{};
      const auto v = p[0].get<std::string>();
      if (v != "on" && v != "off") throw BadParams{};
      effect_params(p, 1);
      s_.power = v == "on";
    } else if (m == "toggle") {
      if (!p.empty()) throw BadParams{};
      s_.power = !s_.power;
    } else if (m == "set_default") {
      if (!p.empty()) throw BadParams{};
      default_ = s_;
    } else if (m == "set_name") {
      if (p.size() != 1 || !p[0].is_string() || p[0].get<std::string>().size() > 64) throw BadParams{};
      s_.name = p[0].get<std::string>();
    } else if (color_cmd) {
      BulbState next = s_;
      if (m == "set_bright") {
        next.bright = int_param(p, 0, 1, 100);
        effect_params(p, 1);
      } else if (m == "set_ct_abx") {
        next.ct = int_param(p, 0, 1700, 6500);
        next.color_mode = 2;
        effect_params(p, 1);
      } else if (m == "set_rgb") {
        next.rgb = int_param(p, 0, 0, 16777215);
        next.color_mode = 1;
        effect_params(p, 1);
      } else {
        next.hue = int_param(p, 0, 0, 359);
        next.sat = int_param(p, 1, 0, 100);
        next.color_mode = 3;
        effect_params(p, 2);
      }
      if (!s_.power) return {error_line(id, "bulb is off"), ""};
      s_ = next;
    } else {
      return {error_line(id, "unsupported method"), ""};
    }
  } catch (const BadParams&) {
    s_ = before;
    return {error_line(id, "invalid params"), ""};
  }
  nlohmann::json changed = nlohmann::json::object();
  for (const char* n : {"power", "bright", "ct", "rgb", "hue", "sat", "color_mode", "name"}) {
    BulbState now = s_;
    s_ = before;
    const std::string old = prop(n);
    s_ = now;
    if (prop(n) != old) changed[n] = prop(n);
  }
  std::string note;
  if (!changed.empty()) note = nlohmann::json{{"method", "props"}, {"params", changed}}.dump() + "\r\n";
  return {result_line(id, nlohmann::json::array({"ok"})), note};
}

std::string YeelightBulb::discovery_reply(const std::string& request, const std::string& location) const {
  std::istringstream in(request);
  std::string line;
  if (!std::getline(in, line) || line != "M-SEARCH * HTTP/1.1\r") return "";
  bool man = false, st = false;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon), value = line.substr(colon + 1);
    std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
    value.erase(0, value.find_first_not_of(' '));
    if (key == "man") man = value == "\"ssdp:discover\"";
    if (key == "st") st = value == "wifi_bulb";
  }
  if (!man || !st) return "";
  char id[24];
  std::snprintf(id, sizeof id, "0x%016llx", static_cast<unsigned long long>(id_));
  std::string r = "HTTP/1.1 200 OK\r\nCache-Control: max-age=3600\r\nDate: \r\nExt: \r\n";
  r += "Location: " + location + "\r\nServer: POSIX UPnP/1.0 YGLC/1\r\n";
  r += std::string("id: ") + id + "\r\nmodel: color\r\nfw_ver: 18\r\nsupport: " + kSupport + "\r\n";
  for (const char* n : {"power", "bright", "color_mode", "ct", "rgb", "hue", "sat", "name"})
    r += std::string(n) + ": " + prop(n) + "\r\n";
  return r;
}

}  // namespace iotw::emu
