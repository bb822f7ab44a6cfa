#include "iotw/certify/engine.hpp"

#include <poll.h>

#include <cstring>
#include <thread>

#include <fmt/format.h>
#include <sodium.h>

#include "iotw/message_codec.h"
#include "iotw/signing.h"
#include "iotw/support/hex.hpp"
#include "iotw/support/process.hpp"

namespace iotw::certify {
namespace {

template <std::size_t N>
std::string hx(const std::uint8_t (&a)[N]) {
  return to_hex(a, N);
}

}  // namespace

std::string describe(const iotw_v1_Envelope& e) {
  const auto& b = e.body;
  const std::string name = iotw_msg_name(e.which_body);
  switch (e.which_body) {
    case iotw_v1_Envelope_hello_tag:
      return fmt::format("hello pubkey={} model={:?} fw_version={:?} boot_count={} reset_reason={} name={:?}",
                         hx(b.hello.pubkey), b.hello.model, b.hello.fw_version, b.hello.boot_count,
                         b.hello.reset_reason, b.hello.name);
    case iotw_v1_Envelope_challenge_tag: return "challenge nonce=" + hx(b.challenge.nonce);
    case iotw_v1_Envelope_prove_tag:
      return fmt::format("prove pubkey={} signature={}", hx(b.prove.pubkey), hx(b.prove.signature));
    case iotw_v1_Envelope_welcome_tag:
      return fmt::format("welcome height={} heartbeat_interval_ms={}", b.welcome.height, b.welcome.heartbeat_interval_ms);
    case iotw_v1_Envelope_assignment_tag:
      return fmt::format("assignment assignment_id={} deadline_ms={} header={}", b.assignment.assignment_id,
                         b.assignment.deadline_ms, hx(b.assignment.header));
    case iotw_v1_Envelope_result_tag:
      return fmt::format("result assignment_id={} block_hash={} signature={}", b.result.assignment_id,
                         hx(b.result.block_hash), hx(b.result.signature));
    case iotw_v1_Envelope_witness_request_tag:
      return fmt::format("witness_request round_id={} block_hash={} deadline_ms={} assignment_id={} miner_signature={} "
                         "header={}",
                         b.witness_request.round_id, hx(b.witness_request.block_hash), b.witness_request.deadline_ms,
                         b.witness_request.assignment_id, hx(b.witness_request.miner_signature),
                         hx(b.witness_request.header));
    case iotw_v1_Envelope_attestation_tag:
      return fmt::format("attestation round_id={} block_hash={} verdict={} signature={}", b.attestation.round_id,
                         hx(b.attestation.block_hash), static_cast<long long>(iotw_msg_attestation_verdict(&b.attestation)),
                         hx(b.attestation.signature));
    case iotw_v1_Envelope_heartbeat_tag:
      return fmt::format("heartbeat seq={} uptime_ms={}", b.heartbeat.seq, b.heartbeat.uptime_ms);
    case iotw_v1_Envelope_heartbeat_ack_tag:
      return fmt::format("heartbeat_ack seq={} height={}", b.heartbeat_ack.seq, b.heartbeat_ack.height);
    case iotw_v1_Envelope_error_tag: return fmt::format("error code={} text={:?}", b.error.code, b.error.text);
    case iotw_v1_Envelope_usage_report_tag:
      return fmt::format("usage_report seq={} energy_mwh={} on_seconds={} period_s={} signature={}", b.usage_report.seq,
                         b.usage_report.energy_mwh, b.usage_report.on_seconds, b.usage_report.period_s,
                         hx(b.usage_report.signature));
    case iotw_v1_Envelope_vrf_round_seed_tag:
      return fmt::format("vrf_round_seed height={} prev_hash={} suite={} claim_window_ms={}", b.vrf_round_seed.height,
                         hx(b.vrf_round_seed.prev_hash), b.vrf_round_seed.suite, b.vrf_round_seed.claim_window_ms);
    case iotw_v1_Envelope_vrf_claim_tag:
      return fmt::format("vrf_claim height={} pi={}", b.vrf_claim.height, hx(b.vrf_claim.pi));
    case iotw_v1_Envelope_checkpoint_request_tag:
      return fmt::format("checkpoint_request have_height={}", b.checkpoint_request.have_height);
    case iotw_v1_Envelope_checkpoint_tag:
      return fmt::format("checkpoint height={} block_hash={} signature={}", b.checkpoint.height,
                         hx(b.checkpoint.block_hash), hx(b.checkpoint.signature));
    default: return name;
  }
}

Bytes encode(const iotw_v1_Envelope& env) {
  Bytes out(512);
  const std::size_t n = iotw_msg_encode(&env, out.data(), out.size());
  if (n == 0) throw std::invalid_argument("an Envelope that does not encode: " + describe(env));
  out.resize(n);
  return out;
}

Engine::Engine(std::unique_ptr<FrameLink> dut, FrameLink& node, std::string reset_cmd, std::function<void()> esp_reset)
    : dut_(std::move(dut)), node_(node), reset_cmd_(std::move(reset_cmd)), esp_reset_(std::move(esp_reset)) {}

double Engine::now_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Engine::log_line(const char* dir, const std::string& text) {
  if (log_) *log_ << fmt::format("+{:.3f} {} {}\n", now_s(), dir, text);
}

void Engine::note(const std::string& text) { log_line("#", text); }

bool Engine::withhold(const iotw_v1_Envelope& env) {
  switch (env.which_body) {
    case iotw_v1_Envelope_prove_tag: {
      if (pending_nonces_.empty()) break;
      const auto& p = env.body.prove;
      auto over = [&p](const std::uint8_t* nonce) {
        std::uint8_t m[IOTW_SIG_MSG_MAX];
        const std::size_t n = iotw_sigmsg_register(nonce, p.pubkey, m);
        return crypto_sign_verify_detached(p.signature, m, n, p.pubkey) == 0;
      };
      for (auto it = pending_nonces_.begin(); it != pending_nonces_.end(); ++it)
        if (over(it->data())) {
          pending_nonces_.erase(it);
          return true;
        }
      if (node_challenge_open_ && over(node_nonce_->data())) break;  // the node's own registration
      pending_nonces_.pop_front();
      return true;
    }
    case iotw_v1_Envelope_result_tag:
      if (assignment_ids_.count(env.body.result.assignment_id)) return true;
      break;
    case iotw_v1_Envelope_attestation_tag:
      if (round_ids_.count(env.body.attestation.round_id)) return true;
      break;
    case iotw_v1_Envelope_vrf_claim_tag:
      if (vrf_heights_.count(env.body.vrf_claim.height)) return true;
      break;
    default: break;
  }
  if (!withhold_all_) return false;
  switch (env.which_body) {
    case iotw_v1_Envelope_hello_tag:
    case iotw_v1_Envelope_heartbeat_tag:
    case iotw_v1_Envelope_checkpoint_request_tag:
    case iotw_v1_Envelope_usage_report_tag: return false;
    default: return true;
  }
}

void Engine::from_dut(const Received& r) {
  if (r.payload.empty()) {
    log_line("dut->node", r.dropped);
    return;
  }
  SeenFrame f;
  f.index = seen_.size();
  f.t_s = now_s();
  last_dut_frame_s_ = f.t_s;
  if (iotw_msg_decode(r.payload.data(), r.payload.size(), &f.env) != 0) {
    f.env = {};
    log_line("dut->node", fmt::format("undecodable payload {} ({} bytes)", to_hex(r.payload.data(), r.payload.size()),
                                      r.payload.size()));
    seen_.push_back(f);
    node_.send(r.payload);
    return;
  }
  if (f.env.which_body == iotw_v1_Envelope_hello_tag) {
    hello_ = f.env.body.hello;
    ++hellos_;
    attached_ = false;
  }
  f.withheld = withhold(f.env);
  if (f.env.which_body == iotw_v1_Envelope_prove_tag && !f.withheld) node_challenge_open_ = false;
  log_line(f.withheld ? "dut->(withheld)" : "dut->node", describe(f.env));
  seen_.push_back(f);
  if (!f.withheld) node_.send(r.payload);
}

void Engine::from_node(const Received& r) {
  if (r.payload.empty()) {
    log_line("node->dut", r.dropped);
    return;
  }
  iotw_v1_Envelope env{};
  if (iotw_msg_decode(r.payload.data(), r.payload.size(), &env) != 0) {
    log_line("node->dut", "undecodable payload " + to_hex(r.payload.data(), r.payload.size()));
  } else {
    if (env.which_body == iotw_v1_Envelope_checkpoint_tag && block_checkpoints_) {
      log_line("node->(dropped)", describe(env));
      return;
    }
    if (env.which_body == iotw_v1_Envelope_welcome_tag) {
      attached_ = true;
      if (env.body.welcome.heartbeat_interval_ms > 0) heartbeat_interval_ms_ = env.body.welcome.heartbeat_interval_ms;
    }
    if (env.which_body == iotw_v1_Envelope_challenge_tag) {
      node_nonce_.emplace();
      std::memcpy(node_nonce_->data(), env.body.challenge.nonce, 32);
      after_node_challenge_ = seen_.size();
      node_challenge_open_ = true;
    }
    log_line(holding_ ? "node->dut(held)" : "node->dut", describe(env));
  }
  if (holding_) held_for_dut_.push_back(r.payload);
  else dut_->send(r.payload);
}

void Engine::pump_once(std::chrono::milliseconds max_wait) {
  pollfd fds[2] = {{dut_->fd(), POLLIN, 0}, {node_.fd(), POLLIN, 0}};
  const int n = ::poll(fds, 2, static_cast<int>(std::max<long>(0, max_wait.count())));
  if (n <= 0) return;
  if (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) {
    std::vector<Received> got;
    try {
      got = dut_->receive();
    } catch (const std::exception& e) {
      // A PTY whose other side is not open reads EIO: that is a DUT that says nothing, not a broken run.
      if (fds[0].revents & POLLHUP) std::this_thread::sleep_for(std::min(max_wait, std::chrono::milliseconds(20)));
      else throw std::runtime_error(std::string("the DUT's link failed: ") + e.what());
    }
    for (const auto& r : got) from_dut(r);
  }
  if (fds[1].revents & (POLLIN | POLLERR | POLLHUP)) {
    std::vector<Received> got;
    try {
      got = node_.receive();
    } catch (const std::exception&) {
      std::this_thread::sleep_for(std::min(max_wait, std::chrono::milliseconds(20)));  // the node reopens its link
    }
    for (const auto& r : got) from_node(r);
  }
}

const SeenFrame* Engine::wait_for(std::size_t from, const Pred& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (std::size_t i = from;;) {
    for (; i < seen_.size(); ++i)
      if (seen_[i].env.which_body != 0 && pred(seen_[i].env)) return &seen_[i];
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return nullptr;
    pump_once(std::min(left, std::chrono::milliseconds(50)));
  }
}

void Engine::pump_for(std::chrono::milliseconds d) {
  const auto deadline = std::chrono::steady_clock::now() + d;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    pump_once(std::min(left, std::chrono::milliseconds(50)));
  }
}

