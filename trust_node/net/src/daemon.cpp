#include "iotw/trust_node/daemon.hpp"

#include <cerrno>
#include <chrono>
#include <utility>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include "iotw/exit_code.hpp"
#include "iotw/message_codec.h"
#include "iotw/trust_node/admission.hpp"
#include "iotw/trust_node/http_server.hpp"
#include "iotw/trust_node/links.hpp"
#include "iotw/trust_node/metrics.hpp"
#include "iotw/trust_node/etcd_client.hpp"
#include "iotw/trust_node/etcd_leadership.hpp"
#include "iotw/trust_node/mesh_role.hpp"
#include "iotw/trust_node/etcd_ledger.hpp"
#include "iotw/trust_node/sqlite_ledger.hpp"
#include "iotw/trust_node/tx_request.hpp"
#include "iotw/support/seeded_random.hpp"

namespace iotw::tn {
namespace asio = boost::asio;

namespace {

uint64_t wall_ms() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

/** The selection generator and registration nonces: the rig's one randomness source (iotw/support/seeded_random.hpp),
 *  the ChaCha20 stream of component_seed(seed, "trust_node:select"), 8 bytes LE per draw (docs/trust-node.md). */
struct SeededRandom final : Random {
  explicit SeededRandom(uint64_t seed) : stream(iotw::component_seed(seed, "trust_node:select")) {}
  uint64_t next_u64() override { return stream(); }
  iotw::SeededStream stream;
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

/** Flood-prone events (docs/events.md "Aggregated events"): per (kind, link, error or reason), the first event of a one-second
 *  window is written at once; the further ones are counted and written as one line of the same kind, with the
 *  last one's fields plus "count" (how many it stands for), when the window closes. At most per_kind_windows
 *  links of one kind have a window open at once (a small allowance: a handful of links per second are named);
 *  events of further links go to one window per kind and cause whose line has link "*". So a flood from many
 *  sources (new UDP source addresses, TCP connections, bad frames) writes about 2 x (per_kind_windows + causes)
 *  lines per kind and second, whatever its rate. */
class FloodEvents {
 public:
  static constexpr size_t per_kind_windows = 16;
  static constexpr uint64_t window_ms = 1000;
  static bool is_flood_kind(std::string_view kind) {
    return kind == "frame_error" || kind == "registration_rejected" || kind == "registration_refused" ||
           kind == "udp_peer_refused" || kind == "link_rejected" || kind == "link_opened" || kind == "link_closed";
  }
  explicit FloodEvents(EventWriter &w) : w_(w) {}

  void add(std::string_view kind, nlohmann::json fields, uint64_t now_ms) {
    auto str = [&](const char *k) {
      const auto it = fields.find(k);
      return it != fields.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    // The window's key: kind, link and the error or reason (each distinct cause shows up at once).
    const std::string cause = str("error") + str("reason");
    std::string key = std::string(kind) + '\n' + str("link") + '\n' + cause;
    auto it = open_.find(key);
    if (it == open_.end() && named_windows(kind) >= per_kind_windows) {
      fields["link"] = "*";
      key = std::string(kind) + "\n*\n" + cause;
      it = open_.try_emplace(key, Window{std::string(kind), now_ms, 0, {}, false}).first;
    }
    if (it == open_.end()) {
      open_.emplace(std::move(key), Window{std::string(kind), now_ms, 0, {}, true});
      ++named_[std::string(kind)];
      w_.write(kind, fields);
      return;
    }
    ++it->second.suppressed;
    it->second.last = std::move(fields);
  }

  /** Closes the windows older than window_ms (all of them with all = true), writing their count lines. */
  void flush(uint64_t now_ms, bool all) {
    for (auto it = open_.begin(); it != open_.end();) {
      if (!all && now_ms - it->second.start_ms < window_ms) {
        ++it;
        continue;
      }
      if (it->second.suppressed) {
        nlohmann::json f = std::move(it->second.last);
        f["count"] = it->second.suppressed;
        w_.write(it->second.kind, f);
      }
      if (it->second.named && --named_[it->second.kind] == 0) named_.erase(it->second.kind);
      it = open_.erase(it);
    }
  }

 private:
  struct Window {
    std::string kind;
    uint64_t start_ms;
    uint64_t suppressed;
    nlohmann::json last;
    bool named;  ///< a link's own window (not the "*" one)
  };
  size_t named_windows(std::string_view kind) const {
    const auto it = named_.find(kind);
    return it == named_.end() ? 0 : it->second;
  }
  EventWriter &w_;
  std::map<std::string, Window> open_;  ///< by kind, link and cause
  std::map<std::string, size_t, std::less<>> named_;  ///< kind -> its open windows of a named link
};

std::string dump(const nlohmann::json &j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

/** The query parameters of a request-target (after '?'): name -> value, not percent-decoded (every parameter
 *  the API reads is a decimal number). nullopt if a name repeats. */
std::optional<std::map<std::string_view, std::string_view>> query_params(std::string_view query) {
  std::map<std::string_view, std::string_view> out;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    const std::string_view k = part.substr(0, eq), v = eq == std::string_view::npos ? "" : part.substr(eq + 1);
    if (!out.emplace(k, v).second) return std::nullopt;
  }
  return out;
}

class Daemon final : public CoreSink, public LinkHost, public MeshRole::Host {
 public:
  explicit Daemon(const NodeConfig &cfg)
      : cfg_(cfg), events_(cfg.events), flood_(events_), rng_(cfg.seed), consensus_(with_node_key(cfg)),
        ledger_(open_ledger()), tick_(io_), flood_timer_(io_), mesh_timer_(io_), signals_(io_, SIGINT, SIGTERM),
        work_(asio::make_work_guard(io_)), admission_(cfg.admission),
        pool_(std::max(2u, std::thread::hardware_concurrency())) {
    build_core();
    if (cfg_.mesh) {  // a mesh node assigns only once it holds the leadership
      core_->set_assigning(false);
      mesh_ = std::make_unique<MeshRole>(cfg_.mesh->node_id, cfg_.mesh->lease_ttl_s, cfg_.consensus.device_timeout_ms,
                                         *this);
    }
  }

