#include "iotw/certify/certify_run.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <pugixml.hpp>
#include <sodium.h>
#include <toml++/toml.h>

#include "iotw/certify/catalogue.hpp"
#include "iotw/certify/dut_spec.hpp"
#include "iotw/certify/engine.hpp"
#include "iotw/certify/frame_link.hpp"
#include "iotw/certify/manifest.hpp"
#include "iotw/certify/reference_fleet.hpp"
#include "iotw/cli/command_line.hpp"
#include "iotw/exit_code.hpp"
#include "iotw/harness/xml_escape.hpp"
#include "iotw/support/hex.hpp"
#include "iotw/support/process.hpp"

namespace iotw::certify {
namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using namespace std::chrono_literals;

namespace {

constexpr auto kAttach = 10s;  // a DUT that reaches the node registers within this (Hello retry 1 s, link timeout 5 s)

std::string utc_stamp(std::chrono::system_clock::time_point t, const char* format) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

void write_file(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw std::runtime_error("cannot write " + file.string());
}

/// The node key: --node-key FILE (32 raw bytes; created with a fresh random seed, mode 0600, when absent), or a
/// fresh one for this run in a private temporary folder (then no DUT can be provisioned with it).
std::array<std::uint8_t, 32> node_key(const fs::path& file) {
  std::array<std::uint8_t, 32> seed{};
  if (fs::exists(file)) {
    std::ifstream in(file, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.size() != 32)
      throw std::invalid_argument("--node-key " + file.string() + ": a trust-node key file is 32 raw bytes, this one is " +
                                  std::to_string(bytes.size()));
    std::memcpy(seed.data(), bytes.data(), 32);
    return seed;
  }
  randombytes_buf(seed.data(), seed.size());
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  const bool ok = fd >= 0 && ::write(fd, seed.data(), seed.size()) == 32;
  if (fd >= 0) ::close(fd);
  if (!ok) throw std::runtime_error("cannot write the node key " + file.string() + ": " + std::strerror(errno));
  return seed;
}

/// The node side of a run without a node (AT profiles): nothing to poll (poll skips a negative fd), nothing sent.
class NullLink : public FrameLink {
 public:
  int fd() const override { return -1; }
  std::vector<Received> receive() override { return {}; }
  void send(const Bytes&) override {}
  void send_raw(const Bytes&) override {}
  Bytes wire(const Bytes& b) const override { return b; }
  bool stream() const override { return true; }
};

struct TestRecord {
  const CertTest* test;
  Outcome outcome;
  double duration_ms = 0;
};

std::string junit(const std::vector<TestRecord>& records, const std::string& profile, const json& config, double total_s,
                  const std::string& started) {
  using harness::xml_text;
  char host[256] = "localhost";
  ::gethostname(host, sizeof host - 1);
  std::size_t failures = 0, skipped = 0;
  pugi::xml_document doc;
  auto decl = doc.append_child(pugi::node_declaration);
  decl.append_attribute("version") = "1.0";
  decl.append_attribute("encoding") = "UTF-8";
  auto root = doc.append_child("testsuites");
  root.append_attribute("name") = "iotw certify";
  auto suite = root.append_child("testsuite");
  suite.append_attribute("name") = ("certify." + profile).c_str();
  auto props = suite.append_child("properties");
  for (const char* k : {"profile", "dut", "seed", "iotw_version", "git_revision", "command"}) {
    auto p = props.append_child("property");
    p.append_attribute("name") = k;
    const auto& v = config.at(k);
    p.append_attribute("value") = xml_text(v.is_string() ? v.get<std::string>() : v.dump()).c_str();
  }
  for (const TestRecord& r : records) {
    auto tc = suite.append_child("testcase");
    tc.append_attribute("name") = r.test->id.c_str();
    tc.append_attribute("classname") = ("certify." + profile).c_str();
    tc.append_attribute("time") = fmt::format("{:.3f}", r.duration_ms / 1000).c_str();
    if (r.outcome.verdict == Verdict::Fail) {
      ++failures;
      tc.append_child("failure").append_attribute("message") = xml_text(r.test->id + ": " + r.outcome.reason).c_str();
    } else if (r.outcome.verdict == Verdict::NotRun) {
      ++skipped;
      tc.append_child("skipped").append_attribute("message") = xml_text(r.outcome.reason).c_str();
    }
    tc.append_child("system-out").text() =
        xml_text(fmt::format("{}\nrule: {}\nmeasured: {}\nlog: logs/{}.log\n", r.test->title, r.test->rule,
                             r.outcome.measured.dump(), r.test->id)).c_str();
  }
  for (pugi::xml_node n : {root, suite}) {
    pugi::xml_attribute after = n.attribute("name");
    after = n.insert_attribute_after("tests", after);
    after.set_value(records.size());
    after = n.insert_attribute_after("failures", after);
    after.set_value(failures);
    after = n.insert_attribute_after("errors", after);
    after.set_value(0);
    after = n.insert_attribute_after("skipped", after);
    after.set_value(skipped);
    after = n.insert_attribute_after("time", after);
    after.set_value(fmt::format("{:.3f}", total_s).c_str());
    after = n.insert_attribute_after("timestamp", after);
    after.set_value(started.c_str());
  }
  suite.insert_attribute_after("hostname", suite.attribute("timestamp")).set_value(host);
  std::ostringstream s;
  doc.save(s, "  ");
  return s.str();
}

std::string html(const json& report) {
  using harness::xml_escape;
  std::string rows;
  for (const auto& t : report["tests"]) {
    const std::string v = t["verdict"];
    const char* colour = v == "pass" ? "#d4f4d4" : v == "fail" ? "#f8d0d0" : "#eeeeee";
    rows += fmt::format(
        "<tr style=\"background:{}\"><td>{}</td><td>{}</td><td><b>{}</b></td><td>{}</td><td>{}</td><td>{}</td>"
        "<td><a href=\"{}\">log</a></td></tr>\n",
        colour, xml_escape(t["id"].get<std::string>()), xml_escape(t["title"].get<std::string>()), v,
        t["duration_ms"].dump(), xml_escape(t["rule"].get<std::string>()),
        xml_escape(t["reason"].get<std::string>() + (t["measured"].empty() ? "" : " " + t["measured"].dump())),
        xml_escape(t["log"].get<std::string>()));
  }
  return fmt::format(
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>iotw certify {profile}: {verdict}</title>"
      "<style>body{{font-family:sans-serif}} table{{border-collapse:collapse}} td,th{{border:1px solid #999;padding:3px "
      "6px;vertical-align:top;font-size:13px}}</style></head><body>\n"
      "<h1>Certification, profile {profile}: {verdict}</h1>\n<p>DUT {dut}: {model} {name}, public key <code>{pk}</code>. "
      "Seed {seed}. {summary}. {complete} {signed}</p>\n"
      "<table><tr><th>id</th><th>title</th><th>verdict</th><th>ms</th><th>rule</th><th>reason / measured</th><th></th></tr>\n"
      "{rows}</table></body></html>\n",
      fmt::arg("profile", xml_escape(report["profile"].get<std::string>())),
      fmt::arg("verdict", report["verdict"].get<std::string>()),
      fmt::arg("dut", xml_escape(report["dut"]["spec"].get<std::string>())),
      fmt::arg("model", xml_escape(report["dut"].value("model", std::string("?")))),
      fmt::arg("name", xml_escape(report["dut"].value("name", std::string("")))),
      fmt::arg("pk", report["dut"].value("public_key", std::string("unknown"))), fmt::arg("seed", report["seed"].dump()),
      fmt::arg("summary", fmt::format("{} passed, {} failed, {} not run", report["summary"]["pass"].dump(),
                                      report["summary"]["fail"].dump(), report["summary"]["not_run"].dump())),
      fmt::arg("complete", report["complete"].get<bool>() ? "Complete." : "INCOMPLETE: some tests could not run."),
      fmt::arg("signed", report["signed"].get<bool>() ? "Signed (manifest.sig)." : "NOT SIGNED (no certifier key)."),
      fmt::arg("rows", rows));
}

}  // namespace

int list_tests(const std::string& profile, std::ostream& out, std::ostream& err) {
  const auto& ps = profiles();
  if (std::find(ps.begin(), ps.end(), profile) == ps.end()) {
    err << "error: --profile: unknown profile '" << profile << "'; allowed: soc, at-esp, at-realtek, dps, bulb\n";
    return kExitUsage;
  }
  const auto tests = tests_of(profile);
  if (tests.empty()) out << "profile " << profile << ": no test of this profile is built yet (docs/certification.md)\n";
  for (const CertTest* t : tests) out << fmt::format("{}  {:<36}  {}\n", t->id, t->title, t->rule);
  return kExitPass;
}

int run_certification(const CertifyOptions& o, std::ostream& out, std::ostream& err) {
  const auto started_at = std::chrono::system_clock::now();
  const auto t_start = std::chrono::steady_clock::now();
  const auto& ps = profiles();
  if (std::find(ps.begin(), ps.end(), o.profile) == ps.end()) {
    err << "error: --profile: unknown profile '" << o.profile << "'; allowed: soc, at-esp, at-realtek, dps, bulb\n";
    return kExitUsage;
  }
  // soc, dps, bulb: the firmware on the wire, judged with the reference trust node (dps and bulb add their Modbus,
  // LAN, power and usage tests); at-esp, at-realtek: the module's AT command set on its UART alone (no node).
  const bool needs_node = o.profile == "soc" || o.profile == "dps" || o.profile == "bulb";
  std::vector<const CertTest*> tests = tests_of(o.profile);
  if (!o.only.empty()) {
    std::set<std::string> want(o.only.begin(), o.only.end());
    std::vector<const CertTest*> chosen;
    for (const CertTest* t : tests)
      if (want.erase(t->id)) chosen.push_back(t);
    if (!want.empty()) {
      err << "error: --only: " << *want.begin() << " is not a test of profile " << o.profile << " (see --list)\n";
      return kExitUsage;
    }
    tests = chosen;
  }
  // Tests that need the reference devices run first, before any injected round id reaches the DUT (a witness
  // answers only round ids above every one it answered, so after the injected ids it would refuse the node's).
  std::stable_sort(tests.begin(), tests.end(), [](const CertTest* a, const CertTest* b) {
    const auto key = [](const CertTest* t) { return t->fleet_order > 0 ? t->fleet_order : INT_MAX; };
    return key(a) < key(b);
  });
  const bool fleet_needed =
      needs_node && std::any_of(tests.begin(), tests.end(), [](const CertTest* t) { return t->fleet_order > 0; });
  if (!(o.fuzz_s > 0)) {
    err << "error: --fuzz-s must be above 0\n";
    return kExitUsage;
  }
  // The device sides of the firmware profiles (the supply: soc, dps, bulb; Modbus: dps; LAN: bulb): given to a
  // profile that has no test for them, a mistake.
  struct Side {
    bool given;
    const char* option;
    std::vector<std::string> profiles;
  };
  for (const Side& side : {Side{!o.modbus.empty(), "--modbus", {"dps"}}, Side{!o.lan.empty(), "--lan", {"bulb"}},
                           Side{!o.power_cmd.empty(), "--power-cmd", {"soc", "dps", "bulb"}}})
    if (side.given && std::find(side.profiles.begin(), side.profiles.end(), o.profile) == side.profiles.end()) {
      const std::size_t n = side.profiles.size();
      std::string names = side.profiles.back();  // "dps", "dps and bulb", "soc, dps and bulb"
      if (n > 1)
        names = fmt::format("{} and {}", fmt::join(side.profiles.begin(), side.profiles.end() - 1, ", "), names);
      err << "error: " << side.option << " applies to the " << names << " profile" << (n > 1 ? "s" : "")
          << ", not to " << o.profile << '\n';
      return kExitUsage;
    }
  if (!(o.usage_period_s > 0)) {
    err << "error: --usage-period-s must be above 0\n";
    return kExitUsage;
  }
  DutSpec spec;
  std::optional<ModbusTarget> modbus;
  std::optional<LanTarget> lan;
  try {
    spec = parse_dut_spec(o.dut);
    if (!o.modbus.empty()) modbus = parse_modbus_target(o.modbus);
    if (!o.lan.empty()) lan = parse_lan_target(o.lan);
  } catch (const std::exception& e) {
    err << "error: " << e.what() << '\n';
    return kExitUsage;
  }
  if (!needs_node && spec.kind != DutSpec::Kind::Serial) {
    err << "error: --profile " << o.profile << " talks AT on the module's UART: --dut must be serial:PATH\n";
    return kExitUsage;
  }
  if (sodium_init() < 0) {
    err << "error: libsodium init failed\n";
    return kExitCouldNotRun;
  }
  std::optional<CertifierSeed> certifier;
  if (!o.key.empty()) {
    try {
      certifier = read_certifier_key(o.key);
    } catch (const std::exception& e) {
      err << "error: --key: " << e.what() << '\n';
      return kExitUsage;
    }
  }
  const std::uint64_t seed = o.seed ? *o.seed : (std::uint64_t{std::random_device{}()} << 32 | std::random_device{}());
  const fs::path dir = o.out.empty() ? fs::path("runs") / fmt::format("certify-{}-{}-{}", o.profile,
                                                                     utc_stamp(started_at, "%Y%m%d-%H%M%S"), seed)
                                     : o.out;
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
    err << "error: --out " << dir.string() << " exists and is not empty\n";
    return kExitUsage;
  }
  const fs::path node_exe = o.bin_dir / "iotw-trust-node", emu_exe = o.bin_dir / "iotw-emu";
  if (::access(node_exe.c_str(), X_OK) != 0) {
    err << "error: iotw-trust-node not found next to iotw (looked for " << node_exe.string() << ")\n";
    return kExitCouldNotRun;
  }
  if (fleet_needed && ::access(emu_exe.c_str(), X_OK) != 0) {
    err << "error: iotw-emu (the reference devices) not found next to iotw (looked for " << emu_exe.string() << ")\n";
    return kExitCouldNotRun;
  }

