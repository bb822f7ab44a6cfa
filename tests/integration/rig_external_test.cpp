// External devices in a rig (docs/rig-format.md "External devices"): an emulated fleet plus three devices the
// harness does not start: a standalone reference device on its own PTY (`iotw-emu esp8266 --pty`, external =
// "serial:PATH"), and two AT-mode appliances of a separate iotw-emu pool pointed at the addresses the run wrote to
// external.json (external = "udp" and "tcp"). Each is listed, attaches, is relayed through the fault proxies
// (counters and links.pcapng), takes the link faults of its kind and mines or witnesses. Also: a device that never attaches ends the run with a clear
// error, and `iotw rig check` refuses a bad spec and a reboot of an external device with file:line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "emu_child.hpp"
#include "iotw_process.hpp"
#include "tshark_fields.hpp"

namespace iotw::test {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;
using ::testing::HasSubstr;

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p);
  out << text;
}

TEST(RigExternal, SerialUdpAndTcpDevicesJoinAnEmulatedFleetThroughTheProxiesAndTheCapture) {
  const fs::path dir = scratch_dir(), run = dir / "run";
  fs::create_directories(dir / "standalone");
  fs::create_directories(dir / "pool");
  // The serial device: a standalone reference device on a PTY of its own, started before the rig.
  EmuChild serial_dev({"esp8266", "--pty", "--name", "ext-serial", "--nvs-dir", (dir / "standalone" / "nvs").string()},
                      1, dir / "standalone");
  ASSERT_EQ(serial_dev.lines.size(), 1u) << "iotw-emu --pty prints its PTY path first";
  const std::string pty = serial_dev.lines[0];
  ASSERT_EQ(pty.rfind("/dev/pts/", 0), 0u) << pty;

  write_file(dir / "external.toml", R"([rig]
name = "external"
deadline_s = 150
[trust_node]
block_interval_ms = 200
[[devices]]
name_prefix = "esp"
model = "esp32"
count = 3
[[devices]]
name = "ext-serial"
external = "serial:)" + pty + R"("
[[devices]]
name = "ext-udp"
model = "esp8266"
external = "udp"
attach_timeout_s = 60
[[devices]]
name = "ext-tcp"
external = "tcp"
attach_timeout_s = 60
[target]
blocks = 40
[pass]
ledger_valid = true
blocks_finalized_min = 40
[[steps]]
name = "all attached"
wait = "devices_attached >= 6"
deadline_s = 90
[[steps]]
name = "drop frames on the serial and tcp devices"
fault = "drop_frames"
rate = 0.3
duration_s = 2
devices = ["ext-serial", "ext-tcp"]
recover_within_s = 30
[[steps]]
name = "lose datagrams of the udp device"
fault = "udp_loss"
rate = 0.5
duration_s = 2
devices = ["ext-udp"]
recover_within_s = 30
)");

  // The UDP and TCP devices: an iotw-emu pool of our own, pointed at what the run wrote to external.json.
  std::unique_ptr<EmuChild> pool;
  json external;
  const IotwResult r = run_iotw({"rig", "run", (dir / "external.toml").string(), "--out", run.string(), "--seed", "5"},
                                dir, [&](int) {
                                  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
                                  // renamed into place whole: once it exists it can be read
                                  while (!fs::exists(run / "external.json") && std::chrono::steady_clock::now() < give_up)
                                    std::this_thread::sleep_for(std::chrono::milliseconds(20));
                                  external = json::parse(slurp(run / "external.json"), nullptr, false);
                                  std::map<std::string, std::string> at;
                                  if (external.is_object())
                                    for (const json& d : external["devices"])
                                      if (d.contains("address")) at[d["name"]] = d["address"];
                                  write_file(dir / "pool" / "pool.toml", R"(events = "pool.events.jsonl"
[[device]]
name = "ext-udp"
model = "esp8266"
mode = "at"
trust_node_udp = ")" + at["ext-udp"] + R"("
nvs_dir = "nvs/ext-udp"
[[device]]
name = "ext-tcp"
model = "esp32"
mode = "at"
trust_node_tcp = ")" + at["ext-tcp"] + R"("
nvs_dir = "nvs/ext-tcp"
)");
                                  pool = std::make_unique<EmuChild>(
                                      std::vector<std::string>{"--config", (dir / "pool" / "pool.toml").string()}, 0,
                                      dir / "pool");
                                });
  pool.reset();
  ASSERT_EQ(r.code, 0) << r.out << r.err;

  // external.json: where each device had to be.
  ASSERT_TRUE(external.is_object()) << slurp(run / "external.json");
  ASSERT_EQ(external["devices"].size(), 3u);
  EXPECT_EQ(external["devices"][0], (json{{"name", "ext-serial"}, {"external", "serial:" + pty}, {"kind", "serial"},
                                          {"path", pty}, {"attach_timeout_s", 30.0}}));
  for (int i : {1, 2}) {
    const std::string address = external["devices"][i]["address"];
    EXPECT_EQ(address.rfind("127.0.0.1:", 0), 0u) << address;
    EXPECT_NE(address, "127.0.0.1:0") << "the bound port, not the one asked for";
  }
  EXPECT_THAT(r.out, HasSubstr("external device ext-serial: relayed on " + pty));
  EXPECT_THAT(r.out, HasSubstr("external device ext-udp: must send UDP to " +
                               external["devices"][1]["address"].get<std::string>()));
  EXPECT_THAT(r.out, HasSubstr("external device ext-tcp: must connect over TCP to " +
                               external["devices"][2]["address"].get<std::string>()));

  const json report = json::parse(slurp(run / "report.json"));
  EXPECT_EQ(report["pass"], true) << report.dump(1);
  EXPECT_EQ(report["blacklisted"].size(), 0u);
  std::map<std::string, json> listed;
  for (const json& d : report["devices"]) listed[d["name"]] = d;
  ASSERT_EQ(listed.size(), 6u);
  EXPECT_EQ(listed["ext-serial"].value("external", ""), "serial:" + pty);
  EXPECT_EQ(listed["ext-udp"].value("external", ""), "udp");
  EXPECT_EQ(listed["ext-udp"]["model"], "esp8266");
  EXPECT_EQ(listed["ext-tcp"].value("external", ""), "tcp");
  EXPECT_EQ(listed["ext-tcp"]["model"], "external");
  EXPECT_FALSE(listed["esp-01"].contains("external"));

  // Relayed: each external link carried traffic both ways through its proxy, and the link faults acted on it.
  std::set<std::string> relayed;
  for (const json& l : report["harness"]["links"]) {
    if (!l.contains("external")) continue;
    const bool udp = l.value("link", "") == "udp";
    const std::string unit = udp ? "datagrams" : "bytes";
    EXPECT_GT(l["device_to_node"][unit].get<std::uint64_t>(), 0u) << l.dump();
    EXPECT_GT(l["node_to_device"][unit].get<std::uint64_t>(), 0u) << l.dump();
    EXPECT_GT(l["faults"][udp ? "lost_datagrams" : "dropped_frames"].get<std::uint64_t>(), 0u) << l.dump();
    relayed.insert(l["device"]);
  }
  EXPECT_EQ(relayed, (std::set<std::string>{"ext-serial", "ext-udp", "ext-tcp"}));
  for (const json& c : report["step_checks"]) EXPECT_EQ(c["pass"], true) << c.dump();

  // Attached (the harness saw it), registered on the proxied link, and working as a miner or a witness.
  std::set<std::string> attached, worked;
  std::map<std::string, std::string> registered_on;
  for (const std::string& line : lines_of(run / "events.jsonl")) {
    const json e = json::parse(line);
    const json& f = e["fields"];
    if (e["kind"] == "external_attached") attached.insert(f["device"]);
    if (e["kind"] == "device_registered") registered_on[f["name"]] = f["link"];
    if (e["kind"] == "assignment_sent") worked.insert(f["miner_name"].get<std::string>());
    if (e["kind"] == "attestation") worked.insert(f["witness_name"].get<std::string>());
  }
  for (const char* d : {"ext-serial", "ext-udp", "ext-tcp"}) {
    EXPECT_TRUE(attached.count(d)) << d;
    EXPECT_TRUE(worked.count(d)) << d << " neither mined nor witnessed";
  }
  EXPECT_EQ(registered_on["ext-serial"].rfind("serial:/dev/pts/", 0), 0u) << "the trust node's PTY of the relay";
  EXPECT_NE(registered_on["ext-serial"], "serial:" + pty) << "not the device's own PTY: the harness relays it";
  EXPECT_EQ(registered_on["ext-tcp"].rfind("serial:/dev/pts/", 0), 0u)
      << registered_on["ext-tcp"] << ": a tcp device reaches the node on the relay's PTY";
  EXPECT_EQ(registered_on["ext-udp"].rfind("udp:127.0.0.1:", 0), 0u) << registered_on["ext-udp"];

  // Captured: links.pcapng has each external device's frames on its own interface, its Hello among them.
  const auto rows = tshark_fields(run / "links.pcapng", {"frame.interface_name", "protobuf.message.name",
                                                         "pbf.iotw.v1.Hello.name"});
  std::map<std::string, int> frames;
  std::set<std::string> hellos;
  for (const auto& row : rows) {
    ++frames[row[0]];
    if (envelope_member(row[1]) == "Hello") hellos.insert(row[0] + "=" + row[2]);
  }
  for (const char* d : {"ext-serial", "ext-udp", "ext-tcp"}) {
    EXPECT_GT(frames[d], 0) << d;
    EXPECT_TRUE(hellos.count(std::string(d) + "=" + d)) << d << ": its Hello travels on its own link";
  }
}

