#include "device_behaviour.hpp"

#include <stdexcept>

namespace iotw::emu {

namespace {
using L = BehaviourLayer;
using F = BehaviourFlags;
}  // namespace

const std::vector<DeviceBehaviour>& device_behaviour_table() {
  static const std::vector<DeviceBehaviour> t{
      {"honest", L::none, "", [](F&) {}},
      // Byzantine devices (docs/faults.md): deliberate misbehaviour the trust node must catch.
      {"invert_verdict", L::firmware, "the lying witness: signs the opposite of the verdict it computed",
       [](F& f) { f.fw.invert_verdict = 1; }},
      {"wrong_hash", L::firmware, "miner flips the first byte of the block hash it returns",
       [](F& f) { f.fw.wrong_hash = 1; }},
      {"collude", L::firmware, "colluding witness: signs invalid for every block", [](F& f) { f.fw.collude = 1; }},
      {"verdict_other_hash", L::firmware, "witness signs its verdict over another block hash",
       [](F& f) { f.fw.verdict_other_hash = 1; }},
      {"replay_attestation", L::firmware, "witness replays its first signed Attestation to every later request",
       [](F& f) { f.fw.replay_attestation = 1; }},
      {"wrong_key", L::firmware, "witness signs with a key it did not register", [](F& f) { f.fw.wrong_key = 1; }},
      // The group channel of collude_all_slots is CollusionMember (collusion_board.hpp).
      {"collude_all_slots", L::firmware, "colluding witness that lies only when its group holds every slot",
       [](F& f) { f.fw.collude_all_slots = 1; }},
      {"forge_vrf", L::firmware, "VrfClaim proof with one byte of s flipped: does not verify",
       [](F& f) { f.fw.forge_vrf = 1; }},
      {"inflate_usage", L::firmware, "reports twice the energy its meter measured in every UsageReport",
       [](F& f) { f.fw.inflate_usage = 1; }},
      // Certification mutants (docs/certification.md "Mutants"): plausible firmware bugs.
      {"wrong_domain", L::firmware, "signs Results with the ATTEST message instead of RESULT",
       [](F& f) { f.fw.wrong_domain = 1; }},
      {"ignore_crc", L::firmware, "never compares the frame CRC: accepts frames whose CRC is wrong",
       [](F& f) { f.fw.ignore_crc = 1; }},
      // Host layer: ports/host keeps NVS in RAM and the runtime drops it at every (re)boot.
      {"no_nvs", L::host, "NVS writes never reach flash: a new key (and boot_count 1) every boot",
       [](F& f) { f.no_nvs = true; }},
      {"stale_witness", L::firmware, "no replay check: answers replayed and stale WitnessRequests",
       [](F& f) { f.fw.stale_witness = 1; }},
      // The core holds the Result on the port's clock and sends it from iotw_fw_poll (no sleep).
      {"slow_miner", L::firmware, "sends each Result 1 s after the Assignment's deadline_ms",
       [](F& f) { f.fw.slow_miner = 1; }},
      // The core panics (state OFF); the runtime then resets the chip (DeviceRuntime: a software reset).
      {"reset_on_garbage", L::firmware, "a rejected byte run of 256 bytes or more crashes the firmware: the chip resets",
       [](F& f) { f.fw.reset_on_garbage = 1; }},
      {"drop_heartbeats", L::firmware, "skips every other heartbeat", [](F& f) { f.fw.drop_heartbeats = 1; }},
      {"wrong_reset_reason", L::firmware, "reports power-on (1) after every reset but a brown-out",
       [](F& f) { f.fw.wrong_reset_reason = 1; }},
      {"accept_forged_checkpoint", L::firmware, "adopts Checkpoints without checking the node's signature",
       [](F& f) { f.fw.accept_forged_checkpoint = 1; }},
      {"usage_seq_reset", L::firmware, "keeps the usage seq in RAM: restarts at 1 after a reset",
       [](F& f) { f.fw.usage_seq_reset = 1; }},
      {"foreign_assignment", L::firmware, "answers an Assignment whose header names another miner",
       [](F& f) { f.fw.foreign_assignment = 1; }},
      {"cached_nonce", L::firmware, "signs its session's first Challenge nonce for every later Challenge",
       [](F& f) { f.fw.cached_nonce = 1; }},
      {"accept_unsigned_request", L::firmware, "acts on node requests without checking the node's signature",
       [](F& f) { f.fw.accept_unsigned_request = 1; }},
      {"skip_miner_signature_check", L::firmware, "witness never checks the miner's signature: VALID for a bad one",
       [](F& f) { f.fw.skip_miner_signature_check = 1; }},
      {"modbus_off_by_one", L::modbus, "serves its Modbus map shifted by one: register N reads what N+1 holds",
       [](F& f) { f.modbus_off_by_one = true; }},
      {"at_wrong_terminator", L::at_module, "ends its AT lines with \"\\n\" instead of \"\\r\\n\"",
       [](F& f) { f.at_wrong_terminator = true; }},
  };
  return t;
}

const std::vector<std::string>& device_behaviours() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& b : device_behaviour_table()) v.emplace_back(b.name);
    return v;
  }();
  return names;
}

const DeviceBehaviour& device_behaviour(std::string_view name) {
  for (const auto& b : device_behaviour_table())
    if (b.name == name) return b;
  throw std::invalid_argument("unknown behaviour '" + std::string(name) + "'");
}

BehaviourFlags behaviour_flags(std::string_view name) {
  BehaviourFlags f;
  device_behaviour(name).set(f);
  return f;
}

std::string behaviour_mismatch(std::string_view name, const std::string& model, const std::string& mode,
                               bool has_firmware) {
  const DeviceBehaviour& b = device_behaviour(name);
  const std::string quoted = "behaviour '" + std::string(name) + "'";
  switch (b.layer) {
    case L::none: return "";
    case L::firmware:
    case L::host:
      if (!has_firmware) return quoted + " is a firmware defect; this " + model + " runs no firmware";
      if (b.layer == L::host && mode != "soc")
        return quoted + " is emulated by the serial SoC runtime only (not in mode '" + mode + "')";
      return "";
    case L::modbus:
      return model == "dps" ? "" : quoted + " is a defect of the DPS chip's Modbus map; model '" + model + "' has none";
    case L::at_module:
      return mode == "at" ? "" : quoted + " is a defect of a Wi-Fi module's AT command set; it needs AT mode";
  }
  return "";
}

}  // namespace iotw::emu