  // The node key: given, or fresh for this run (in a private folder outside the report).
  fs::path key_file = o.node_key, temp_dir;
  std::array<std::uint8_t, 32> node_seed{};
  try {
    if (key_file.empty()) {
      char tmpl[] = "/tmp/iotw-certify-XXXXXX";
      if (!::mkdtemp(tmpl)) throw std::runtime_error("cannot make a temporary folder");
      temp_dir = tmpl;
      key_file = temp_dir / "node.key";
    }
    node_seed = node_key(key_file);
  } catch (const std::invalid_argument& e) {
    err << "error: " << e.what() << '\n';
    return kExitUsage;
  } catch (const std::exception& e) {
    err << "error: " << e.what() << '\n';
    return kExitCouldNotRun;
  }
  struct Cleanup {
    fs::path d;
    ~Cleanup() {
      std::error_code e;
      if (!d.empty()) fs::remove_all(d, e);
    }
  } cleanup{temp_dir};
  std::uint8_t node_pk[32], node_sk[64];
  crypto_sign_seed_keypair(node_pk, node_sk, node_seed.data());
  sodium_memzero(node_sk, sizeof node_sk);

  const bool serial = spec.kind == DutSpec::Kind::Serial, udp = spec.kind == DutSpec::Kind::Udp;
  SerialDut dut;
  std::string dut_endpoint;
  try {
    if (serial) {
      dut = open_serial_dut(spec);
    } else {
      NetDut net = open_net_dut(spec);
      dut.link = std::move(net.link);
      dut.port = std::move(net.port);
      dut_endpoint = net.endpoint;
    }
  } catch (const DutOpenError& e) {
    err << "error: " << e.what() << '\n';
    return e.exit_code;
  }
  fs::create_directories(dir / "logs", ec);
  fs::create_directories(dir / "node", ec);
  if (ec) {
    err << "error: cannot create " << dir.string() << ": " << ec.message() << '\n';
    return kExitCouldNotRun;
  }
  const fs::path abs = fs::absolute(dir);
  std::unique_ptr<NodePty> pty;
  std::unique_ptr<ReferenceFleet> fleet;  // its PTY links now (the node's config names them); its pool later
  try {
    if (serial && needs_node) pty = open_node_pty();
    if (fleet_needed) fleet = std::make_unique<ReferenceFleet>();
  } catch (const std::exception& e) {
    err << "error: " << e.what() << '\n';
    return kExitCouldNotRun;
  }
  const fs::path port_file = abs / "node" / (udp ? "udp.port" : "tcp.port"), http_port_file = abs / "node" / "http.port";
  ProcessSupervisor children;
  std::unique_ptr<FrameLink> node_net;
  NullLink no_node;
  if (needs_node) {
  // The reference trust node: heartbeats every 500 ms (device_timeout_ms / 5), one witness per round; with the
  // reference devices (a fleet test selected) 3 witnesses per round, strict, and its HTTP API for the ledger.
  toml::table node_cfg{
      {"node", toml::table{{"db", (abs / "node" / "ledger.sqlite").string()},
                           {"seed", static_cast<std::int64_t>(seed & 0x7fffffffffffffffULL)},
                           {"events", (abs / "node" / "events.jsonl").string()},
                           {"key", fs::absolute(key_file).string()}}},
      {"consensus", toml::table{{"witnesses", fleet ? ReferenceFleet::kDevices : 1}, {"device_timeout_ms", 2500}}},
  };
  if (fleet) node_cfg.insert("http", toml::table{{"listen", "127.0.0.1:0"}, {"port_file", http_port_file.string()}});
  // The DUT's link reaches the node the way the DUT's kind does: a PTY as [[serial]], or [udp] / [tcp] on loopback;
  // each reference device's link is one more [[serial]].
  toml::array serial_links;
  if (serial) serial_links.push_back(toml::table{{"path", pty->slave_path}, {"baud", 115200}});
  else node_cfg.insert(udp ? "udp" : "tcp", toml::table{{"listen", "127.0.0.1:0"}, {"port_file", port_file.string()}});
  if (fleet)
    for (const std::string& path : fleet->node_paths()) serial_links.push_back(toml::table{{"path", path}, {"baud", 115200}});
  if (!serial_links.empty()) node_cfg.insert("serial", std::move(serial_links));
  {
    std::ostringstream s;
    s << "# The reference trust node of this certification run (iotw certify).\n" << node_cfg << '\n';
    write_file(dir / "trust_node.toml", s.str());
  }
  try {
    children.start("trust_node", node_exe, {"--config", (abs / "trust_node.toml").string()},
                   {.stdout_file = abs / "node" / "trust_node.log", .stderr_file = abs / "node" / "trust_node.log"});
  } catch (const std::exception& e) {
    err << "error: the trust node would not start: " << e.what() << '\n';
    return kExitCouldNotRun;
  }

  if (!serial) {  // the node's port, once it is listening
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    std::string text;
    while (text.empty() && std::chrono::steady_clock::now() < deadline && !children.empty()) {
      std::ifstream in(port_file);
      std::getline(in, text);
      if (text.empty()) std::this_thread::sleep_for(20ms);
    }
    try {
      node_net = connect_node(udp, static_cast<std::uint16_t>(std::stoi(text)));
    } catch (const std::exception& e) {
      err << "error: the trust node's " << (udp ? "UDP" : "TCP") << " port is not there (" << e.what() << "; see "
          << (dir / "node" / "trust_node.log").string() << ")\n";
      return kExitCouldNotRun;
    }
  }
  }  // needs_node
  out << "run folder: " << dir.string() << '\n' << "dut: " << spec.canonical() << '\n' << "seed: " << seed << '\n';
  if (needs_node)
    out << "trust node public key: " << to_hex(node_pk, 32)
        << (o.node_key.empty() ? " (fresh for this run: light-verification tests need --node-key)" : "") << '\n';
  if (!serial) out << "dut must send to: " << dut_endpoint << '\n';
  out << std::flush;