TEST(RigExternal, ARigOfExternalDevicesOnlyRunsWithoutAnEmulatorPool) {
  const fs::path dir = scratch_dir(), run = dir / "run";
  std::string rig = "[rig]\nname = \"only-external\"\n[trust_node]\nwitnesses = 2\n";
  std::vector<std::unique_ptr<EmuChild>> boards;
  for (int i = 1; i <= 4; ++i) {
    const std::string name = "board-" + std::to_string(i);
    fs::create_directories(dir / name);
    boards.push_back(std::make_unique<EmuChild>(
        std::vector<std::string>{"esp32", "--pty", "--name", name, "--nvs-dir", (dir / name / "nvs").string()}, 1,
        dir / name));
    ASSERT_EQ(boards.back()->lines.size(), 1u) << name;
    rig += "[[devices]]\nname = \"" + name + "\"\nexternal = \"serial:" + boards.back()->lines[0] + "\"\n";
  }
  write_file(dir / "only.toml", rig + "[target]\nblocks = 10\n[pass]\nledger_valid = true\nblocks_finalized_min = 10\n");
  const IotwResult r = run_iotw({"rig", "run", (dir / "only.toml").string(), "--out", run.string(), "--seed", "3"}, dir);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(json::parse(slurp(run / "report.json"))["pass"], true);
  std::set<std::string> started, worked;
  for (const std::string& line : lines_of(run / "events.jsonl")) {
    const json e = json::parse(line);
    if (e["kind"] == "process_started") started.insert(e["fields"]["name"].get<std::string>());
    if (e["kind"] == "assignment_sent") worked.insert(e["fields"]["miner_name"].get<std::string>());
    if (e["kind"] == "attestation") worked.insert(e["fields"]["witness_name"].get<std::string>());
  }
  EXPECT_EQ(started, (std::set<std::string>{"trust_node"})) << "no emulator pool for a rig without emulated devices";
  EXPECT_EQ(worked.size(), 4u) << "every board mined or witnessed";
}