  ~Daemon() override { stop_mesh_agent(); }

  int run() {
    nlohmann::json started{{"seed", cfg_.seed}, {"height", core_->height()}, {"db", cfg_.db},
                           {"node_pubkey", to_hex(*core_->node_pubkey())}};
    if (etcd_) started["store"] = {{"kind", "etcd"}, {"endpoints", cfg_.store.endpoints}, {"prefix", cfg_.store.prefix}};
    if (cfg_.mesh) started["mesh"] = {{"node_id", cfg_.mesh->node_id}, {"lease_ttl_s", cfg_.mesh->lease_ttl_s}};
    events_.write("node_started", started);
    spdlog::info("started: {}, height {}, seed {}, events {}",
                 etcd_ ? "etcd " + cfg_.store.prefix : "db " + cfg_.db, core_->height(), cfg_.seed, cfg_.events);
    if (cfg_.mesh) {
      write_event("mesh_role", {{"node_id", cfg_.mesh->node_id}, {"role", "standby"}, {"leader", ""},
                                {"reason", "started"}, {"height", core_->height()}});
      start_mesh_agent();
      schedule_mesh_check();
    }
    for (const SerialConfig &s : cfg_.serial) {
      spdlog::debug("serial link {} at {} baud", s.path, s.baud);
      serial_.push_back(std::make_unique<SerialLink>(io_, s, *this));
    }
    for (auto &s : serial_) s->start();
    if (cfg_.udp) {
      UdpLimits limits = cfg_.udp_limits;
      if (limits.peer_idle_ms == 0) limits.peer_idle_ms = 2 * cfg_.consensus.device_timeout_ms;
      udp_ = std::make_unique<UdpLink>(io_, *cfg_.udp, limits, *this);
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
    schedule_flood_flush();
    try {
      io_.run();
    } catch (const std::exception &e) {  // a storage failure: the WAL keeps the db consistent; exit now
      events_.write("node_stopping", {{"reason", std::string("error: ") + e.what()}});
      spdlog::critical("fatal: {}", e.what());
      std::fflush(nullptr);
      std::_Exit(kExitCouldNotRun);
    }
    pool_.join();
    flood_.flush(wall_ms(), true);
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
  void event(std::string_view kind, nlohmann::json fields) override { write_event(kind, std::move(fields)); }
  void event_serialized(std::string_view kind, const std::string &fields_json) override {
    events_.write_serialized(kind, fields_json);
  }

  // LinkHost
  uint32_t new_link_id() override { return next_link_++; }
  void link_up(uint32_t id, const std::string &name, PayloadSender send) override {
    senders_[id] = std::move(send);
    names_[id] = name;
    core_->link_opened(id, name);
    write_event("link_opened", {{"link", name}});
  }
  void link_down(uint32_t id) override {
    auto it = names_.find(id);
    if (it != names_.end()) admission_.forget(it->second);
    senders_.erase(id);
    names_.erase(id);
    core_->link_closed(id);
  }
  void payload(uint32_t id, const uint8_t *p, size_t n) override {
    iotw_v1_Envelope env;
    if (iotw_msg_decode(p, n, &env) != 0) {
      ++frame_errors_;
      write_event("frame_error", {{"link", link_name(id)}, {"error", "decode"}});
      return;
    }
    if (env.which_body == iotw_v1_Envelope_hello_tag && core_->assigning() && !admit_hello(id, env.body.hello)) return;
    mesh_guard([&] { core_->on_message(id, env); });
    if (core_->registrations_to_commit() && !commit_posted_) {  // after the datagrams read with this one
      commit_posted_ = true;
      asio::post(io_, [this] {
        commit_posted_ = false;
        mesh_guard([&] { core_->commit_registrations(); });
      });
    }
  }
  void link_event(std::string_view kind, nlohmann::json fields) override {
    if (kind == "frame_error") ++frame_errors_;
    write_event(kind, std::move(fields));
  }

 private:
  std::string link_name(uint32_t id) const {
    auto it = names_.find(id);
    return it == names_.end() ? "link:" + std::to_string(id) : it->second;
  }

  void write_event(std::string_view kind, nlohmann::json fields) {
    if (FloodEvents::is_flood_kind(kind)) return flood_.add(kind, std::move(fields), wall_ms());
    events_.write(kind, fields);
  }

  /** Registration admission ([registration], docs/trust-node.md): a refused Hello is dropped unanswered. */
  bool admit_hello(uint32_t id, const iotw_v1_Hello &h) {
    Key key{};
    std::memcpy(key.data(), h.pubkey, key.size());
    const std::string name = link_name(id);
    const auto v = admission_.check(name, core_->knows_device(key), core_->device_count(),
                                    core_->registrations_in_progress(), steady_ms(), core_->registration_open(id));
    if (v == RegistrationAdmission::Verdict::admit) return true;
    ++registrations_refused_;
    write_event("registration_refused",
                {{"link", name}, {"device", to_hex(key)}, {"reason", RegistrationAdmission::reason(v)}});
    return false;
  }

  static uint64_t steady_ms() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
  }

  void schedule_tick() {
    tick_.expires_after(std::chrono::milliseconds(tick_ms));
    tick_.async_wait([this](boost::system::error_code ec) {
      if (ec || stopping_) return;
      mesh_guard([&] { core_->tick(); });
      schedule_tick();
    });
  }

  void schedule_flood_flush() {
    flood_timer_.expires_after(std::chrono::milliseconds(250));
    flood_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec || stopping_) return;
      flood_.flush(wall_ms(), false);
      schedule_flood_flush();
    });
  }