  FrameLink& node_link = !needs_node ? static_cast<FrameLink&>(no_node) : serial ? *pty->master : *node_net;
  Engine engine(std::move(dut.link), node_link, o.reset_cmd, dut.esp_reset);
  engine.set_power_cmd(o.power_cmd);
  std::ofstream setup_log(dir / "logs" / "setup.log");
  engine.set_log(&setup_log);
  engine.note("certifier started; trust node on " + (!needs_node ? std::string("(none: AT profile)") : serial ? pty->slave_path : std::string(udp ? "its [udp] port" : "its [tcp] port")) +
              "; waiting for the DUT to register");
  bool attached = !needs_node;  // an AT module registers with nobody
  std::string dead_reason;
  try {
    if (needs_node) attached = engine.wait_attached(kAttach);
  } catch (const std::exception& e) {
    dead_reason = e.what();
  }
  if (auto ended = children.reap_exited()) {
    err << "error: the trust node exited with code " << ended->code << " (see " << (dir / "node" / "trust_node.log").string()
        << ")\n";
    return kExitCouldNotRun;
  }
  if (!attached && dead_reason.empty())
    dead_reason = engine.any_dut_frame()
                      ? fmt::format("the DUT did not register with the trust node within {} s (logs/setup.log)",
                                    kAttach.count())
                      : no_response(kAttach);
  json dut_json = {{"spec", spec.canonical()}, {"port", dut.port}};
  if (engine.hello()) {
    const auto& h = *engine.hello();
    dut_json["public_key"] = to_hex(h.pubkey, 32);
    dut_json["model"] = h.model;
    dut_json["name"] = h.name;
    dut_json["fw_version"] = h.fw_version;
    dut_json["boot_count"] = h.boot_count;
    dut_json["reset_reason"] = h.reset_reason;
  }
  if (attached && needs_node) out << "dut registered: " << dut_json.value("model", "") << " " << dut_json.value("name", "") << " "
                    << dut_json.value("public_key", "") << '\n';
  else if (!dead_reason.empty()) out << "dut: " << dead_reason << '\n';  // an AT profile has no registration