bool Engine::wait_attached(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!attached_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pump_once(std::min(left, std::chrono::milliseconds(50)));
  }
  return true;
}

void Engine::inject(const iotw_v1_Envelope& env) {
  switch (env.which_body) {
    case iotw_v1_Envelope_challenge_tag: {
      std::array<std::uint8_t, 32> n;
      std::memcpy(n.data(), env.body.challenge.nonce, 32);
      pending_nonces_.push_back(n);
      break;
    }
    case iotw_v1_Envelope_assignment_tag: assignment_ids_.insert(env.body.assignment.assignment_id); break;
    case iotw_v1_Envelope_witness_request_tag: round_ids_.insert(env.body.witness_request.round_id); break;
    case iotw_v1_Envelope_vrf_round_seed_tag: vrf_heights_.insert(env.body.vrf_round_seed.height); break;
    default: break;
  }
  log_line("certifier->dut", describe(env));
  dut_->send(encode(env));
}

void Engine::inject_raw(const Bytes& bytes) {
  log_line("certifier->dut", fmt::format("raw {} bytes {}", bytes.size(), to_hex(bytes.data(), bytes.size())));
  dut_->send_raw(bytes);
}

void Engine::inject_bytewise(const Bytes& bytes, std::chrono::milliseconds gap) {
  log_line("certifier->dut", fmt::format("{} bytes one per write, {} ms apart: {}", bytes.size(), gap.count(),
                                         to_hex(bytes.data(), bytes.size())));
  holding_ = true;
  try {
    for (std::uint8_t b : bytes) {
      dut_->send_raw(Bytes{b});
      pump_for(gap);
    }
  } catch (...) {
    holding_ = false;
    throw;
  }
  holding_ = false;
  for (; !held_for_dut_.empty(); held_for_dut_.pop_front()) dut_->send(held_for_dut_.front());
}

