#include <fmt/format.h>
#include <sodium.h>

#include <fstream>
#include <iterator>
#include <sstream>

#include "iotw/exit_code.hpp"
#include "iotw/sim/sim_run.hpp"
#include "iotw/support/hex.hpp"

namespace iotw::sim {
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string sha256_hex(const std::string& bytes) {
  std::array<std::uint8_t, crypto_hash_sha256_BYTES> h{};
  crypto_hash_sha256(h.data(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  return to_hex(h);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

}  // namespace

int replay_run(const fs::path& run_dir, const std::optional<fs::path>& into, const std::string& tool_version,
               const std::atomic<bool>& stop, std::ostream& out, std::ostream& err) {
  const fs::path sim_file = run_dir / "sim.json";
  std::error_code ec;
  if (!fs::is_regular_file(sim_file, ec)) {
    err << "error: " << run_dir.string() << " is not a sim run (no sim.json; `iotw rig run --mode sim` writes it); "
        << "only sim runs can be replayed\n";
    return kExitUsage;
  }
  const auto sim = nlohmann::json::parse(slurp(sim_file), nullptr, false);
  if (!sim.is_object() || sim.value("mode", std::string()) != "sim" || !sim.contains("seed") ||
      !sim["seed"].is_number_unsigned()) {
    err << "error: " << sim_file.string() << " does not describe a sim run (needs mode \"sim\" and a seed)\n";
    return kExitUsage;
  }
  const std::string version = sim.value("version", std::string());
  if (version != tool_version) {
    err << fmt::format("error: {} was made by iotw {}, this is iotw {}: a replay needs the same version (check out "
                       "that revision and build it)\n",
                       run_dir.string(), version.empty() ? "(unknown)" : version, tool_version);
    return kExitUsage;
  }
  SimOptions o;
  o.rig_file = run_dir / sim.value("rig_file", std::string("rig.toml"));
  o.seed = sim["seed"].get<std::uint64_t>();
  o.out_dir = into.value_or(run_dir / "replay");
  o.tool_version = tool_version;
  std::ostringstream run_out;
  const int code = run_sim_rig(o, stop, run_out, err);
  if (code == kExitUsage || code == kExitCouldNotRun || code == kExitInterrupted) return code;
  const fs::path again = fs::absolute(*o.out_dir);
  out << "replayed " << run_dir.string() << " (seed " << *o.seed << ") into " << again.string() << '\n';
  bool same = true;
  const std::vector<std::string> a = lines_of(slurp(run_dir / "events.jsonl")),
                                 b = lines_of(slurp(again / "events.jsonl"));
  for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    const std::string* x = i < a.size() ? &a[i] : nullptr;
    const std::string* y = i < b.size() ? &b[i] : nullptr;
    if (x && y && *x == *y) continue;
    same = false;
    out << fmt::format("first difference: events.jsonl line {}\n  recorded: {}\n  replayed: {}\n", i + 1,
                       x ? *x : "(end of file)", y ? *y : "(end of file)");
    break;
  }
  std::vector<std::string> identical, differ;
  for (const char* f : {"events.jsonl", "ledger.jsonl", "links.pcapng"}) {
    const std::string h1 = sha256_hex(slurp(run_dir / f)), h2 = sha256_hex(slurp(again / f));
    (h1 == h2 ? identical : differ).push_back(fmt::format("{} (sha256 {})", f, h1 == h2 ? h1 : h1 + " vs " + h2));
  }
  for (const auto& s : identical) out << "identical: " << s << '\n';
  for (const auto& s : differ) out << "differs: " << s << '\n';
  return same && differ.empty() ? kExitPass : kExitFail;
}

}  // namespace iotw::sim