  // The reference devices, once the DUT is registered: their pool runs only while the fleet tests run.
  std::string fleet_error;
  if (fleet && dead_reason.empty()) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    std::string text;
    try {
      while (text.empty() && std::chrono::steady_clock::now() < deadline) {
        std::ifstream in(http_port_file);
        std::getline(in, text);
        if (text.empty()) engine.pump_for(20ms);
      }
      engine.note("starting the reference devices (fleet/)");
      fleet_error = text.empty() ? "the trust node's HTTP port is not there (node/trust_node.log)"
                                 : fleet->start(emu_exe, abs / "fleet", to_hex(node_pk, 32), std::stoi(text), seed);
      if (!fleet_error.empty()) engine.note(fleet_error);
    } catch (const std::exception& e) {
      dead_reason = std::string("the run broke off: ") + e.what();
    }
  }

  RunContext ctx{.engine = engine, .rng = std::mt19937_64(seed), .node_seed = node_seed, .fuzz_s = o.fuzz_s,
                 .wifi_ssid = o.wifi_ssid, .wifi_password = o.wifi_password, .modbus = modbus, .lan = lan,
                 .usage_period = std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(o.usage_period_s * 1000)))};
  ctx.fleet = fleet.get();
  std::vector<TestRecord> records;
  for (const CertTest* t : tests) {
    if (fleet && t->fleet_order == 0 && fleet->running()) {  // the last fleet test is done
      // Let the node finish the block of a transaction still pending (up to 3 s), so that no real Assignment or
      // WitnessRequest reaches the DUT once the reference devices are gone; then stop them.
      try {
        const auto until = std::chrono::steady_clock::now() + 3s;
        while (fleet->pending_txs().value_or(0) > 0 && std::chrono::steady_clock::now() < until) engine.pump_for(100ms);
      } catch (const std::exception& e) {
        dead_reason = std::string("the run broke off: ") + e.what();
      }
      engine.note("stopping the reference devices");
      fleet->stop();
    }
    std::ofstream log(dir / "logs" / (t->id + ".log"));
    log << "# " << t->id << " " << t->title << "\n# rule: " << t->rule << '\n';
    engine.set_log(&log);
    const auto t0 = std::chrono::steady_clock::now();
    Outcome outcome;
    if (!dead_reason.empty()) {
      outcome = {Verdict::Fail, dead_reason, {}};
    } else {
      try {
        if (needs_node && !engine.attached() && !engine.wait_attached(kAttach)) {
          const bool silent = engine.now_s() - engine.last_dut_frame_s() >= static_cast<double>(kAttach.count());
          outcome = {Verdict::Fail,
                     silent ? no_response(kAttach)
                            : fmt::format("the DUT did not register with the trust node again within {} s", kAttach.count()),
                     {}};
          if (silent) dead_reason = outcome.reason;  // the rest fail at once: the run ends
        } else {
          if (engine.hello()) {
            std::memcpy(ctx.dut_pubkey.data(), engine.hello()->pubkey, 32);
            ctx.boot_count = engine.hello()->boot_count;
          }
          outcome = t->run(ctx);
        }
      } catch (const std::exception& e) {
        outcome = {Verdict::Fail, std::string("the run broke off: ") + e.what(), {}};
        dead_reason = outcome.reason;
      }
    }
    engine.forget_withheld();
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    log << "# verdict: " << verdict_name(outcome.verdict) << (outcome.reason.empty() ? "" : ": " + outcome.reason) << '\n';
    engine.set_log(&setup_log);
    out << fmt::format("{}  {:<7}  {:<36} {:>7.0f} ms{}\n", t->id, verdict_name(outcome.verdict), t->title, ms,
                       outcome.reason.empty() ? "" : "  " + outcome.reason)
        << std::flush;
    records.push_back({t, std::move(outcome), ms});
  }
  engine.set_log(nullptr);
  setup_log.close();
  if (fleet) fleet->stop();
  children.stop_all(2s);
  // Fleet tests ran first; the report lists every test in id order.
  std::stable_sort(records.begin(), records.end(),
                   [](const TestRecord& a, const TestRecord& b) { return a.test->id < b.test->id; });

  std::size_t n_pass = 0, n_fail = 0, n_not_run = 0;
  for (const auto& r : records)
    (r.outcome.verdict == Verdict::Pass ? n_pass : r.outcome.verdict == Verdict::Fail ? n_fail : n_not_run)++;
  const double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  json config = {{"profile", o.profile},
                 {"dut", spec.canonical()},
                 {"seed", seed},
                 {"fuzz_s", o.fuzz_s},
                 {"reset_cmd", o.reset_cmd},
                 {"power_cmd", o.power_cmd},
                 {"modbus", modbus ? json(modbus->canonical()) : json(nullptr)},
                 {"lan", lan ? json(lan->canonical()) : json(nullptr)},
                 {"usage_period_s", o.usage_period_s},
                 {"only", o.only},
                 {"node_key_given", !o.node_key.empty()},
                 {"node_pubkey", to_hex(node_pk, 32)},
                 {"command", o.command_line},
                 {"tool", "iotw"},
                 {"iotw_version", std::string(cli::version())},
                 {"git_revision", std::string(cli::git_revision())}};
  json report = {{"format", "iotw-cert-report/1"},
                 {"profile", o.profile},
                 {"dut", dut_json},
                 {"seed", seed},
                 {"started", utc_stamp(started_at, "%Y-%m-%dT%H:%M:%SZ")},
                 {"duration_ms", std::round(total_s * 1000)},
                 {"verdict", n_fail ? "fail" : "pass"},
                 {"complete", n_not_run == 0},
                 {"signed", certifier.has_value()},
                 {"summary", {{"pass", n_pass}, {"fail", n_fail}, {"not_run", n_not_run}}},
                 {"tests", json::array()}};
  if (!certifier) report["not_signed"] = "no certifier key (--key): this report carries no manifest and proves nothing";
  for (const auto& r : records)
    report["tests"].push_back({{"id", r.test->id},
                               {"title", r.test->title},
                               {"verdict", verdict_name(r.outcome.verdict)},
                               {"duration_ms", std::round(r.duration_ms)},
                               {"measured", r.outcome.measured},
                               {"rule", r.test->rule},
                               {"reason", r.outcome.reason},
                               {"log", "logs/" + r.test->id + ".log"}});
  try {
    write_file(dir / "report.json", report.dump(2) + "\n");
    write_file(dir / "config.json", config.dump(2) + "\n");
    write_file(dir / "dut.json", dut_json.dump(2) + "\n");
    write_file(dir / "junit.xml", junit(records, o.profile, config, total_s, utc_stamp(started_at, "%Y-%m-%dT%H:%M:%S")));
    write_file(dir / "report.html", html(report));
    if (certifier) write_manifest(dir, *certifier);
  } catch (const std::exception& e) {
    err << "error: " << e.what() << '\n';
    return kExitCouldNotRun;
  }
  out << fmt::format("{} passed, {} failed, {} not run in {:.1f} s: {}\n", n_pass, n_fail, n_not_run, total_s,
                     n_fail ? "FAIL" : "PASS");
  if (n_not_run) out << "certification incomplete: " << n_not_run << " test(s) could not run (see report.json)\n";
  if (certifier) out << "report signed by " << to_hex(public_key_of(*certifier)) << " (iotw certify verify " << dir.string() << ")\n";
  else out << "report NOT signed: no --key given\n";
  return n_fail ? kExitFail : kExitPass;
}

}  // namespace iotw::certify
