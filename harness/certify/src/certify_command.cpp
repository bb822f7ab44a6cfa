#include "iotw/certify/certify_command.hpp"

#include <nlohmann/json.hpp>

#include "iotw/certify/manifest.hpp"
#include "iotw/certify/serial_ports.hpp"
#include "iotw/exit_code.hpp"
#include "iotw/support/hex.hpp"

namespace iotw::certify {

CertifyCommand::CertifyCommand(CLI::App& app) {
  ports_ = app.add_subcommand("ports", "List the host's serial ports (libserialport): path, transport, USB VID:PID, "
                                       "serial number, manufacturer, description. PTYs are not listed");
  ports_->add_flag("--json", json_, "A JSON array instead of the table");
  certify_ = app.add_subcommand("certify", "Certification of a device under test (docs/certification.md)");
  certify_->require_subcommand(0, 1);
  certify_->add_option("--dut", run_.dut,
                       "The device under test: serial:PATH[,baud=N,parity=none|even|odd,flow=none|rtscts|xonxoff,"
                       "reset=none|esp] (a real port or a PTY /dev/pts/N)");
  certify_->add_option("--profile", run_.profile, "soc (default), at-esp, at-realtek, dps, bulb");
  certify_->add_option("--out", run_.out, "Run folder (default runs/certify-PROFILE-STAMP-SEED; must be empty)");
  certify_->add_option("--key", run_.key, "Certifier key file (iotw certify keygen): signs the report; without it "
                                           "the report is not signed");
  certify_->add_option("--only", run_.only, "Run only these CERT ids (comma-separated or repeated)")->delimiter(',');
  certify_->add_flag("--list", list_, "Print the profile's tests and exit");
  certify_->add_option("--reset-cmd", run_.reset_cmd, "Command (/bin/sh -c) that resets the DUT");
  certify_->add_option("--power-cmd", run_.power_cmd,
                       "soc, dps, bulb: command (/bin/sh -c) that switches the DUT's supply, run as 'CMD off', 'CMD on', "
                       "'CMD brownout' (CERT-014; CERT-080 on soc and dps); without it those tests are not run");
  certify_->add_option("--modbus", run_.modbus,
                       "dps: the DUT's Modbus side, tcp:HOST:PORT[,slave=N] or rtu:PATH[,baud=N,parity=none|even|odd,"
                       "slave=N] (CERT-081, CERT-082); without it those tests are not run");
  certify_->add_option("--lan", run_.lan,
                       "bulb: the DUT's Yeelight control port HOST:PORT[,discovery=HOST:PORT] (CERT-085; default "
                       "discovery: the SSDP group 239.255.255.250:1982); without it CERT-085 is not run");
  certify_->add_option("--usage-period-s", run_.usage_period_s,
                       "dps, bulb: the DUT's UsageReport period in seconds (default 60): each report is awaited for "
                       "the period + 2 s");
  seed_opt_ = certify_->add_option("--seed", seed_, "Seed of nonces, headers and the fuzz (default: random, printed)");
  certify_->add_option("--fuzz-s", run_.fuzz_s, "Length of CERT-070's fuzz in seconds (default 20)");
  certify_->add_option("--node-key", run_.node_key,
                       "The trust node's key file (32 raw bytes; created if absent). A DUT provisioned with its public "
                       "key (printed at the start) gets the light-verification tests; default: a fresh key per run");
  certify_->add_option("--ssid", run_.wifi_ssid,
                       "AT profiles: the access point the module joins (CERT-091, 092, 096, 097); "
                       "without it those tests are not run");
  certify_->add_option("--password", run_.wifi_password, "AT profiles: its password (default: an open network)");
  keygen_ = certify_->add_subcommand("keygen", "Make a certifier key (Ed25519) that signs certification reports");
  keygen_->add_option("--out,-o", key_out_, "Key file to create (mode 0600; never overwritten; default certifier.key)");
  verify_ = certify_->add_subcommand(
      "verify", "Check a certification report folder offline: the signature on manifest.json and every file's "
                "SHA-256. Exit 0 valid, 1 invalid (names the first file that does not match), 2 unreadable");
  verify_->add_option("DIR", verify_dir_, "The report folder")->required();
  verify_->add_option("--certifier", expected_key_,
                      "The certifier's public key (64 hex digits) the report must be signed by; without it any key is "
                      "accepted and printed");
}

bool CertifyCommand::parsed() const { return ports_->parsed() || certify_->parsed(); }

int CertifyCommand::run(std::ostream& out, std::ostream& err) const {
  if (ports_->parsed()) {
    try {
      const auto ports = list_serial_ports();
      if (json_) {
        nlohmann::json a = nlohmann::json::array();
        for (const auto& p : ports) a.push_back(p.to_json());
        out << a.dump(2) << '\n';
      } else {
        out << ports_table(ports);
      }
      return kExitPass;
    } catch (const std::exception& e) {
      err << "error: " << e.what() << '\n';
      return kExitCouldNotRun;
    }
  }
  if (keygen_->parsed()) {
    if (std::filesystem::exists(std::filesystem::symlink_status(key_out_))) {
      err << "error: " << key_out_.string() << " exists; a key file is never overwritten (give another --out)\n";
      return kExitUsage;
    }
    try {
      const auto pk = generate_certifier_key(key_out_);
      out << "key file: " << key_out_.string() << "\npublic key: " << to_hex(pk) << '\n';
      return kExitPass;
    } catch (const std::exception& e) {
      err << "error: " << e.what() << '\n';
      return kExitCouldNotRun;
    }
  }
  if (!verify_->parsed()) {
    if (list_) return list_tests(run_.profile, out, err);
    if (run_.dut.empty()) {
      err << "error: certify needs --dut SPEC (or --list, or a subcommand: keygen, verify); see --help\n";
      return kExitUsage;
    }
    CertifyOptions o = run_;
    if (*seed_opt_) o.seed = seed_;
    o.command_line = "iotw certify --dut " + o.dut + " --profile " + o.profile;
    for (const CLI::Option* opt : certify_->get_options())
      if (opt->count() > 0 && opt->get_name() != "--dut" && opt->get_name() != "--profile" && opt->get_name() != "--help")
        for (const std::string& v : opt->results()) o.command_line += " " + opt->get_name() + " " + v;
    o.bin_dir = std::filesystem::read_symlink("/proc/self/exe").parent_path();
    return run_certification(o, out, err);
  }
  std::string expected;
  if (!expected_key_.empty()) {
    const auto k = from_hex<32>(expected_key_, HexCase::any);
    if (!k) {
      err << "error: --certifier must be 64 hex digits (an Ed25519 public key), got '" << expected_key_ << "'\n";
      return kExitUsage;
    }
    expected = to_hex(*k);
  }
  const ManifestCheck c = verify_manifest(verify_dir_, expected);
  switch (c.status) {
    case ManifestCheck::Status::Valid: out << "valid: " << c.detail << '\n'; return kExitPass;
    case ManifestCheck::Status::Invalid: out << "invalid: " << c.detail << '\n'; return kExitFail;
    case ManifestCheck::Status::Unreadable: break;
  }
  out << "unreadable: " << c.detail << '\n';
  return kExitUsage;
}

}  // namespace iotw::certify