TEST(RigExternal, ADeviceThatNeverAttachesEndsTheRunNamingItsAddress) {
  const fs::path dir = scratch_dir(), run = dir / "run";
  write_file(dir / "ghost.toml", R"([rig]
name = "ghost"
[[devices]]
count = 5
[[devices]]
name = "ghost"
external = "udp"
attach_timeout_s = 2
[pass]
ledger_valid = true
)");
  const IotwResult r = run_iotw({"rig", "run", (dir / "ghost.toml").string(), "--out", run.string()}, dir);
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  const json external = json::parse(slurp(run / "external.json"));
  const std::string address = external["devices"][0]["address"];
  EXPECT_THAT(r.err, HasSubstr("external device 'ghost' (udp) did not attach within 2 s (attach_timeout_s); it was "
                               "expected to send UDP to " + address + " and to announce the name 'ghost' in its Hello"));
  EXPECT_EQ(json::parse(slurp(run / "report.json"))["reason"], "error");
}

TEST(RigExternal, RigCheckRefusesABadSpecAndAResetOfAnExternalDeviceWithFileAndLine) {
  const fs::path dir = scratch_dir();
  const std::string head = "[rig]\nname = \"x\"\n[[devices]]\ncount = 5\n[[devices]]\nname = \"partner\"\n";
  write_file(dir / "bad_spec.toml", head + "external = \"serial:/dev/ttyUSB0,baud=fast\"\n[pass]\nledger_valid = true\n");
  IotwResult r = run_iotw({"rig", "check", (dir / "bad_spec.toml").string()}, dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("bad_spec.toml:7:12: 'external' in [[devices]]: baud must be a whole number in "
                               "300..4000000, got 'fast'"));
  write_file(dir / "reboot.toml", head + "external = \"tcp\"\n[pass]\nledger_valid = true\n[[steps]]\nfault = \"reboot\"\n"
                                         "devices = [\"partner\"]\n");
  r = run_iotw({"rig", "check", (dir / "reboot.toml").string()}, dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("reboot.toml:12:12: fault 'reboot' in [[steps]] #1: 'partner' is an external device"));
}

}  // namespace
}  // namespace iotw::test