  void stop(const char *reason) {
    if (stopping_) return;
    stopping_ = true;
    flood_.flush(wall_ms(), true);
    events_.write("node_stopping", {{"reason", reason}});
    spdlog::info("stopping: {}", reason);
    tick_.cancel();
    flood_timer_.cancel();
    signals_.cancel();
    mesh_timer_.cancel();
    {
      std::lock_guard<std::mutex> lk(agent_mu_);  // the agent resigns the leadership and ends (joined in ~Daemon)
      agent_stop_ = true;
    }
    agent_cv_.notify_all();
    for (auto &s : serial_) s->close();
    if (udp_) udp_->close();
    if (tcp_) tcp_->close();
    if (http_) http_->stop();  // requests in progress are still answered: their work keeps io_.run() going
    work_.reset();
  }

  /** Group commit: worker threads parse and hash transactions and post them to the io thread, which queues
   *  them here; one io task takes everything queued and stores it with one submit_batch (one SQLite
   *  transaction, one fsync), then answers each request with its share of the results. Requests that arrive
   *  while a commit runs form the next group. */
  /** How a request's transactions came and how its answer goes: one JSON tx, a JSON batch, a binary batch. */
  enum class Form { single, batch, binary };
  struct Intake {
    std::vector<TxRequest> reqs;
    Form form;
    HttpServer::Respond respond;
  };

  void queue_intake(Intake in) {
    intake_.push_back(std::move(in));
    if (!intake_posted_) {
      intake_posted_ = true;
      asio::post(io_, [this] { commit_intake(); });
    }
  }

