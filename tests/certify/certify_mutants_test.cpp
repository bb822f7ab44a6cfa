// The suite can fail: every mutant of docs/certification.md "Mutants" whose tests are in the soc profile fails
// exactly the CERT ids the table names and passes every other soc test (one full `iotw certify` run per mutant,
// each its own ctest test, so `ctest -j` runs the matrix in parallel); a mutant whose ids are dps tests (not all
// soc tests: usage_seq_reset, modbus_off_by_one) likewise in a full dps run against the reference DPS chip; the soc
// rows again over UDP (an AT-mode appliance, tests/certify/net_dut.hpp), less the tests a UDP link does not run.
// Rows marked *(planned)* are not run here; the AT mutant's row (AT tests alone) runs in certify_at_test.cpp.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <regex>
#include <set>
#include <sstream>

#include "iotw/certify/catalogue.hpp"
#include "iotw_process.hpp"
#include "net_dut.hpp"
#include "reference_dut.hpp"

namespace iotw::test {
namespace {

struct Mutant {
  std::string name;
  std::set<std::string> fails;
};

void PrintTo(const Mutant& m, std::ostream* os) { *os << m.name; }

/// The table's rows, read from the doc (the contract) at test discovery.
std::vector<Mutant> mutants_from_doc() {
  std::vector<Mutant> out;
  const std::string doc = slurp(std::filesystem::path(IOTW_DOCS_DIR) / "certification.md");
  const auto at = doc.find("## Mutants");
  if (at == std::string::npos) return out;
  std::istringstream lines(doc.substr(at));
  const std::regex row(R"(^\| `([a-z_]+)` \| [^|]+ \| ([^|]+) \|\s*$)"), id(R"(CERT-[0-9]{3})");
  for (std::string l; std::getline(lines, l);) {
    std::smatch m;
    if (!std::regex_match(l, m, row) || m[2].str().find("(planned") != std::string::npos) continue;
    Mutant mu{m[1], {}};
    const std::string ids = m[2];
    for (auto it = std::sregex_iterator(ids.begin(), ids.end(), id); it != std::sregex_iterator(); ++it)
      mu.fails.insert(it->str());
    out.push_back(mu);
  }
  return out;
}

class CertifyMutant : public ::testing::TestWithParam<Mutant> {};

std::set<std::string> ids_of(std::initializer_list<const char*> profiles) {
  std::set<std::string> out;
  for (const char* p : profiles)
    for (const auto* t : iotw::certify::tests_of(p)) out.insert(t->id);
  return out;
}

/// The rows this matrix runs: the mutants of the firmware, whose tests are all soc tests. Rows that name AT tests
/// alone (at_wrong_terminator) run in tests/certify/certify_at_test.cpp against the AT module emulator.
std::vector<Mutant> soc_mutants() {
  const auto soc = ids_of({"soc"});
  std::vector<Mutant> out;
  for (const Mutant& m : mutants_from_doc())
    if (std::all_of(m.fails.begin(), m.fails.end(), [&](const std::string& id) { return soc.count(id) > 0; }))
      out.push_back(m);
  return out;
}

/// The rows whose ids are all dps tests but not all soc tests: they run in a dps certification.
std::vector<Mutant> dps_mutants() {
  const auto soc = ids_of({"soc"}), dps = ids_of({"dps"});
  std::vector<Mutant> out;
  for (const Mutant& m : mutants_from_doc())
    if (std::all_of(m.fails.begin(), m.fails.end(), [&](const std::string& id) { return dps.count(id) > 0; }) &&
        !std::all_of(m.fails.begin(), m.fails.end(), [&](const std::string& id) { return soc.count(id) > 0; }))
      out.push_back(m);
  return out;
}

TEST(CertifyMutants, TheDocTableCoversTheSocMutantsAndNamesOnlyBuiltTestsOfOneKind) {
  const auto mutants = mutants_from_doc();
  EXPECT_GE(soc_mutants().size(), 15u);
  std::set<std::string> dps_rows;
  for (const Mutant& m : dps_mutants()) dps_rows.insert(m.name);
  EXPECT_EQ(dps_rows, (std::set<std::string>{"modbus_off_by_one", "usage_seq_reset"}));
  const auto soc = ids_of({"soc"}), dps = ids_of({"dps"}), at = ids_of({"at-esp", "at-realtek"});
  for (const Mutant& m : mutants) {
    EXPECT_FALSE(m.fails.empty()) << m.name;
    const auto in = [&](const std::set<std::string>& kind) {
      return std::all_of(m.fails.begin(), m.fails.end(), [&](const std::string& id) { return kind.count(id) > 0; });
    };
    EXPECT_TRUE(in(soc) || in(dps) || in(at))
        << m.name << ": names tests that are not all soc tests, all dps tests or all AT tests";
  }
  const auto wt = std::find_if(mutants.begin(), mutants.end(), [](const Mutant& m) { return m.name == "at_wrong_terminator"; });
  ASSERT_NE(wt, mutants.end()) << "the AT mutant's row is built";
  EXPECT_EQ(wt->fails, at) << "at_wrong_terminator fails every AT test (certify_at_test.cpp runs them)";
}

TEST_P(CertifyMutant, FailsExactlyItsTests) {
  const Mutant& mutant = GetParam();
  const auto dir = scratch_dir();
  ReferenceDut dut(dir, mutant.name);
  const auto run = dir / "run";
  const IotwResult r = run_iotw({"certify", "--dut", "serial:" + dut.port, "--out", run.string(), "--node-key",
                                 dut.node_key.string(), "--reset-cmd", dut.reset_cmd, "--power-cmd", dut.power_cmd,
                                 "--seed", "5", "--fuzz-s", "1"},
                                dir);
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  const auto report = nlohmann::json::parse(slurp(run / "report.json"));
  std::set<std::string> failed;
  for (const auto& t : report["tests"]) {
    EXPECT_NE(t["verdict"], "not_run") << t.dump();
    if (t["verdict"] == "fail") failed.insert(t["id"].get<std::string>());
  }
  EXPECT_EQ(failed, mutant.fails) << r.out;
}

INSTANTIATE_TEST_SUITE_P(Doc, CertifyMutant, ::testing::ValuesIn(soc_mutants()),
                         [](const ::testing::TestParamInfo<Mutant>& i) { return i.param.name; });

class CertifyDpsMutant : public ::testing::TestWithParam<Mutant> {};

TEST_P(CertifyDpsMutant, FailsExactlyItsTests) {
  const Mutant& mutant = GetParam();
  const auto dir = scratch_dir();
  ReferenceDut dut(dir, mutant.name, "dps");
  const auto run = dir / "run";
  const IotwResult r = run_iotw({"certify", "--dut", "serial:" + dut.port, "--profile", "dps", "--out", run.string(),
                                 "--node-key", dut.node_key.string(), "--reset-cmd", dut.reset_cmd, "--power-cmd",
                                 dut.power_cmd, "--modbus", dut.modbus, "--usage-period-s", "1", "--seed", "5",
                                 "--fuzz-s", "1"},
                                dir);
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  const auto report = nlohmann::json::parse(slurp(run / "report.json"));
  std::set<std::string> failed;
  for (const auto& t : report["tests"]) {
    EXPECT_NE(t["verdict"], "not_run") << t.dump();
    if (t["verdict"] == "fail") failed.insert(t["id"].get<std::string>());
  }
  EXPECT_EQ(failed, mutant.fails) << r.out;
}

INSTANTIATE_TEST_SUITE_P(Doc, CertifyDpsMutant, ::testing::ValuesIn(dps_mutants()),
                         [](const ::testing::TestParamInfo<Mutant>& i) { return i.param.name; });

/// The soc tests that do not run on a UDP link to an AT-mode appliance (tests/certify/certify_net_test.cpp): the
/// serial-framing ones (one frame per datagram), the reset and the supply (the appliance has no control-channel
/// reset and no --power-cmd).
const std::set<std::string> kNotOnUdp{"CERT-002", "CERT-003", "CERT-005", "CERT-006", "CERT-013", "CERT-014", "CERT-080"};

/// The soc rows again, for a UDP DUT: each fails its ids that run on UDP. A row whose ids all need what UDP lacks
/// (no_nvs, wrong_reset_reason: CERT-013's reset, CERT-014/080's supply) is caught only on a serial link and is not
/// in this matrix.
std::vector<Mutant> udp_mutants() {
  std::vector<Mutant> out;
  for (Mutant m : soc_mutants()) {
    for (const auto& id : kNotOnUdp) m.fails.erase(id);
    if (!m.fails.empty()) out.push_back(m);
  }
  return out;
}

class CertifyUdpMutant : public ::testing::TestWithParam<Mutant> {};

TEST_P(CertifyUdpMutant, FailsExactlyItsTestsThatRunOnUdp) {
  const Mutant& mutant = GetParam();
  const NetDutRun run = run_net_dut("udp", "udp:127.0.0.1:0", mutant.name);
  EXPECT_EQ(run.code, 1) << run.out;
  ASSERT_FALSE(run.report.is_null()) << run.out;
  std::set<std::string> failed, not_run;
  for (const auto& t : run.report["tests"]) {
    if (t["verdict"] == "fail") failed.insert(t["id"].get<std::string>());
    if (t["verdict"] == "not_run") not_run.insert(t["id"].get<std::string>());
  }
  EXPECT_EQ(not_run, kNotOnUdp) << run.out;
  EXPECT_EQ(failed, mutant.fails) << run.out;
}

INSTANTIATE_TEST_SUITE_P(Doc, CertifyUdpMutant, ::testing::ValuesIn(udp_mutants()),
                         [](const ::testing::TestParamInfo<Mutant>& i) { return i.param.name; });

}  // namespace
}  // namespace iotw::test
