// YeelightBulb: the spec's command/result examples, errors, notifications and the discovery reply.
#include <gtest/gtest.h>

#include "smart_bulb/yeelight_bulb.hpp"

using iotw::emu::YeelightBulb;
using json = nlohmann::json;

namespace {
json reply(YeelightBulb& b, const std::string& line) { return json::parse(b.handle(line).line); }
}  // namespace

TEST(YeelightBulb, SpecExamplesAnswerOk) {
  YeelightBulb b(0x15243f);
  for (const char* cmd : {R"({"id":1,"method":"set_ct_abx","params":[3500, "smooth", 500]})",
                          R"({"id":1,"method":"set_rgb","params":[255, "smooth", 500]})",
                          R"({"id":1,"method":"set_hsv","params":[255, 45, "smooth", 500]})",
                          R"({"id":1,"method":"set_bright","params":[50, "smooth", 500]})",
                          R"({"id":1,"method":"set_power","params":["on", "smooth", 500]})",
                          R"({"id":1,"method":"toggle","params":[]})", R"({"id":1,"method":"set_default","params":[]})",
                          R"({"id":1,"method":"set_name","params":["my_bulb"]})"})
    EXPECT_EQ(reply(b, cmd), json::parse(R"({"id":1,"result":["ok"]})")) << cmd;
  EXPECT_EQ(reply(b, R"({"id":7,"method":"get_prop","params":["power", "not_exist", "bright", "name"]})"),
            json::parse(R"({"id":7,"result":["off","","50","my_bulb"]})"));
}

TEST(YeelightBulb, StateChangesNotifyPropsAndDrivePower) {
  YeelightBulb b(1);
  auto r = b.handle(R"({"id":2,"method":"set_bright","params":[40,"sudden",30]})");
  EXPECT_EQ(json::parse(r.notification), json::parse(R"({"method":"props","params":{"bright":"40"}})"));
  EXPECT_NEAR(b.power_w(), 9.0 * 0.4, 1e-9);
  b.handle(R"({"id":3,"method":"set_rgb","params":[65280,"sudden",30]})");
  EXPECT_EQ(b.state().color_mode, 1);
  EXPECT_NEAR(b.power_w(), 9.0 * 0.4 * 0.8, 1e-9);
  EXPECT_TRUE(b.handle(R"({"id":4,"method":"set_rgb","params":[65280,"sudden",30]})").notification.empty());
  b.handle(R"({"id":5,"method":"set_power","params":["off","sudden",30]})");
  EXPECT_EQ(b.power_w(), 0);
}

TEST(YeelightBulb, ErrorsForBadMethodsParamsAndLines) {
  YeelightBulb b(1);
  auto err = [&](const std::string& line) { return reply(b, line)["error"]; };
  EXPECT_EQ(err(R"({"id":2,"method":"start_cf","params":[1,0,"500,1,255,100"]})"),
            json::parse(R"({"code":-1,"message":"unsupported method"})"));
  EXPECT_EQ(err(R"({"id":3,"method":"set_bright","params":[0,"smooth",500]})")["message"], "invalid params");
  EXPECT_EQ(err(R"({"id":3,"method":"set_ct_abx","params":[6600,"smooth",500]})")["message"], "invalid params");
  EXPECT_EQ(err(R"({"id":3,"method":"set_bright","params":[50,"fade",500]})")["message"], "invalid params");
  EXPECT_EQ(err(R"({"id":3,"method":"set_bright","params":[50,"smooth",29]})")["message"], "invalid params");
  EXPECT_EQ(err(R"({"id":3,"method":"set_power","params":["maybe","smooth",500]})")["message"], "invalid params");
  EXPECT_EQ(err("not json")["message"], "invalid command");
  EXPECT_EQ(err(R"({"method":"toggle","params":[]})")["message"], "invalid command");
  b.handle(R"({"id":4,"method":"set_power","params":["off","sudden",30]})");
  EXPECT_EQ(err(R"({"id":5,"method":"set_bright","params":[50,"smooth",500]})")["message"], "bulb is off");
  EXPECT_EQ(b.state().bright, 100);
}

TEST(YeelightBulb, PowerCycleRestoresTheSavedDefault) {
  YeelightBulb b(1);
  b.handle(R"({"id":1,"method":"set_bright","params":[30,"sudden",30]})");
  b.handle(R"({"id":2,"method":"set_default","params":[]})");
  b.handle(R"({"id":3,"method":"set_bright","params":[80,"sudden",30]})");
  b.power_cycle();
  EXPECT_EQ(b.state().bright, 30);
}

TEST(YeelightBulb, DiscoveryAnswersOnlyAWellFormedSearch) {
  YeelightBulb b(0x15243f);
  const std::string search = "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1982\r\nMAN: \"ssdp:discover\"\r\nST: wifi_bulb\r\n";
  const std::string r = b.discovery_reply(search, "yeelight://127.0.0.1:55443");
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(r.find("Location: yeelight://127.0.0.1:55443\r\n"), std::string::npos);
  EXPECT_NE(r.find("id: 0x000000000015243f\r\n"), std::string::npos);
  EXPECT_NE(r.find("support: get_prop"), std::string::npos);
  EXPECT_EQ(b.discovery_reply("M-SEARCH * HTTP/1.1\r\nMAN: ssdp:discover\r\nST: wifi_bulb\r\n", "x"), "");
  EXPECT_EQ(b.discovery_reply("M-SEARCH * HTTP/1.1\r\nMAN: \"ssdp:discover\"\r\nST: other\r\n", "x"), "");
  EXPECT_EQ(b.discovery_reply("NOTIFY * HTTP/1.1\r\n", "x"), "");
}
