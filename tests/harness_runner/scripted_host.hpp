// The rig as a RigScript sees it, for the script tests: a MockScriptHost (tests/mocks/harness/) whose queries
// answer from plain fields, and whose check events, faults and control-channel commands are expectations.
#pragma once
#include <gmock/gmock.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "mocks/harness/mock_script_host.hpp"

namespace iotw::harness::test {

MATCHER(IsCheck, "a check event (fields check, pass, detail)") { return arg.contains("check"); }
MATCHER_P2(Check, name, pass, "the check named, with this verdict") {
  return arg.contains("check") && arg["check"] == name && arg["pass"] == pass;
}
MATCHER_P(CheckPassing, pass, "a check with this verdict") { return arg.contains("check") && arg["pass"] == pass; }
MATCHER_P2(CheckSaying, pass, text, "a check with this verdict whose detail contains the text") {
  return arg.contains("check") && arg["pass"] == pass && arg.contains("detail") &&
         arg["detail"].template get<std::string>().find(text) != std::string::npos;
}

struct ScriptedHost : ::testing::NiceMock<mocks::MockScriptHost> {
  std::optional<Health> h = Health{};
  std::set<std::string> attached;
  std::vector<nlohmann::json> pending;  ///< events new_events() hands out next
  std::map<std::string, double> scores;
  std::optional<int> assigning = 0;   ///< assigning_node()
  ScriptHost::MeshState mesh{1, 0};   ///< mesh_state()

  explicit ScriptedHost(std::set<std::string> attached_devices) : attached(std::move(attached_devices)) {
    using ::testing::_;
    ON_CALL(*this, health()).WillByDefault([this] { return h; });
    ON_CALL(*this, attached_devices()).WillByDefault([this] { return std::optional(attached); });
    ON_CALL(*this, new_events()).WillByDefault([this] { return std::exchange(pending, {}); });
    ON_CALL(*this, assigning_node()).WillByDefault([this] { return assigning; });
    ON_CALL(*this, mesh_state()).WillByDefault([this] { return mesh; });
    ON_CALL(*this, score_so_far(_)).WillByDefault([this](const std::string& s) {
      auto it = scores.find(s);
      return it == scores.end() ? std::nullopt : std::optional<double>(it->second);
    });
    expect_checks({});
  }

  /// Verifies the expectations so far, then: from here on the script emits exactly these check events, in this
  /// order (any other event is free), and sends no control-channel command unless a later EXPECT_CALL says so.
  /// Expectations on faults set before this call are verified by it and then cleared.
  void expect_checks(const std::vector<::testing::Matcher<nlohmann::ordered_json>>& checks) {
    using ::testing::_;
    ::testing::Mock::VerifyAndClearExpectations(this);
    EXPECT_CALL(*this, emit(_, ::testing::Not(IsCheck()))).Times(::testing::AnyNumber());
    EXPECT_CALL(*this, emu_command(_)).Times(0);
    ::testing::InSequence order;
    for (const auto& m : checks) EXPECT_CALL(*this, emit(_, m));
  }
};

}  // namespace iotw::harness::test