  void commit_intake() {
    std::vector<Intake> group;
    group.swap(intake_);
    intake_posted_ = false;
    std::vector<TxRequest> all;
    if (group.size() == 1) {
      all = std::move(group[0].reqs);
    } else {
      size_t n = 0;
      for (const Intake &in : group) n += in.reqs.size();
      all.reserve(n);
      for (Intake &in : group) std::move(in.reqs.begin(), in.reqs.end(), std::back_inserter(all));
    }
    std::vector<SubmitResult> rs;
    try {
      EventWriter::Hold hold(events_);  // the group's events are flushed once, before any request is answered
      rs = core_->submit_batch(std::move(all));
    } catch (const std::exception &e) {  // nothing of the group was stored: every request learns it
      for (Intake &in : group) {
        ++http_rejected_;
        in.respond(500, dump({{"error", e.what()}}), "application/json");
      }
      return;
    }
    size_t at = 0;
    for (Intake &in : group) {
      const size_t n = group.size() == 1 ? rs.size() : in.reqs.size();
      const auto first = rs.begin() + static_cast<std::ptrdiff_t>(at);
      at += n;
      if (in.form != Form::single) {
        std::vector<SubmitResult> mine(std::make_move_iterator(first),
                                       std::make_move_iterator(first + static_cast<std::ptrdiff_t>(n)));
        if (in.form == Form::binary) in.respond(202, tx_batch_binary_reply(mine), tx_batch_media_type);
        else in.respond(202, batch_reply(mine), "application/json");
        continue;
      }
      const SubmitResult &r = *first;
      switch (r.status) {
        case SubmitResult::accepted:
          in.respond(202, dump({{"hash", to_hex(r.hash)}, {"status", "pending"}}), "application/json");
          break;
        case SubmitResult::duplicate:
          in.respond(409, dump({{"error", r.error}, {"hash", to_hex(r.hash)}}), "application/json");
          break;
        case SubmitResult::invalid:
          ++http_rejected_;
          in.respond(400, dump({{"error", r.error}}), "application/json");
          break;
      }
    }
  }

  /** POST /v1/transactions and /v1/transactions/batch: parsed and hashed on a worker thread; the io thread
   *  stores (group commit) and answers. The work guard keeps io_.run() alive until the request is answered. */
  void post_transactions(std::string body, HttpServer::Respond respond, Form form) {
    asio::post(pool_, [this, body = std::move(body), respond = std::move(respond), form,
                       guard = asio::make_work_guard(io_)]() mutable {
      const size_t depth = cfg_.http_limits.max_json_depth;
      std::vector<TxRequest> reqs;
      if (form == Form::binary) {
        auto parsed = parse_tx_batch_binary(body);
        if (auto *e = std::get_if<TxParseError>(&parsed)) return refuse(respond, 400, e->message);
        reqs = std::move(std::get<std::vector<TxRequest>>(parsed));
      } else if (form == Form::batch) {
        auto parsed = parse_tx_batch(body, depth);
        if (auto *e = std::get_if<TxParseError>(&parsed)) return refuse(respond, 400, e->message);
        reqs = std::move(std::get<std::vector<TxRequest>>(parsed));
      } else {
        auto parsed = parse_tx_request(body, depth);
        if (auto *e = std::get_if<TxParseError>(&parsed))
          return refuse(respond, 400, "body must be {\"payload\": \"<UTF-8 text, 1..4096 bytes>\"} "
                                      "(optionally with pubkey, signature): " + e->message);
        reqs.push_back(std::move(std::get<TxRequest>(parsed)));
      }
      asio::post(io_, [this, reqs = std::move(reqs), respond = std::move(respond), form]() mutable {
        queue_intake(Intake{std::move(reqs), form, std::move(respond)});
      });
    });
  }

  /** An error answer of the API (any thread). */
  void refuse(const HttpServer::Respond &respond, unsigned status, const std::string &error) {
    ++http_rejected_;
    respond(status, dump({{"error", error}}), "application/json");
  }

  void start_http() {
    http_ = std::make_unique<HttpServer>(
        io_, *cfg_.http, cfg_.http_limits,
        [this](HttpServer::Request &&req, HttpServer::Respond respond) {
          try {
            route(std::move(req), respond);
          } catch (const std::exception &e) {
            refuse(respond, 500, e.what());
          }
        },
        [this](std::string_view target) {
          return target.substr(0, target.find('?')) == "/v1/transactions" ? max_tx_body
                                                                           : cfg_.http_limits.max_body_bytes;
        });
    const ListenConfig &l = *cfg_.http;
    if (!l.port_file.empty()) write_port_file(l.port_file, http_->port());
    events_.write("http_listening", {{"port", http_->port()}});
    spdlog::info("listening: HTTP {}:{}", l.host, http_->port());
    http_->start();
  }

