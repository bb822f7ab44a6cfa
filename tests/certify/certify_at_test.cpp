// `iotw certify --profile at-esp` / `at-realtek`: the reference AT modules (`iotw-emu esp8266 --at --pty`, `iotw-emu
// rtl8710 --at --pty`) pass CERT-090 / CERT-095 (basics, errors, reset), CERT-091 / CERT-096 (join the emulated access
// point, UDP to a loopback peer of the certifier and back) and CERT-092 / CERT-097 (station queries, multiple links,
// busy, disconnect; Realtek connection management and errors): the answers of ../shared/reference/esp_at.md and
// realtek_at.md byte for byte. The at_wrong_terminator mutant (every "\r\n" it prints becomes "\n") fails them all.
// No trust node takes part.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <set>

#include "emu_child.hpp"
#include "iotw_process.hpp"

namespace iotw::test {
namespace {

/// One `iotw certify` run of `profile` against the emulated `model` with `mutant` (joining the emulator's default
/// access point where a test joins one); returns the report's tests by id, which must be `ids`.
std::map<std::string, nlohmann::json> certify_at(const std::string& model, const std::string& profile,
                                                 const std::set<std::string>& ids, const std::string& mutant,
                                                 int expected_exit) {
  const auto dir = scratch_dir() / (model + "-" + mutant);
  std::filesystem::create_directories(dir);
  EmuChild emu({model, "--at", "--pty", "--mutant", mutant, "--ssid", "cert-lab", "--password", "cert-lab-pass"}, 1,
               dir);
  EXPECT_EQ(emu.lines.size(), 1u);
  if (emu.lines.empty()) return {};
  const IotwResult r = run_iotw({"certify", "--dut", "serial:" + emu.lines[0], "--profile", profile, "--ssid",
                                 "cert-lab", "--password", "cert-lab-pass", "--out", (dir / "run").string()},
                                dir);
  EXPECT_EQ(r.code, expected_exit) << r.out << r.err;
  const auto report = nlohmann::json::parse(slurp(dir / "run" / "report.json"));
  std::map<std::string, nlohmann::json> tests;
  std::set<std::string> got;
  for (const auto& t : report["tests"]) {
    tests[t["id"].get<std::string>()] = t;
    got.insert(t["id"].get<std::string>());
  }
  EXPECT_EQ(got, ids);
  EXPECT_FALSE(std::filesystem::exists(dir / "run" / "trust_node.toml")) << "no node in an AT profile";
  return tests;
}

TEST(CertifyAt, TheReferenceEspAtModulePassesCert090To092) {
  auto t = certify_at("esp8266", "at-esp", {"CERT-090", "CERT-091", "CERT-092"}, "honest", 0);
  EXPECT_EQ(t["CERT-090"]["verdict"], "pass") << t["CERT-090"].dump();
  EXPECT_EQ(t["CERT-090"]["measured"]["AT"], "AT\r\n\r\nOK\r\n") << "the last AT runs with echo on";
  EXPECT_EQ(t["CERT-090"]["measured"]["AT+FAKE"], "ERR CODE:0x01090000\r\n\r\nERROR\r\n");
  const std::string rst = t["CERT-090"]["measured"]["AT+RST"];
  EXPECT_NE(rst.find("rst cause:2"), std::string::npos) << "a software reset: " << rst;
  EXPECT_EQ(rst.substr(rst.size() - 9), "\r\nready\r\n") << rst;
  const auto& m = t["CERT-092"]["measured"];
  EXPECT_EQ(t["CERT-092"]["verdict"], "pass") << t["CERT-092"].dump();
  EXPECT_EQ(m["AT+CWJAP=\"cert-lab\",\"cert-lab-pass\"\r\nAT\r\n"],
            "\r\nbusy p...\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n");
  EXPECT_EQ(m["AT+CIFSR"], "+CIFSR:STAIP,\"192.168.1.100\"\r\n+CIFSR:STAMAC,\"5c:cf:7f:12:34:56\"\r\n\r\nOK\r\n");
  EXPECT_EQ(m["AT+CIPSTART again"], "ALREADY CONNECTED\r\r\nERROR\r\n") << "the ESP8266 v2.2 literal ends in a CR";
  EXPECT_EQ(m["+IPD"].get<std::string>().rfind("\r\n+IPD,4,27,\"127.0.0.1\",", 0), 0u) << m.dump();
  EXPECT_EQ(m["AT+CIPCLOSE=4"], "4,CLOSED\r\n\r\nOK\r\n");
  EXPECT_EQ(m["remote close"], "0,CLOSED\r\n") << "the TCP peer's close is reported unasked";
  EXPECT_EQ(m["AT+CWQAP (joined)"], "\r\nOK\r\nWIFI DISCONNECT\r\n");
  EXPECT_EQ(t["CERT-091"]["verdict"], "pass") << t["CERT-091"].dump();
  EXPECT_EQ(t["CERT-091"]["measured"]["AT+CWJAP=\"cert-lab\",\"cert-lab-pass\""],
            "WIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n");
  const std::string dgram = t["CERT-091"]["measured"]["datagram"];
  EXPECT_EQ(dgram.rfind("iotw-cert-091 ", 0), 0u) << "the peer got the data the module was given";
  const std::string ipd = t["CERT-091"]["measured"]["+IPD"];
  EXPECT_EQ(ipd.rfind("\r\n+IPD,27:iotw-reply ", 0), 0u) << ipd;
}

TEST(CertifyAt, AModuleEndingResultLinesWithLfAloneFailsCert090To092) {
  auto t = certify_at("esp8266", "at-esp", {"CERT-090", "CERT-091", "CERT-092"}, "at_wrong_terminator", 1);
  for (const char* id : {"CERT-090", "CERT-091", "CERT-092"}) {
    EXPECT_EQ(t[id]["verdict"], "fail") << t[id].dump();
    EXPECT_NE(t[id]["reason"].get<std::string>().find("\\nOK\\n\""), std::string::npos) << t[id].dump();
  }
}

TEST(CertifyAt, TheJoinTestIsNotRunWithoutAnAccessPoint) {
  const auto dir = scratch_dir() / "no-ssid";
  std::filesystem::create_directories(dir);
  EmuChild emu({"esp8266", "--at", "--pty"}, 1, dir);
  ASSERT_EQ(emu.lines.size(), 1u);
  const IotwResult r = run_iotw({"certify", "--dut", "serial:" + emu.lines[0], "--profile", "at-esp", "--only",
                                 "CERT-091", "--out", (dir / "run").string()},
                                dir);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("certification incomplete"), std::string::npos) << r.out;
  const auto report = nlohmann::json::parse(slurp(dir / "run" / "report.json"));
  EXPECT_EQ(report["tests"][0]["verdict"], "not_run") << report.dump();
  EXPECT_FALSE(report["complete"].get<bool>());
}

TEST(CertifyAt, TheReferenceRealtekModulePassesCert095To097) {
  auto all = certify_at("rtl8710", "at-realtek", {"CERT-095", "CERT-096", "CERT-097"}, "honest", 0);
  const auto& t = all["CERT-095"];
  EXPECT_EQ(t["verdict"], "pass") << t.dump();
  EXPECT_EQ(t["measured"]["AT"], "AT\r\n[AT] OK\r\n\n# ") << "the last AT runs with echo on";
  EXPECT_EQ(t["measured"]["ATZZ"], "\r\nunknown command 'ATZZ'\r\n\n# ");
  EXPECT_EQ(t["measured"]["x"], "\r\nERROR:command should start with 'A'\r\n\n# ");
  EXPECT_EQ(t["measured"]["ATSR"], "\r\n[ATSR] OK\r\nAT COMMAND READY\r\n\n# ");
  EXPECT_EQ(t["measured"]["AT (after ATSR)"], "AT\r\n[AT] OK\r\n\n# ") << "echo is on again after the reboot";
  const auto& q = all["CERT-097"];
  EXPECT_EQ(q["verdict"], "pass") << q.dump();
  EXPECT_EQ(q["measured"]["ATW?"],
            "\r\nSTA,cert-lab,6,AES,cert-lab-pass,00:e0:4c:87:10:01,192.168.1.80,192.168.1.1\r\n[ATW?] OK\r\n\n# ");
  EXPECT_EQ(q["measured"]["ATPD=1 (closed)"], "\r\n[ATPD] ERROR:3\r\n\n# ");
  EXPECT_EQ(q["measured"]["ATPT=4,1:abcd"], "\r\n[ATPT] ERROR:3,1\r\n\n# ");
  const auto& j = all["CERT-096"];
  EXPECT_EQ(j["verdict"], "pass") << j.dump();
  EXPECT_EQ(j["measured"]["datagram"].get<std::string>().rfind("iotw-cert-096 ", 0), 0u) << j.dump();
  EXPECT_EQ(j["measured"]["[ATPR]"].get<std::string>().rfind("\r\n[ATPR] OK,27,1:iotw-reply ", 0), 0u) << j.dump();
}

TEST(CertifyAt, ARealtekModuleEndingLinesWithLfAloneFailsCert095To097) {
  auto all = certify_at("rtl8710", "at-realtek", {"CERT-095", "CERT-096", "CERT-097"}, "at_wrong_terminator", 1);
  const auto& t = all["CERT-095"];
  EXPECT_EQ(t["verdict"], "fail") << t.dump();
  EXPECT_EQ(t["measured"]["ATSE=0"], "ATSE=0\n[ATSE] OK\n\n# ") << t.dump();
  EXPECT_EQ(t["reason"].get<std::string>().rfind("ATSE=0 answered ", 0), 0u) << t.dump();
  EXPECT_EQ(all["CERT-096"]["verdict"], "fail") << all["CERT-096"].dump();
  EXPECT_EQ(all["CERT-097"]["verdict"], "fail") << all["CERT-097"].dump();
}

}  // namespace
}  // namespace iotw::test
