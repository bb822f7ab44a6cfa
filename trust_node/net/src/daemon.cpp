#include "iotw/trust_node/daemon.hpp"

#include <cerrno>
#include <chrono>
#include <utility>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <atomic>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include "iotw/exit_code.hpp"
#include "iotw/message_codec.h"
#include "iotw/trust_node/links.hpp"
#include "iotw/trust_node/metrics.hpp"
#include "iotw/trust_node/sqlite_ledger.hpp"
#include "iotw/trust_node/tx_request.hpp"

namespace iotw::tn {
namespace asio = boost::asio;

namespace {

uint64_t wall_ms() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

struct SystemClock final : Clock {
  uint64_t now_ms() override { return wall_ms(); }
};

struct SeededRandom final : Random {
  explicit SeededRandom(uint64_t seed) : gen(seed) {}
  uint64_t next_u64() override { return gen(); }
  std::mt19937_64 gen;
};

/** Write tmp + rename, so a reader never sees a partial port number. */
void write_port_file(const std::string &path, uint16_t port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << port << "\n";
    if (!f) throw std::runtime_error("cannot write " + tmp);
  }
  std::filesystem::rename(tmp, path);
}

/** cfg.consensus plus the node key (Checkpoint signer). */
ConsensusConfig with_node_key(const NodeConfig &cfg) {
  ConsensusConfig c = cfg.consensus;
  c.node_key_seed = load_or_create_node_key(cfg.key);
  return c;
}

std::optional<uint64_t> parse_u64(const std::string &s) {
  if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::stoull(s);
}

void reply(httplib::Response &res, int status, const nlohmann::json &body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
}

/** The 202 body of POST /v1/transactions/batch, written directly (the same bytes as nlohmann's dump of
 *  {"accepted","rejected","results":[{"hash","status":"pending"}, {"error","hash","status":"duplicate"},
 *  {"error","status":"invalid"}]}): at 10,000 results per batch the DOM build and dump were a visible cost. */
std::string batch_reply(const std::vector<SubmitResult> &rs) {
  size_t accepted = 0;
  for (const SubmitResult &r : rs) accepted += r.status == SubmitResult::accepted;
  std::string out;
  out.reserve(64 + rs.size() * 96);
  out += "{\"accepted\":" + std::to_string(accepted) + ",\"rejected\":" + std::to_string(rs.size() - accepted) +
         ",\"results\":[";
  auto hash = [&](const Hash &h) {
    out += "\"hash\":\"";
    append_hex(out, h);
    out += "\",";
  };
  auto error = [&](const std::string &e) {
    out += "\"error\":";
    out += nlohmann::json(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out += ',';
  };
  for (size_t i = 0; i < rs.size(); ++i) {
    const SubmitResult &r = rs[i];
    out += i ? ",{" : "{";
    switch (r.status) {
      case SubmitResult::accepted: hash(r.hash), out += "\"status\":\"pending\"}"; break;
      case SubmitResult::duplicate: error(r.error), hash(r.hash), out += "\"status\":\"duplicate\"}"; break;
      case SubmitResult::invalid: error(r.error), out += "\"status\":\"invalid\"}"; break;
    }
  }
  out += "]}";
  return out;
}

class Daemon final : public CoreSink, public LinkHost {
 public:
  explicit Daemon(const NodeConfig &cfg)
      : cfg_(cfg), events_(cfg.events), rng_(cfg.seed), ledger_(cfg.db),
        core_(with_node_key(cfg), ledger_, clock_, rng_, *this), tick_(io_), signals_(io_, SIGINT, SIGTERM),
        work_(asio::make_work_guard(io_)) {}

  int run() {
    events_.write("node_started", {{"seed", cfg_.seed}, {"height", core_.height()}, {"db", cfg_.db},
                                   {"node_pubkey", to_hex(*core_.node_pubkey())}});
    spdlog::info("started: db {}, height {}, seed {}, events {}", cfg_.db, core_.height(), cfg_.seed, cfg_.events);
    for (const SerialConfig &s : cfg_.serial) {
      spdlog::debug("serial link {} at {} baud", s.path, s.baud);
      serial_.push_back(std::make_unique<SerialLink>(io_, s, *this));
    }
    for (auto &s : serial_) s->start();
    if (cfg_.udp) {
      udp_ = std::make_unique<UdpLink>(io_, *cfg_.udp, *this);
      if (!cfg_.udp->port_file.empty()) write_port_file(cfg_.udp->port_file, udp_->port());
      events_.write("udp_listening", {{"port", udp_->port()}});
      spdlog::info("listening: UDP port {}", udp_->port());
      udp_->start();
    }
    if (cfg_.tcp) {  // idle connections (no byte for 2 device timeouts: half-open peers) are closed
      tcp_ = std::make_unique<TcpListener>(io_, *cfg_.tcp, *this, 2 * cfg_.consensus.device_timeout_ms);
      if (!cfg_.tcp->port_file.empty()) write_port_file(cfg_.tcp->port_file, tcp_->port());
      events_.write("tcp_listening", {{"port", tcp_->port()}});
      spdlog::info("listening: TCP port {}", tcp_->port());
      tcp_->start();
    }
    if (cfg_.http) start_http();
    signals_.async_wait([this](boost::system::error_code ec, int sig) {
      if (!ec) stop(sig == SIGTERM ? "sigterm" : "sigint");
    });
    schedule_tick();
    try {
      io_.run();
    } catch (const std::exception &e) {  // a storage failure: the WAL keeps the db consistent; exit now
      events_.write("node_stopping", {{"reason", std::string("error: ") + e.what()}});
      spdlog::critical("fatal: {}", e.what());
      std::fflush(nullptr);
      std::_Exit(kExitCouldNotRun);
    }
    if (http_thread_.joinable()) http_thread_.join();
    return 0;
  }

  // CoreSink
  void send(uint32_t link, const iotw_v1_Envelope &env) override {
    auto it = senders_.find(link);
    if (it == senders_.end()) return;
    uint8_t buf[IOTW_FRAME_MAX_PAYLOAD];
    const size_t n = iotw_msg_encode(&env, buf, sizeof buf);
    if (n > 0) it->second(buf, n);
  }
  void event(std::string_view kind, nlohmann::json fields) override { events_.write(kind, fields); }
  void event_serialized(std::string_view kind, const std::string &fields_json) override {
    events_.write_serialized(kind, fields_json);
  }

  // LinkHost
  uint32_t new_link_id() override { return next_link_++; }
  void link_up(uint32_t id, const std::string &name, PayloadSender send) override {
    senders_[id] = std::move(send);
    names_[id] = name;
    core_.link_opened(id, name);
    events_.write("link_opened", {{"link", name}});
  }
  void link_down(uint32_t id) override {
    senders_.erase(id);
    names_.erase(id);
    core_.link_closed(id);
  }
  void payload(uint32_t id, const uint8_t *p, size_t n) override {
    iotw_v1_Envelope env;
    if (iotw_msg_decode(p, n, &env) != 0) {
      ++frame_errors_;
      events_.write("frame_error", {{"link", link_name(id)}, {"error", "decode"}});
      return;
    }
    core_.on_message(id, env);
  }
  void link_event(std::string_view kind, nlohmann::json fields) override {
    if (kind == "frame_error") ++frame_errors_;
    events_.write(kind, fields);
  }

 private:
  std::string link_name(uint32_t id) const {
    auto it = names_.find(id);
    return it == names_.end() ? "link:" + std::to_string(id) : it->second;
  }

  void schedule_tick() {
    tick_.expires_after(std::chrono::milliseconds(tick_ms));
    tick_.async_wait([this](boost::system::error_code ec) {
      if (ec || stopping_) return;
      core_.tick();
      schedule_tick();
    });
  }

  void stop(const char *reason) {
    if (stopping_) return;
    stopping_ = true;
    events_.write("node_stopping", {{"reason", reason}});
    spdlog::info("stopping: {}", reason);
    tick_.cancel();
    signals_.cancel();
    for (auto &s : serial_) s->close();
    if (udp_) udp_->close();
    if (tcp_) tcp_->close();
    if (http_thread_.joinable()) {
      http_.stop();  // the http thread drops the work guard once its in-flight requests are answered
    } else {
      work_.reset();
    }
  }

  /** Run f on the io thread and wait for its result (exceptions propagate). */
  template <class F>
  auto on_io(F f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    asio::post(io_, [&task] { task(); });
    return result.get();
  }

  /** Group commit: HTTP threads queue their parsed transactions here; one io-thread task takes everything
   *  queued and stores it with one submit_batch (one SQLite transaction, one fsync), then answers each
   *  request with its share of the results. Requests that arrive while a commit runs form the next group. */
  struct Intake {
    std::vector<TxRequest> reqs;
    std::promise<std::vector<SubmitResult>> done;
  };

  std::vector<SubmitResult> submit(std::vector<TxRequest> reqs) {
    Intake in{std::move(reqs), {}};
    auto result = in.done.get_future();
    {
      std::lock_guard lock(intake_mu_);
      intake_.push_back(&in);
      if (!intake_posted_) {
        intake_posted_ = true;
        asio::post(io_, [this] { commit_intake(); });
      }
    }
    return result.get();
  }

  void commit_intake() {
    std::vector<Intake *> group;
    {
      std::lock_guard lock(intake_mu_);
      group.swap(intake_);
      intake_posted_ = false;
    }
    std::vector<TxRequest> all;
    if (group.size() == 1) {
      all = std::move(group[0]->reqs);
    } else {
      size_t n = 0;
      for (const Intake *in : group) n += in->reqs.size();
      all.reserve(n);
      for (Intake *in : group) std::move(in->reqs.begin(), in->reqs.end(), std::back_inserter(all));
    }
    std::vector<SubmitResult> rs;
    try {
      EventWriter::Hold hold(events_);  // the group's events are flushed once, before any request is answered
      rs = core_.submit_batch(all);
    } catch (...) {
      for (Intake *in : group) in->done.set_exception(std::current_exception());
      return;
    }
    size_t at = 0;
    for (Intake *in : group) {
      const size_t n = group.size() == 1 ? rs.size() : in->reqs.size();
      std::vector<SubmitResult> mine(std::make_move_iterator(rs.begin() + static_cast<std::ptrdiff_t>(at)),
                                     std::make_move_iterator(rs.begin() + static_cast<std::ptrdiff_t>(at + n)));
      at += n;
      in->done.set_value(std::move(mine));
    }
  }

  void start_http() {
    http_.set_tcp_nodelay(true);  // responses go out as two writes; without this each stalls ~40 ms (Nagle)
    http_.set_payload_max_length(max_batch_body);
    http_.Post("/v1/transactions", [this](const httplib::Request &req, httplib::Response &res) {
      if (req.body.size() > max_tx_body) return bad_request(res, 413, "body larger than 32768 bytes");
      auto parsed = parse_tx_request(req.body);
      if (auto *e = std::get_if<TxParseError>(&parsed))
        return bad_request(res, 400, "body must be {\"payload\": \"<UTF-8 text, 1..4096 bytes>\"} "
                                     "(optionally with pubkey, signature): " + e->message);
      const SubmitResult r = submit({std::move(std::get<TxRequest>(parsed))}).at(0);
      switch (r.status) {
        case SubmitResult::accepted: return reply(res, 202, {{"hash", to_hex(r.hash)}, {"status", "pending"}});
        case SubmitResult::duplicate: return reply(res, 409, {{"error", r.error}, {"hash", to_hex(r.hash)}});
        case SubmitResult::invalid: return reply(res, 400, {{"error", r.error}});
      }
    });
    http_.Post("/v1/transactions/batch", [this](const httplib::Request &req, httplib::Response &res) {
      auto parsed = parse_tx_batch(req.body);
      if (auto *e = std::get_if<TxParseError>(&parsed)) return bad_request(res, 400, e->message);
      const std::vector<SubmitResult> rs = submit(std::move(std::get<std::vector<TxRequest>>(parsed)));
      res.status = 202;
      res.set_content(batch_reply(rs), "application/json");
    });
    http_.Get("/v1/balances", [this](const httplib::Request &, httplib::Response &res) {
      reply(res, 200, {{"unit", "IOTW base unit"}, {"balances", on_io([&] { return core_.balances_json(); })}});
    });
    http_.Get(R"(/v1/balances/([^/]+))", [this](const httplib::Request &req, httplib::Response &res) {
      const auto key = from_hex<32>(req.matches[1].str());
      if (!key) return bad_request(res, 400, "device must be a 64-hex-digit public key");
      reply(res, 200, {{"device", to_hex(*key)}, {"balance", on_io([&] { return core_.balance(*key); })}});
    });
    http_.Get("/v1/blacklist", [this](const httplib::Request &, httplib::Response &res) {
      reply(res, 200, {{"blacklist", on_io([&] { return core_.blacklist_json(); })}});
    });
    http_.Post(R"(/v1/blacklist/([^/]+)/lift)", [this](const httplib::Request &req, httplib::Response &res) {
      const std::string &token = cfg_.http->operator_token;
      if (!token.empty() && req.get_header_value("Authorization") != "Bearer " + token)
        return bad_request(res, 401, "operator token required (Authorization: Bearer <[http] operator_token>)");
      const auto key = from_hex<32>(req.matches[1].str());
      if (!key) return bad_request(res, 400, "device must be a 64-hex-digit public key");
      if (!on_io([&] { return core_.lift_blacklist(*key); }))
        return bad_request(res, 404, "device is not blacklisted");
      reply(res, 200, {{"device", to_hex(*key)}, {"lifted", true}});
    });
    http_.Get("/metrics", [this](const httplib::Request &, httplib::Response &res) {
      res.set_content(on_io([&] { return metrics_text(); }), "text/plain; version=0.0.4; charset=utf-8");
    });
    http_.Get("/v1/health", [this](const httplib::Request &, httplib::Response &res) {
      reply(res, 200, on_io([&] {
              const CoreCounters &c = core_.counters();
              return nlohmann::json{{"status", "ok"},
                                    {"height", core_.height()},
                                    {"devices_attached", core_.attached_count()},
                                    {"devices_blacklisted", core_.blacklisted_count()},
                                    {"pending_txs", core_.pending_count()},
                                    {"rounds", c.rounds},
                                    {"attestations_rejected", c.attestations_rejected},
                                    {"attestations_wrong_hash", c.attestations_wrong_hash},
                                    {"attestations_replayed", c.attestations_replayed},
                                    {"attestations_bad_signature", c.attestations_bad_signature},
                                    {"results_rejected", c.results_rejected},
                                    {"registrations_rejected", c.registrations_rejected},
                                    {"messages_rejected", c.messages_rejected},
                                    {"frame_errors", frame_errors_},
                                    {"usage_accepted", c.usage_accepted},
                                    {"usage_rejected", c.usage_rejected},
                                    {"vrf_claims_accepted", c.vrf_claims_accepted},
                                    {"vrf_claims_rejected", c.vrf_claims_rejected},
                                    {"vrf_fallbacks", c.vrf_fallbacks},
                                    {"checkpoints_sent", c.checkpoints_sent},
                                    {"node_pubkey", to_hex(*core_.node_pubkey())},
                                    {"http_rejected", http_rejected_.load()}};
            }));
    });
    http_.Get("/v1/devices", [this](const httplib::Request &, httplib::Response &res) {
      reply(res, 200, {{"devices", on_io([&] { return core_.devices_json(); })}});
    });
    http_.Get("/v1/blocks", [this](const httplib::Request &req, httplib::Response &res) {
      auto param = [&](const char *k, uint64_t dflt) -> std::optional<uint64_t> {
        return req.has_param(k) ? parse_u64(req.get_param_value(k)) : std::optional<uint64_t>(dflt);
      };
      const auto from = param("from", 0), limit = param("limit", 100);
      if (!from || !limit) return reply(res, 400, {{"error", "from and limit must be non-negative integers"}});
      const uint64_t n = std::min<uint64_t>(*limit, 1000);
      reply(res, 200, on_io([&] {
              nlohmann::json blocks = nlohmann::json::array();
              for (const Block &b : ledger_.blocks(*from, n)) blocks.push_back(block_to_json(b));
              return nlohmann::json{{"blocks", std::move(blocks)}};
            }));
    });
    http_.set_error_handler([this](const httplib::Request &, httplib::Response &res) {
      if (res.body.empty()) {
        ++http_rejected_;
        reply(res, res.status, {{"error", res.status == 404 ? "not found" : "request failed"}});
      }
    });
    http_.set_exception_handler([this](const httplib::Request &, httplib::Response &res, std::exception_ptr ep) {
      std::string what = "internal error";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception &e) {
        what = e.what();
      } catch (...) {
      }
      ++http_rejected_;
      reply(res, 500, {{"error", what}});
    });
    const ListenConfig &l = *cfg_.http;
    errno = 0;
    const int port = l.port == 0 ? http_.bind_to_any_port(l.host) : (http_.bind_to_port(l.host, l.port) ? l.port : -1);
    if (port <= 0)
      throw std::runtime_error("http: cannot bind " + l.host + ":" + std::to_string(l.port) +
                               (errno ? std::string(": ") + std::strerror(errno) : std::string()));
    if (!l.port_file.empty()) write_port_file(l.port_file, static_cast<uint16_t>(port));
    events_.write("http_listening", {{"port", port}});
    spdlog::info("listening: HTTP {}:{}", l.host, port);
    http_thread_ = std::thread([this] {
      http_.listen_after_bind();
      asio::post(io_, [this] { work_.reset(); });
    });
    // stop() must not race the server's start: wait until it accepts (bounded; bind already succeeded).
    for (int i = 0; i < 2000 && !http_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  void bad_request(httplib::Response &res, int status, const std::string &error) {
    ++http_rejected_;
    reply(res, status, {{"error", error}});
  }

  std::string metrics_text() {
    const CoreCounters &c = core_.counters();
    Metrics m;
    m.gauge("iotw_height", "Height of the chain tip.", core_.height());
    m.gauge("iotw_devices_attached", "Devices attached now.", core_.attached_count());
    m.gauge("iotw_devices_blacklisted", "Devices on the blacklist (not lifted).", core_.blacklisted_count());
    m.gauge("iotw_pending_txs", "Transactions stored but not yet in a block.", core_.pending_count());
    m.counter("iotw_rounds_total", "Witness rounds closed since start.", c.rounds);
    m.counter("iotw_blocks_finalized_total", "Blocks finalized since start.", c.blocks_finalized);
    m.counter("iotw_txs_finalized_total", "Transactions included in finalized blocks since start.", c.txs_finalized);
    m.counter("iotw_txs_accepted_total", "Transactions stored (HTTP and usage) since start.", c.txs_accepted);
    m.counter("iotw_txs_rejected_total", "Invalid or duplicate transaction submissions since start.", c.txs_rejected);
    m.counter("iotw_usage_accepted_total", "Usage reports accepted since start.", c.usage_accepted);
    m.counter("iotw_usage_rejected_total", "Usage reports refused since start.", c.usage_rejected);
    m.counter("iotw_rewards_credited_total", "IOTW base units credited since start.", c.rewards_credited);
    m.counter("iotw_attestations_rejected_total", "Attestations ignored (bad signature, non-witness, ...).",
              c.attestations_rejected);
    m.counter("iotw_attestations_wrong_hash_total",
              "Faulty witnesses blacklisted: attestation signed over another block hash.", c.attestations_wrong_hash);
    m.counter("iotw_attestations_equivocation_total",
              "Faulty witnesses blacklisted: two different attestations signed for one round.",
              c.attestations_equivocation);
    m.counter("iotw_attestations_replayed_total",
              "Attestations dropped (no blame): an earlier round's attestation replayed.", c.attestations_replayed);
    m.counter("iotw_attestations_bad_signature_total",
              "Attestations dropped (no blame): not verifying under the registered key (forged or spoofed).",
              c.attestations_bad_signature);
    m.counter("iotw_identity_conflicts_total", "Registrations refused: key attached on another link (clone).",
              c.identity_conflicts);
    m.counter("iotw_duplicate_names_total", "Registrations refused: name held by another attached key.",
              c.duplicate_names);
    m.counter("iotw_boot_count_regressions_total", "Registrations whose boot_count was below the last one (flagged).",
              c.boot_count_regressions);
    m.counter("iotw_witnesses_silent_total", "Witness deadlines missed (each costs reputation).", c.witnesses_silent);
    m.counter("iotw_results_rejected_total", "Results rejected (wrong hash, bad signature, timeout).", c.results_rejected);
    m.counter("iotw_registrations_rejected_total", "Registrations refused.", c.registrations_rejected);
    m.counter("iotw_messages_rejected_total", "Device messages answered with Error.", c.messages_rejected);
    m.counter("iotw_vrf_claims_accepted_total", "VRF claims whose proof verified (selection = vrf).",
              c.vrf_claims_accepted);
    m.counter("iotw_vrf_claims_rejected_total", "VRF claims refused (bad proof, wrong round, not asked, duplicate).",
              c.vrf_claims_rejected);
    m.counter("iotw_vrf_fallbacks_total", "Claim windows closed without a valid claim (uniform fallback).",
              c.vrf_fallbacks);
    m.counter("iotw_checkpoints_sent_total", "Signed checkpoints sent to devices (light verification).",
              c.checkpoints_sent);
    m.counter("iotw_frame_errors_total", "Frames dropped (CRC, COBS, overflow, decode).", frame_errors_);
    m.counter("iotw_http_rejected_total", "HTTP requests answered with an error status.", http_rejected_.load());
    return m.text();
  }

  static constexpr int tick_ms = 5;
  const NodeConfig &cfg_;
  EventWriter events_;
  SystemClock clock_;
  SeededRandom rng_;
  SqliteLedger ledger_;
  asio::io_context io_;
  TrustNodeCore core_;
  asio::steady_timer tick_;
  asio::signal_set signals_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::vector<std::unique_ptr<SerialLink>> serial_;
  std::unique_ptr<UdpLink> udp_;
  std::unique_ptr<TcpListener> tcp_;
  std::map<uint32_t, PayloadSender> senders_;
  std::map<uint32_t, std::string> names_;
  uint32_t next_link_ = 1;
  uint64_t frame_errors_ = 0;
  std::atomic<uint64_t> http_rejected_{0};  ///< written on the HTTP threads
  std::mutex intake_mu_;
  std::vector<Intake *> intake_;  ///< guarded by intake_mu_
  bool intake_posted_ = false;    ///< a commit_intake task is queued (guarded by intake_mu_)
  bool stopping_ = false;
  httplib::Server http_;
  std::thread http_thread_;
};

}  // namespace

EventWriter::EventWriter(const std::string &path)
    : out_(path.empty() ? stdout : std::fopen(path.c_str(), "a")), owned_(!path.empty()) {
  if (!out_) throw std::runtime_error("cannot open events file " + path + ": " + std::strerror(errno));
}

EventWriter::~EventWriter() {
  if (owned_) std::fclose(out_);
}

void EventWriter::write(std::string_view kind, const nlohmann::json &fields) {
  write_serialized(kind, fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void EventWriter::write_serialized(std::string_view kind, std::string_view fields_json) {
  // Same bytes as dumping {"time_ms","source","kind","fields"} (nlohmann sorts keys; kind is snake_case,
  // so it needs no escaping), without building and destroying the wrapper object per line.
  std::string s;
  s.reserve(fields_json.size() + kind.size() + 80);
  s += "{\"fields\":";
  s += fields_json;
  s += ",\"kind\":\"";
  s += kind;
  s += "\",\"source\":\"trust-node\",\"time_ms\":";
  s += std::to_string(wall_ms());
  s += "}\n";
  std::fwrite(s.data(), 1, s.size(), out_);
  if (held_ == 0) std::fflush(out_);
}

std::array<uint8_t, 32> load_or_create_node_key(const std::string &path) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium init failed");
  std::array<uint8_t, 32> seed{};
  if (path.empty()) {
    randombytes_buf(seed.data(), seed.size());
    return seed;
  }
  if (!std::filesystem::exists(path)) {
    // First start: write a fresh key to a temporary file, fsync it, then link(2) it into place, so the key file
    // either does not exist or is complete even if the process is killed half-way (SIGKILL durability test).
    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot create node key " + tmp + ": " + std::strerror(errno));
    randombytes_buf(seed.data(), seed.size());
    const bool ok = ::write(fd, seed.data(), seed.size()) == static_cast<ssize_t>(seed.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) {
      ::unlink(tmp.c_str());
      throw std::runtime_error("cannot write node key " + tmp);
    }
    const int linked = ::link(tmp.c_str(), path.c_str());
    const int link_errno = errno;
    ::unlink(tmp.c_str());
    if (linked == 0) return seed;
    if (link_errno != EEXIST)
      throw std::runtime_error("cannot create node key " + path + ": " + std::strerror(link_errno));
    // another process created it first: use that one
  }
  std::ifstream f(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (!f.good() && !f.eof()) throw std::runtime_error("cannot read node key " + path);
  if (bytes.size() != seed.size())
    throw std::runtime_error("node key " + path + " must be exactly 32 bytes (an Ed25519 seed), has " +
                             std::to_string(bytes.size()));
  std::memcpy(seed.data(), bytes.data(), seed.size());
  return seed;
}

int run_daemon(const NodeConfig &cfg) { return Daemon(cfg).run(); }

void export_ledger(const std::string &db_path, const std::string &out_path) {
  SqliteLedger ledger(db_path);
  std::ofstream out(out_path, std::ios::trunc);
  if (!out) throw std::runtime_error("cannot write " + out_path);
  for (uint64_t from = 0;; from += 1000) {
    const std::vector<Block> page = ledger.blocks(from, 1000);
    for (const Block &b : page) out << block_to_json(b).dump() << "\n";
    if (page.size() < 1000) break;
  }
  if (!out.flush()) throw std::runtime_error("cannot write " + out_path);
}

}  // namespace iotw::tn