  /** The API (docs/trust-node.md "HTTP API"); runs on the io thread. */
  void route(HttpServer::Request &&req, const HttpServer::Respond &respond) {
    namespace http = boost::beast::http;
    const std::string_view target = req.target();
    const size_t q = target.find('?');
    const std::string_view path = target.substr(0, q);
    const std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
    const http::verb m = req.method();
    auto json = [&](const nlohmann::json &body) { respond(200, dump(body), "application/json"); };
    auto segment = [&](std::string_view prefix, std::string_view suffix) -> std::optional<std::string_view> {
      if (path.size() <= prefix.size() + suffix.size() || path.substr(0, prefix.size()) != prefix ||
          path.substr(path.size() - suffix.size()) != suffix)
        return std::nullopt;
      const std::string_view mid = path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
      if (mid.find('/') != std::string_view::npos) return std::nullopt;
      return mid;
    };

    if (m == http::verb::post && path == "/v1/transactions")
      return post_transactions(std::move(req.body()), respond, Form::single);
    if (m == http::verb::post && path == "/v1/transactions/batch") {
      // The media type picks the encoding (its parameters, e.g. "; charset", are ignored).
      const std::string_view type = req[http::field::content_type];
      const bool binary = type.substr(0, type.find(';')) == tx_batch_media_type;
      return post_transactions(std::move(req.body()), respond, binary ? Form::binary : Form::batch);
    }
    if (m == http::verb::get && path == "/v1/balances")
      return json({{"unit", "IOTW base unit"}, {"balances", core_->balances_json()}});
    if (m == http::verb::get && path == "/v1/blacklist") return json({{"blacklist", core_->blacklist_json()}});
    if (m == http::verb::get && path == "/v1/devices") return json({{"devices", core_->devices_json()}});
    if (m == http::verb::get && path == "/v1/health") return json(health_json());
    if (m == http::verb::get && path == "/metrics")
      return respond(200, metrics_text(), "text/plain; version=0.0.4; charset=utf-8");
    if (m == http::verb::get && path == "/v1/blocks") return blocks(query, respond);
    if (m == http::verb::get && path == "/v1/tip") {  // the signed tip (docs/protocol.md §8): fetch it first
      const auto tip = core_->signed_tip();
      if (!tip) return refuse(respond, 404, "no node key: the tip cannot be signed");
      return json(tip_to_json(*tip));
    }
    if (const auto dev = segment("/v1/balances/", ""); m == http::verb::get && dev) {
      const auto key = from_hex<32>(std::string(*dev));
      if (!key) return refuse(respond, 400, "device must be a 64-hex-digit public key");
      return json({{"device", to_hex(*key)}, {"balance", core_->balance(*key)}});
    }
    if (const auto dev = segment("/v1/blacklist/", "/lift"); m == http::verb::post && dev) {
      const std::string &token = cfg_.http->operator_token;
      if (!token.empty() && req[http::field::authorization] != "Bearer " + token)
        return refuse(respond, 401, "operator token required (Authorization: Bearer <[http] operator_token>)");
      const auto key = from_hex<32>(std::string(*dev));
      if (!key) return refuse(respond, 400, "device must be a 64-hex-digit public key");
      if (!core_->lift_blacklist(*key)) return refuse(respond, 404, "device is not blacklisted");
      return json({{"device", to_hex(*key)}, {"lifted", true}});
    }
    refuse(respond, 404, "not found");
  }

