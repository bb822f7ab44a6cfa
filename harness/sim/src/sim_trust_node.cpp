#include "iotw/sim/sim_trust_node.hpp"

#include <sodium.h>

#include <stdexcept>

#include <fmt/format.h>

#include "iotw/message_codec.h"
#include "iotw/support/hex.hpp"

namespace iotw::sim {

struct SimTrustNode::Rng final : tn::Random {
  explicit Rng(SeededStream& s) : stream(s) {}
  std::uint64_t next_u64() override { return stream(); }
  SeededStream& stream;
};

SimTrustNode::SimTrustNode(Scheduler& sched, EventStream& events, tn::ConsensusConfig cfg, std::uint64_t seed,
                           std::optional<SimMeshNode> mesh)
    : sched_(sched),
      events_(events),
      cfg_(std::move(cfg)),
      select_seed_(component_seed(seed, "trust_node:select")),  // a mesh's nodes too: the runner gives each the seed
      mesh_(std::move(mesh)) {
  if (!mesh_) {
    ledger_ = std::make_unique<tn::SqliteLedger>(":memory:");
    return;
  }
  if (!mesh_->etcd) throw std::invalid_argument("a mesh node needs the mesh's SimEtcd");
  tag_ = mesh_->node_id;
  ledger_id_seed_ = component_seed(seed, mesh_->node_id + ":ledger");
  // The daemon's clients: the store's with [store] timeout_ms (2000 by default), the agent's with min(it, ttl / 4).
  store_client_ = mesh_->etcd->client(2000);
  agent_client_ = mesh_->etcd->client(std::min<std::uint64_t>(2000, mesh_->lease_ttl_s * 1000 / 4));
}

SimTrustNode::~SimTrustNode() = default;

std::uint32_t SimTrustNode::add_link(std::string name, Send send) {
  Link l;
  l.name = std::move(name);
  l.send = std::move(send);
  links_.push_back(std::move(l));
  return static_cast<std::uint32_t>(links_.size() - 1);
}

std::uint32_t SimTrustNode::add_datagram_link(std::string name, Send send) {
  Link l;
  l.name = std::move(name);
  l.send = std::move(send);
  l.datagram = true;
  links_.push_back(std::move(l));
  return static_cast<std::uint32_t>(links_.size() - 1);
}

void SimTrustNode::start() {
  // The daemon's start: its selection stream from the seed, a core that loads the ledger, every serial link opened.
  stream_ = std::make_unique<SeededStream>(select_seed_);
  rng_ = std::make_unique<Rng>(*stream_);
  if (mesh_) {  // a new process: a new store view, with its own writer id (the daemon's is random; here seeded)
    SeededStream ids(ledger_id_seed_);
    std::uint64_t id = 0;
    for (std::uint64_t i = 0; i <= generation_; ++i) id = ids();
    auto l = std::make_unique<tn::EtcdLedger>(*store_client_, mesh_->prefix, fmt::format("{:016x}", id));
    etcd_ledger_ = l.get();
    ledger_ = std::move(l);
  }
  paused_ = false;
  build_core();
  if (mesh_) {  // the daemon writes its role before it opens its links
    role_ = std::make_unique<tn::MeshRole>(mesh_->node_id, mesh_->lease_ttl_s, cfg_.device_timeout_ms, *this);
    campaign_ = std::make_unique<tn::MeshCampaign>(*agent_client_, mesh_->prefix + "leader", mesh_->node_id,
                                                   static_cast<std::int64_t>(mesh_->lease_ttl_s), sched_);
    resign_ = false;
    events_.emit("trust-node", "mesh_role",
                 {{"node_id", mesh_->node_id}, {"role", "standby"}, {"leader", ""}, {"reason", "started"},
                  {"height", core_->height()}},
                 tag_);
  }
  for (std::uint32_t id = 0; id < links_.size(); ++id) {
    links_[id].decoder.reset();
    links_[id].waiting.clear();
    links_[id].waiting_datagrams.clear();
    links_[id].waiting_bytes = 0;
    links_[id].opened = false;
    if (links_[id].datagram) continue;  // a UDP peer is opened by its first datagram
    core_->link_opened(id, links_[id].name);
    events_.emit("trust-node", "link_opened", {{"link", links_[id].name}}, tag_);
  }
  ++generation_;
  schedule_tick();
  if (!mesh_) return;
  schedule_agent(0);
  schedule_mesh_check();
}

void SimTrustNode::build_core() {
  std::unique_ptr<tn::TrustNodeCore> core;  // the old core stays until the new one is built (a takeover may fail)
  for (int attempt = 0;; ++attempt) {
    try {
      core = std::make_unique<tn::TrustNodeCore>(cfg_, *ledger_, sched_, *rng_, *this);
      break;
    } catch (const tn::LedgerConflict&) {  // two nodes writing genesis on an empty store: read the winner's
      if (attempt >= 3) throw;
    }
  }
  if (mesh_) core->set_assigning(false);  // a mesh node assigns only once it holds the leadership
  core_ = std::move(core);
}

template <class F>
void SimTrustNode::guarded(F&& f) {
  if (!mesh_) return f();
  try {
    f();
  } catch (const tn::LedgerError& e) {
    if (role_) role_->on_store_error(e.what());
  }
}

void SimTrustNode::schedule_agent(std::uint64_t delay_ns) {
  sched_.after(delay_ns, [this, gen = generation_, token = ++agent_token_] {
    if (gen != generation_ || !core_ || token != agent_token_) return;  // an earlier life, or a rescheduled agent
    if (paused_) {  // a frozen node's agent thread is frozen too: it steps at once when the node resumes
      agent_missed_ = true;
      return;
    }
    const bool resign = resign_;
    resign_ = false;
    role_->on_view(campaign_->step(resign), sched_.now_ms());
    schedule_agent(mesh_->lease_ttl_s * 1'000'000'000 / 3);
  });
}

void SimTrustNode::schedule_mesh_check() {
  sched_.after(kMeshCheckNs, [this, gen = generation_] {
    if (gen != generation_ || !core_) return;
    if (!paused_) role_->check(sched_.now_ms());
    schedule_mesh_check();
  });
}

void SimTrustNode::take_over(const std::vector<tn::EtcdCompare>& fence) {
  etcd_ledger_->set_fence(fence);
  build_core();
  for (std::uint32_t id = 0; id < links_.size(); ++id)
    if (!links_[id].datagram || links_[id].opened) core_->link_opened(id, links_[id].name);
  core_->set_assigning(true);
}

void SimTrustNode::stand_down(bool clear_fence) {
  if (clear_fence && etcd_ledger_) etcd_ledger_->set_fence({});
  if (core_) core_->set_assigning(false);
}

void SimTrustNode::hand_over() {
  resign_ = true;
  schedule_agent(0);  // the agent wakes at once (the daemon's agent_cv_) and waits lease_ttl_s / 3 from there
}

void SimTrustNode::role_changed(const std::string& role, const std::string& leader, const std::string& reason) {
  events_.emit("trust-node", "mesh_role",
               {{"node_id", mesh_->node_id}, {"role", role}, {"leader", leader}, {"reason", reason},
                {"height", core_ ? core_->height() : 0}},
               tag_);
}

void SimTrustNode::cut_from_etcd(bool cut) {
  if (!mesh_) throw std::runtime_error("the trust node is not a mesh node: it has no etcd");
  store_client_->set_cut(cut);
  agent_client_->set_cut(cut);
}

std::uint64_t SimTrustNode::height() {
  if (!core_) return 0;
  if (!role_ || role_->role() != "standby") return core_->height();
  try {
    const std::uint64_t n = ledger_->block_count();
    return n > 0 ? n - 1 : 0;
  } catch (const tn::LedgerError&) {
    return core_->height();
  }
}

void SimTrustNode::schedule_tick() {
  sched_.after(kTickNs, [this, gen = generation_] {
    if (gen != generation_ || !core_) return;
    if (!paused_) guarded([&] { core_->tick(); });
    schedule_tick();
  });
}

void SimTrustNode::on_bytes(std::uint32_t link, const std::uint8_t* bytes, std::size_t len) {
  if (!core_ || link >= links_.size()) return;  // down: the line has no reader
  if (paused_) {
    Link& l = links_[link];
    for (std::size_t i = 0; i < len && l.waiting.size() < kLineBuffer; ++i) l.waiting.push_back(bytes[i]);
    return;
  }
  read(link, bytes, len);
}

void SimTrustNode::read(std::uint32_t link, const std::uint8_t* bytes, std::size_t len) {
  Link& l = links_[link];
  if (len == 0) return;
  if (!l.decoder) {
    l.decoder = std::make_unique<iotw_frame_decoder>();
    iotw_frame_decoder_init(l.decoder.get());
  }
  for (std::size_t i = 0; i < len && core_ && l.decoder; ++i) {
    const std::uint8_t* p = nullptr;
    std::size_t n = 0;
    const char* error = nullptr;
    switch (iotw_frame_decoder_push(l.decoder.get(), bytes[i], &p, &n)) {
      case IOTW_FRAME_OK: on_payload(link, p, n); break;
      case IOTW_FRAME_BAD_COBS: error = "bad_cobs"; break;
      case IOTW_FRAME_BAD_CRC: error = "bad_crc"; break;
      case IOTW_FRAME_OVERFLOW: error = "overflow"; break;
      default: break;
    }
    if (error) frame_error(l.name, error);
  }
  // Between frames the decoder holds nothing a fresh one would not: drop it.
  if (l.decoder && l.decoder->wire_len == 0 && !l.decoder->overflowed) l.decoder.reset();
}

void SimTrustNode::on_datagram(std::uint32_t link, const std::uint8_t* bytes, std::size_t len) {
  if (!core_ || link >= links_.size() || !links_[link].datagram) return;  // down: the datagram is lost
  if (paused_) {
    Link& l = links_[link];
    if (l.waiting_bytes + len > kLineBuffer) return;  // the socket's receive buffer is full
    l.waiting_bytes += len;
    l.waiting_datagrams.emplace_back(bytes, bytes + len);
    return;
  }
  read_datagram(link, bytes, len);
}

void SimTrustNode::read_datagram(std::uint32_t link, const std::uint8_t* bytes, std::size_t len) {
  Link& l = links_[link];
  const long n = iotw_datagram_check(bytes, len);  // the daemon's UdpLink::handle
  if (n < 0) return frame_error(l.name, len > IOTW_DATAGRAM_MAX ? "overflow" : "bad_crc");
  if (!l.opened) {
    l.opened = true;
    core_->link_opened(link, l.name);
    events_.emit("trust-node", "link_opened", {{"link", l.name}}, tag_);
  }
  on_payload(link, bytes, static_cast<std::size_t>(n));
}

void SimTrustNode::on_payload(std::uint32_t link, const std::uint8_t* payload, std::size_t len) {
  iotw_v1_Envelope env;
  if (iotw_msg_decode(payload, len, &env) != 0) return frame_error(links_[link].name, "decode");
  guarded([&] { core_->on_message(link, env); });
}

void SimTrustNode::frame_error(const std::string& link, const char* error) {
  ++frame_errors_;
  events_.emit("trust-node", "frame_error", {{"link", link}, {"error", error}}, tag_);
}

void SimTrustNode::kill() {
  if (!core_) throw std::runtime_error("the trust node is not running");
  core_.reset();  // SIGKILL: no resignation, the lease runs out
  agent_missed_ = false;
  role_.reset();
  campaign_.reset();
  etcd_ledger_ = nullptr;
  if (mesh_) ledger_.reset();
  ++generation_;
}

void SimTrustNode::restart() {
  if (core_) throw std::runtime_error("the trust node is already running");
  start();
}

void SimTrustNode::pause(bool paused) {
  if (!core_) throw std::runtime_error("the trust node is not running");
  if (paused_ == paused) return;
  paused_ = paused;
  if (paused) return;
  for (std::uint32_t id = 0; id < links_.size() && core_; ++id) {
    std::vector<std::uint8_t> bytes(links_[id].waiting.begin(), links_[id].waiting.end());
    links_[id].waiting.clear();
    read(id, bytes.data(), bytes.size());
    auto datagrams = std::move(links_[id].waiting_datagrams);
    links_[id].waiting_datagrams.clear();
    links_[id].waiting_bytes = 0;
    for (const auto& d : datagrams)
      if (core_) read_datagram(id, d.data(), d.size());
  }
  if (!mesh_ || !core_) return;
  // SIGCONT: the daemon's overdue 50 ms check fires at once, and its agent steps at once if its wait ran out.
  sched_.after(0, [this, gen = generation_] {
    if (gen == generation_ && core_ && !paused_) role_->check(sched_.now_ms());
  });
  if (agent_missed_) {
    agent_missed_ = false;
    schedule_agent(0);
  }
}

std::optional<tn::SubmitResult> SimTrustNode::submit(const tn::Bytes& payload) {
  if (!answering()) return std::nullopt;
  try {
    return core_->submit_tx(payload);
  } catch (const tn::LedgerError&) {  // a mesh node whose store does not answer: no 202 (the daemon's 503)
    if (!mesh_) throw;
    return std::nullopt;
  }
}

std::vector<std::string> SimTrustNode::export_lines() {
  std::vector<std::string> lines;
  if (!ledger_) return lines;  // a mesh node that is down has no store view
  std::uint64_t from = 0;
  for (;;) {
    const std::vector<tn::Block> page = tn::block_page(*ledger_, from, 1000);
    if (page.empty()) break;
    for (const tn::Block& b : page) lines.push_back(tn::block_to_json(b).dump());
    from += page.size();
  }
  if (core_)
    if (const auto tip = core_->signed_tip()) lines.push_back(tn::tip_to_json(*tip).dump());
  return lines;
}

std::set<std::string> SimTrustNode::attached_names() const {
  std::set<std::string> names;
  if (!core_) return names;
  for (const auto& d : core_->devices_json())
    if (d.value("attached", false)) names.insert(d.value("name", std::string()));
  return names;
}

std::size_t SimTrustNode::lift_blacklist() {
  if (!answering()) return 0;
  std::size_t lifted = 0;
  try {
    for (const auto& e : core_->blacklist_json()) {
      const auto key = from_hex<32>(e.value("device", std::string()));
      if (key && core_->lift_blacklist(*key)) ++lifted;
    }
  } catch (const tn::LedgerError&) {  // a mesh node whose store does not answer: the operator's request fails
    if (!mesh_) throw;
  }
  return lifted;
}

void SimTrustNode::send(std::uint32_t link, const iotw_v1_Envelope& env) {
  if (link >= links_.size()) return;
  std::uint8_t payload[IOTW_FRAME_MAX_PAYLOAD];
  const std::size_t n = iotw_msg_encode(&env, payload, sizeof payload);
  if (n == 0) return;
  std::uint8_t wire[IOTW_FRAME_MAX_WIRE];
  const std::size_t len = links_[link].datagram ? iotw_datagram_encode(payload, n, wire, sizeof wire)
                                                : iotw_frame_encode(payload, n, wire, sizeof wire);
  if (len > 0) links_[link].send(std::vector<std::uint8_t>(wire, wire + len));  // its own size: frames wait in links
}

void SimTrustNode::event(std::string_view kind, nlohmann::json fields) {
  events_.emit("trust-node", kind, std::move(fields), tag_);
}

}  // namespace iotw::sim
