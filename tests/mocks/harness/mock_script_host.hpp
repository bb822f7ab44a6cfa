// GoogleMock of iotw::harness::ScriptHost (harness/runner/rig_script.hpp): what a rig's steps need from the
// running rig (health, attached devices, events, scores, trust-node, etcd and power faults, the pool's channel).
#pragma once
#include <gmock/gmock.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rig_script.hpp"

namespace iotw::harness::mocks {

class MockScriptHost : public ScriptHost {
 public:
  MOCK_METHOD(std::optional<Health>, health, (), (override));
  MOCK_METHOD(std::optional<std::set<std::string>>, attached_devices, (), (override));
  MOCK_METHOD(std::vector<nlohmann::json>, new_events, (), (override));
  MOCK_METHOD(std::optional<double>, score_so_far, (const std::string &score), (override));
  MOCK_METHOD(void, emit, (const std::string &kind, nlohmann::ordered_json fields), (override));
  MOCK_METHOD(void, kill_trust_node, (int node), (override));
  MOCK_METHOD(void, restart_trust_node, (int node), (override));
  MOCK_METHOD(void, pause_trust_node, (int node, bool paused), (override));
  MOCK_METHOD(std::optional<int>, assigning_node, (), (override));
  MOCK_METHOD(MeshState, mesh_state, (), (override));
  MOCK_METHOD(void, kill_etcd, (int member), (override));
  MOCK_METHOD(void, restart_etcd, (int member), (override));
  MOCK_METHOD(void, pause_etcd, (int member, bool paused), (override));
  MOCK_METHOD(void, cut_node_from_etcd, (int node, bool cut), (override));
  MOCK_METHOD(void, cut_host_link, (bool cut), (override));
  MOCK_METHOD(void, set_supply, (const std::string &device, double vin, double ramp_v_per_s), (override));
  MOCK_METHOD(nlohmann::json, emu_command, (const nlohmann::json &request), (override));
  MOCK_METHOD(void, pause_traffic, (bool paused), (override));
};

}  // namespace iotw::harness::mocks