  /** GET /v1/blocks?from=H&limit=L: both in 0..2^63-1 (the ledger's heights are SQLite integers). */
  void blocks(std::string_view query, const HttpServer::Respond &respond) {
    const auto params = query_params(query);
    auto param = [&](std::string_view k, uint64_t dflt) -> std::optional<uint64_t> {
      const auto it = params->find(k);
      if (it == params->end()) return dflt;
      const auto v = parse_u64(std::string(it->second));
      if (!v || *v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
      return v;
    };
    if (!params) return refuse(respond, 400, "from and limit may be given once each");
    const auto from = param("from", 0), limit = param("limit", 100);
    if (!from || !limit) return refuse(respond, 400, "from and limit must be integers in 0..9223372036854775807");
    const uint64_t n = std::min<uint64_t>(*limit, 1000);
    // One block at a time into the answer: a block's JSON is ~3 times its txs' bytes.
    std::string body = "{\"blocks\":[";
    const std::vector<Block> page = block_page(*ledger_, *from, n);
    for (size_t i = 0; i < page.size(); ++i) body += (i ? "," : "") + dump(block_to_json(page[i]));
    body += "],\"next\":" + std::to_string(*from + page.size()) + "}";
    respond(200, std::move(body), "application/json");
  }

  /** The tip height: the core's, or for a mesh standby (its core does not follow the chain) the store's, falling
   *  back to the core's when etcd does not answer. */
  uint64_t height() const {
    if (!cfg_.mesh || mesh_->role() != "standby") return core_->height();  // stale: etcd may not answer
    try {
      const uint64_t n = ledger_->block_count();
      return n ? n - 1 : 0;
    } catch (const LedgerError &) {
      return core_->height();
    }
  }

  nlohmann::json health_json() const {
    const CoreCounters &c = core_->counters();
    nlohmann::json j{{"status", "ok"},
                          {"height", height()},
                          {"devices_attached", core_->attached_count()},
                          {"devices_blacklisted", core_->blacklisted_count()},
                          {"pending_txs", core_->pending_count()},
                          {"rounds", c.rounds},
                          {"attestations_rejected", c.attestations_rejected},
                          {"attestations_wrong_hash", c.attestations_wrong_hash},
                          {"attestations_replayed", c.attestations_replayed},
                          {"attestations_bad_signature", c.attestations_bad_signature},
                          {"results_rejected", c.results_rejected},
                          {"registrations_rejected", c.registrations_rejected},
                          {"registrations_refused", registrations_refused_},
                          {"messages_rejected", c.messages_rejected},
                          {"frame_errors", frame_errors_},
                          {"usage_accepted", c.usage_accepted},
                          {"usage_rejected", c.usage_rejected},
                          {"vrf_claims_accepted", c.vrf_claims_accepted},
                          {"vrf_claims_rejected", c.vrf_claims_rejected},
                          {"vrf_fallbacks", c.vrf_fallbacks},
                          {"checkpoints_sent", c.checkpoints_sent},
                          {"node_pubkey", to_hex(*core_->node_pubkey())},
                          {"http_rejected", http_rejected_total()}};
    if (cfg_.mesh) {
      j["mesh"] = mesh_json();
      j["not_assigning"] = c.not_assigning;
      j["pending_absorbed"] = c.pending_absorbed;
    }
    return j;
  }

  uint64_t http_rejected_total() const { return http_rejected_.load() + (http_ ? http_->stats().rejected : 0); }

  std::string metrics_text() {
    const CoreCounters &c = core_->counters();
    Metrics m;
    m.gauge("iotw_height", "Height of the chain tip.", height());
    if (cfg_.mesh) {
      m.gauge("iotw_mesh_assigning", "1 while this trust node assigns the mesh's jobs (holds the leadership).",
              mesh_->assigning() ? 1 : 0);
      m.counter("iotw_mesh_role_changes_total", "Mesh role changes (assigning, standby, stale) since start.",
                mesh_->changes());
      m.counter("iotw_mesh_not_assigning_total", "Device messages answered with Error 6 (not assigning).",
                c.not_assigning);
      m.counter("iotw_mesh_pending_absorbed_total", "Pending txs taken over from other trust nodes' intake.",
                c.pending_absorbed);
    }
    m.gauge("iotw_devices_attached", "Devices attached now.", core_->attached_count());
    m.gauge("iotw_devices_registered", "Devices in the registry.", core_->device_count());
    m.gauge("iotw_devices_blacklisted", "Devices on the blacklist (not lifted).", core_->blacklisted_count());
    m.gauge("iotw_pending_txs", "Transactions stored but not yet in a block.", core_->pending_count());
    m.gauge("iotw_registrations_in_progress", "Registrations open (Challenge sent, no Prove yet).",
            core_->registrations_in_progress());
    m.gauge("iotw_udp_peers", "UDP source addresses in the peer table now.", udp_ ? udp_->peers() : 0);
    const HttpServer::Stats hs = http_ ? http_->stats() : HttpServer::Stats{};
    m.gauge("iotw_http_connections", "HTTP connections open now.", hs.connections);
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
    m.counter("iotw_registrations_refused_total",
              "Hellos dropped by registration admission (device cap, registrations in progress, source rate).",
              registrations_refused_);
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
    m.counter("iotw_udp_peers_pruned_total", "UDP peers removed after peer_idle_ms without a datagram.",
              udp_ ? udp_->pruned() : 0);
    m.counter("iotw_udp_peers_refused_total", "Datagrams from new UDP sources dropped: peer table full.",
              udp_ ? udp_->refused() : 0);
    m.counter("iotw_http_rejected_total", "HTTP requests answered with an error status.", http_rejected_total());
    m.counter("iotw_http_connections_refused_total", "HTTP connections over max_connections (answered 503).",
              hs.refused);
    m.counter("iotw_http_timeouts_total", "HTTP connections closed by a header, body or write deadline.",
              hs.timeouts);
    return m.text();
  }

  // ---- the store and the mesh (docs/trust-node.md "Mesh") ----

  std::unique_ptr<Ledger> open_ledger() {
    if (cfg_.store.kind == StoreConfig::Kind::sqlite) return std::make_unique<SqliteLedger>(cfg_.db);
    etcd_ = std::make_unique<EtcdClient>(cfg_.store.endpoints, std::chrono::milliseconds(cfg_.store.timeout_ms));
    auto l = std::make_unique<EtcdLedger>(*etcd_, cfg_.store.prefix);
    etcd_ledger_ = l.get();
    return l;
  }

  /** (Re)builds the core from the store: at start, and when this node takes over the job assignment (the core then
   *  sees the tip, pending txs, devices, blacklist and balances the previous leader left). Two nodes of a mesh
   *  starting on an empty store both try to write genesis: the loser's append fails on the tip compare and it
   *  reads the winner's. */
  void build_core() {
    std::unique_ptr<TrustNodeCore> core;  // the old core stays until the new one is built (a takeover may fail)
    for (int attempt = 0;; ++attempt) {
      try {
        core = std::make_unique<TrustNodeCore>(consensus_, *ledger_, clock_, rng_, *this);
        core->set_batched_registrations(true);  // one store commit per burst of registrations
        break;
      } catch (const LedgerConflict &) {
        if (attempt >= 3) throw;
      }
    }
    core_ = std::move(core);
    for (const auto &[id, name] : names_) core_->link_opened(id, name);
  }

  /** Runs f (core work) and, in a mesh, turns a storage failure into a step down instead of an exit: a fenced
   *  append (another node holds the leadership, LedgerConflict) or an unreachable etcd (EtcdError) makes this
   *  node's view stale; it stops assigning and lets the leadership agent decide again. */
  template <class F>
  void mesh_guard(F &&f) {
    if (!cfg_.mesh) return f();
    try {
      f();
    } catch (const LedgerError &e) {
      mesh_->on_store_error(e.what());
    }
  }

  // ---- MeshRole::Host (the io thread) ----
  void take_over(const std::vector<EtcdCompare> &fence) override {
    etcd_ledger_->set_fence(fence);
    build_core();
    core_->set_assigning(true);
  }
  void stand_down(bool clear_fence) override {
    if (clear_fence) etcd_ledger_->set_fence({});
    if (core_) core_->set_assigning(false);
  }
  std::size_t attached_count() override { return core_->attached_count(); }
  void hand_over() override {
    resign_requested_ = true;
    agent_cv_.notify_all();
  }
  void role_changed(const std::string &role, const std::string &leader, const std::string &reason) override {
    spdlog::info("mesh: {} (leader {}, {})", role, leader.empty() ? "none" : leader, reason);
    write_event("mesh_role", {{"node_id", cfg_.mesh->node_id}, {"role", role}, {"leader", leader},
                              {"reason", reason}, {"height", core_->height()}});
  }

  /** On the io thread, independent of the agent (which may be blocked in a request): MeshRole::check every 50 ms. */
  void schedule_mesh_check() {
    mesh_timer_.expires_after(std::chrono::milliseconds(50));
    mesh_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec || stopping_) return;
      mesh_->check(wall_ms());
      schedule_mesh_check();
    });
  }

