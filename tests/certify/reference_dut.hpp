// The reference DUT of the certification tests: one SoC-mode esp32, DPS chip or bulb (honest, or with a --mutant
// defect) in an iotw-emu pool with a control socket, so the certifier can reset it (`--reset-cmd`: a `reboot`
// request through socat, docs/emulators.md "Control channel"), and provisioned with a node key the test passes to
// `iotw certify --node-key`. The device's UART is one end of a socat PTY pair; the certifier opens the other end.
// A dps or bulb also reports usage every second and serves its chip's Modbus map on loopback TCP (`--modbus`; its
// VIN register is the supply: `--power-cmd` is a script that writes it with mbpoll), a bulb its Yeelight control
// and discovery on loopback (`--lan`). An esp32's `--power-cmd` sends the pool's `power` control request (its bench
// supply off, brownout, on) through socat.
#pragma once
#include <nlohmann/json.hpp>
#include <sodium.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "iotw/support/hex.hpp"
#include "iotw/support/process.hpp"

namespace iotw::test {

class ReferenceDut {
 public:
  /// Starts socat and the pool in `dir`; `behaviour` is a mutant name or "honest"; model esp32, dps or bulb.
  ReferenceDut(const std::filesystem::path& dir, const std::string& behaviour, const std::string& model = "esp32")
      : dir_(dir) {
    if (sodium_init() < 0) throw std::runtime_error("libsodium");
    std::array<std::uint8_t, 32> seed{}, pk{};
    std::array<std::uint8_t, 64> sk{};
    randombytes_buf(seed.data(), seed.size());
    crypto_sign_seed_keypair(pk.data(), sk.data(), seed.data());
    node_key = dir / "node.key";
    std::ofstream(node_key, std::ios::binary).write(reinterpret_cast<const char*>(seed.data()), 32);
    children_.start("socat", "socat",
                    {"pty,raw,echo=0,link=" + (dir / "dut-side").string(),
                     "pty,raw,echo=0,link=" + (dir / "certifier-side").string()},
                    {.stdout_file = dir / "socat.log", .stderr_file = dir / "socat.log"});
    wait_for_file(dir / "dut-side");
    wait_for_file(dir / "certifier-side");
    port = std::filesystem::read_symlink(dir / "certifier-side").string();
    const auto sock = dir / "emu.sock";
    const bool powered = model == "dps" || model == "bulb";
    {
      std::ofstream pool(dir / "pool.toml");
      pool << "events = \"" << (dir / "emu.events").string() << "\"\n"
           << "control = \"" << sock.string() << "\"\n"
           << "node_pubkey = \"" << to_hex(pk) << "\"\n"
           << "[[device]]\nname = \"dut-01\"\nmodel = \"" << model << "\"\n"
           << "link = \"" << std::filesystem::read_symlink(dir / "dut-side").string() << "\"\n"
           << "nvs_dir = \"" << (dir / "nvs").string() << "\"\n"
           << "behaviour = \"" << behaviour << "\"\n";
      if (powered) pool << "usage_period_ms = 1000\nmodbus_tcp = \"127.0.0.1:0\"\n";
      if (model == "bulb") pool << "yeelight = \"127.0.0.1:0\"\nyeelight_discovery = \"127.0.0.1:0\"\n";
    }
    children_.start("iotw-emu", IOTW_EMU_EXE, {"--config", (dir / "pool.toml").string()},
                    {.stdout_file = dir / "emu.log", .stderr_file = dir / "emu.log"});
    wait_for_file(sock);
    if (powered) {
      const std::string tcp = event_field("modbus_listening", "tcp");
      modbus = "tcp:" + tcp;
      std::ofstream(dir / "power.sh") << "#!/bin/sh\n# The supply of the emulated chip: its VIN register (0x0100) over Modbus TCP.\n"
                                      << "case \"$1\" in off) v=0;; on) v=2400;; brownout) v=400;; *) exit 2;; esac\n"
                                      << "exec mbpoll -m tcp -p " << tcp.substr(tcp.rfind(':') + 1)
                                      << " -0 -1 -r 256 127.0.0.1 \"$v\" >/dev/null\n";
    } else {
      // An esp32 on a bench supply: the pool's `power` control request switches it (docs/emulators.md).
      std::ofstream(dir / "power.sh") << "#!/bin/sh\n# The bench supply of the emulated esp32: the pool's power request.\n"
                                      << "case \"$1\" in off|on|brownout) ;; *) exit 2;; esac\n"
                                      << "echo \"{\\\"cmd\\\":\\\"power\\\",\\\"device\\\":\\\"dut-01\\\",\\\"state\\\":\\\"$1\\\"}\" | "
                                      << "socat - UNIX-CONNECT:" << sock.string() << " | grep -q '\"ok\":true'\n";
    }
    power_cmd = "sh " + (dir / "power.sh").string();
    if (model == "bulb")
      lan = event_field("yeelight_listening", "tcp") + ",discovery=" + event_field("yeelight_listening", "udp");
    reset_cmd = "echo '{\"cmd\":\"reboot\",\"device\":\"dut-01\"}' | socat - UNIX-CONNECT:" + sock.string();
  }
  ~ReferenceDut() { children_.stop_all(std::chrono::seconds(5)); }

  std::string port;                  ///< the PTY the certifier opens (/dev/pts/N)
  std::string reset_cmd;             ///< for --reset-cmd
  std::filesystem::path node_key;    ///< for --node-key (the device is provisioned with its public key)
  std::string modbus;                ///< dps, bulb: for --modbus (tcp:127.0.0.1:PORT)
  std::string power_cmd;             ///< for --power-cmd (esp32: the pool's power request; dps, bulb: VIN)
  std::string lan;                   ///< bulb: for --lan (127.0.0.1:PORT,discovery=127.0.0.1:PORT)

 private:
  /// fields.FIELD of the pool's first event of `kind` (emu.events), waiting for it (30 s hang guard only).
  std::string event_field(const std::string& kind, const std::string& field) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
      std::ifstream in(dir_ / "emu.events");
      for (std::string line; std::getline(in, line);) {
        const auto ev = nlohmann::json::parse(line, nullptr, false);
        if (!ev.is_discarded() && ev.value("kind", "") == kind) return ev["fields"][field].get<std::string>();
      }
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("no " + kind + " event in emu.events");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  void wait_for_file(const std::filesystem::path& p) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);  // hang guard only
    while (!std::filesystem::exists(p)) {
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error(p.string() + " never appeared");
      if (auto e = children_.reap_exited()) throw std::runtime_error(e->name + " exited early, code " + std::to_string(e->code));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  std::filesystem::path dir_;
  ProcessSupervisor children_;
};

}  // namespace iotw::test