void Engine::forget_withheld() {
  pending_nonces_.clear();
  withhold_all_ = false;
  block_checkpoints_ = false;
  // Request ids stay withheld: a late answer to an injected request must not reach the node either.
}

std::string Engine::reset() {
  if (!reset_cmd_.empty()) {
    note("reset: /bin/sh -c " + reset_cmd_);
    const CapturedRun r = run_captured("/bin/sh", {"-c", reset_cmd_}, Stderr::merge);
    if (!r.output.empty()) note("reset command output: " + r.output);
    if (r.code != 0) return fmt::format("the reset command exited {}: {}", r.code, r.output);
    return "";
  }
  if (esp_reset_) {
    note("reset: DTR/RTS pulse (reset=esp)");
    esp_reset_();
    return "";
  }
  return "no way to reset the DUT (give --reset-cmd, or reset=esp on a real port)";
}

std::string Engine::power(const std::string& action) {
  if (power_cmd_.empty()) return "no power command (give --power-cmd)";
  const std::string cmd = power_cmd_ + " " + action;
  note("power: /bin/sh -c " + cmd);
  const CapturedRun r = run_captured("/bin/sh", {"-c", cmd}, Stderr::merge);
  if (!r.output.empty()) note("power command output: " + r.output);
  if (r.code != 0) return fmt::format("the power command '{}' exited {}: {}", cmd, r.code, r.output);
  return "";
}

}  // namespace iotw::certify