  /** The leadership agent: its own thread and etcd client, one MeshCampaign::step every lease_ttl_s / 3 (at once
   *  when the role asks to hand over); each view goes to MeshRole::on_view on the io thread. */
  void start_mesh_agent() {
    const uint64_t ttl_ms = uint64_t{cfg_.mesh->lease_ttl_s} * 1000;
    agent_ = std::thread([this, ttl_ms] {
      EtcdClient client(cfg_.store.endpoints,
                        std::chrono::milliseconds(std::min<uint64_t>(cfg_.store.timeout_ms, ttl_ms / 4)));
      SystemClock clock;  // wall_ms()'s
      MeshCampaign campaign(client, cfg_.store.prefix + "leader", cfg_.mesh->node_id, cfg_.mesh->lease_ttl_s, clock);
      std::unique_lock<std::mutex> lk(agent_mu_);
      while (!agent_stop_) {
        lk.unlock();
        MeshView v = campaign.step(resign_requested_.exchange(false));
        asio::post(io_, [this, v = std::move(v)] {
          if (!stopping_) mesh_->on_view(v, wall_ms());
        });
        lk.lock();
        agent_cv_.wait_for(lk, std::chrono::milliseconds(ttl_ms / 3),
                           [this] { return agent_stop_ || resign_requested_.load(); });
      }
      lk.unlock();
      campaign.resign();  // a clean stop hands the leadership over at once instead of after the lease
    });
  }

