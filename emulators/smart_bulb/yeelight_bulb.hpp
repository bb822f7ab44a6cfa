// The smart bulb's LED driver state and its Yeelight LAN protocol ("Yeelight WiFi Light Inter-Operation
// Specification", ../shared/reference/bulb_lan.md), sans-IO: a command line in, a result line out.
//
// Methods (the "support" list): get_prop set_power toggle set_bright set_ct_abx set_rgb set_hsv
// set_default set_name. Any other method -> {"code":-1,"message":"unsupported method"} (the spec's one
// error). Emulator choices where the spec is silent, all code -1: unparsable line or missing id/method/
// params -> "invalid command"; wrong count, type or range of params -> "invalid params"; set_bright /
// set_ct_abx / set_rgb / set_hsv while off -> "bulb is off" (the spec: "only accepted if on").
// Effects ("sudden" | "smooth", duration >= 30 ms) are validated and applied at once.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace iotw::emu {

struct BulbState {
  bool power = true;
  int bright = 100;      ///< 1..100 %
  int ct = 4000;         ///< 1700..6500 K
  int rgb = 16711680;    ///< 0..16777215 (0xRRGGBB)
  int hue = 100, sat = 35;
  int color_mode = 2;    ///< 1 rgb, 2 colour temperature, 3 hsv
  std::string name;      ///< <= 64 bytes
};

class YeelightBulb {
 public:
  static constexpr double kRatedW = 9.0;  ///< LED driver input at 100 % (a typical E27 colour bulb)

  /// id: the 64-bit bulb id of the discovery reply.
  explicit YeelightBulb(uint64_t id) : id_(id) {}

  struct Reply {
    std::string line;          ///< the RESULT message, "\r\n"-terminated
    std::string notification;  ///< a "props" NOTIFICATION when the state changed, else ""
  };
  /// One COMMAND line (without its "\r\n"). Never throws.
  Reply handle(const std::string& line);

  /// The search response to an M-SEARCH datagram (spec 3.1), or "" if the request breaks the rules
  /// (silently dropped). location: "yeelight://A.B.C.D:PORT".
  std::string discovery_reply(const std::string& request, const std::string& location) const;

  /// LED driver power draw now, W: 0 when off, else kRatedW * bright / 100 (RGB modes 80 % of that).
  double power_w() const;
  const BulbState& state() const { return s_; }
  /// The bulb lost power and came back: it restarts in the state saved by set_default (initially on,
  /// 100 %, 4000 K).
  void power_cycle() { s_ = default_; }

 private:
  std::string prop(const std::string& name) const;
  nlohmann::json props(const nlohmann::json& names) const;

  uint64_t id_;
  BulbState s_, default_;
};

}  // namespace iotw::emu