  void stop_mesh_agent() {
    {
      std::lock_guard<std::mutex> lk(agent_mu_);
      agent_stop_ = true;
    }
    agent_cv_.notify_all();
    if (agent_.joinable()) agent_.join();
  }

  nlohmann::json mesh_json() const {
    return {{"node_id", cfg_.mesh->node_id}, {"role", mesh_->role()}, {"leader", mesh_->leader()}};
  }

  static constexpr int tick_ms = 5;
  const NodeConfig &cfg_;
  EventWriter events_;
  FloodEvents flood_;
  SystemClock clock_;
  SeededRandom rng_;
  ConsensusConfig consensus_;
  std::unique_ptr<EtcdClient> etcd_;  ///< [store] kind = "etcd" (io thread only)
  EtcdLedger *etcd_ledger_ = nullptr; ///< ledger_ when it is the etcd store
  std::unique_ptr<Ledger> ledger_;
  asio::io_context io_;
  std::unique_ptr<TrustNodeCore> core_;
  asio::steady_timer tick_;
  asio::steady_timer flood_timer_;
  asio::steady_timer mesh_timer_;
  std::unique_ptr<MeshRole> mesh_;  ///< [mesh] only: this node's role (io thread)
  std::thread agent_;
  std::mutex agent_mu_;
  std::condition_variable agent_cv_;
  bool agent_stop_ = false;
  std::atomic<bool> resign_requested_{false};  ///< io thread -> agent: hand the leadership over
  asio::signal_set signals_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  RegistrationAdmission admission_;
  std::vector<std::unique_ptr<SerialLink>> serial_;
  std::unique_ptr<UdpLink> udp_;
  std::unique_ptr<TcpListener> tcp_;
  std::unique_ptr<HttpServer> http_;
  std::map<uint32_t, PayloadSender> senders_;
  std::map<uint32_t, std::string> names_;
  uint32_t next_link_ = 1;
  uint64_t frame_errors_ = 0;
  uint64_t registrations_refused_ = 0;
  std::atomic<uint64_t> http_rejected_{0};  ///< also written on worker threads
  std::vector<Intake> intake_;  ///< io thread only
  bool intake_posted_ = false;  ///< a commit_intake task is queued
  bool stopping_ = false;
  bool commit_posted_ = false;  ///< a commit_registrations() is queued on io_
  asio::thread_pool pool_;  ///< parses and hashes transaction bodies (joined before io_ goes away)
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

void export_ledger(const std::string &db_path, const std::string &out_path,
                   const std::optional<std::array<uint8_t, 32>> &node_key_seed) {
  SqliteLedger ledger(db_path);
  std::ofstream out(out_path, std::ios::trunc);
  if (!out) throw std::runtime_error("cannot write " + out_path);
  std::optional<Block> last;
  for (uint64_t from = 0;;) {
    std::vector<Block> page = block_page(ledger, from, 1000);
    if (page.empty()) break;
    for (const Block &b : page) out << block_to_json(b).dump() << "\n";
    from += page.size();
    last = std::move(page.back());
  }
  if (last && node_key_seed) {  // the signed tip ends the export (docs/protocol.md §8 rule 15)
    Key pk{};
    std::array<uint8_t, 64> sk{};
    crypto_sign_seed_keypair(pk.data(), sk.data(), node_key_seed->data());
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    out << tip_to_json(sign_tip(*last, static_cast<uint64_t>(now.count()), pk, sk)).dump() << "\n";
    sodium_memzero(sk.data(), sk.size());
  }
  if (!out.flush()) throw std::runtime_error("cannot write " + out_path);
}

}  // namespace iotw::tn
