// The children's config files parse as TOML and carry the rig's values, per docs/trust-node.md and docs/emulators.md.
#include "child_configs.hpp"

#include <gtest/gtest.h>

#include <toml++/toml.h>

#include <tuple>

namespace iotw::harness {
namespace {

class ChildConfigs : public ::testing::Test {
 protected:
  void SetUp() override {
    layout.dir = std::filesystem::temp_directory_path() /
                 ("iotw-child-configs-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(layout.dir);
    spec.trust_node.witnesses = 4;
    spec.trust_node.block_interval_ms = 77;
    devices = {{{"esp-01", "esp32", "pty", "honest"}, {{"esp-01", "/dev/pts/10", "/dev/pts/11"}}},
               {{"bad-01", "esp8266", "pty", "invert_verdict"}, {{"bad-01", "/dev/pts/12", "/dev/pts/13"}}}};
  }
  void TearDown() override { std::filesystem::remove_all(layout.dir); }

  RunLayout layout;
  RigSpec spec;
  std::vector<WiredDevice> devices;
};

TEST_F(ChildConfigs, TrustNodeConfigHasEverySection) {
  write_trust_node_config(spec, 42, devices, layout);
  const toml::table t = toml::parse_file(layout.trust_node_config().string());
  EXPECT_EQ(t["node"]["db"].value<std::string>(), layout.ledger_db().string());
  EXPECT_EQ(t["node"]["seed"].value<std::int64_t>(), 42);
  EXPECT_EQ(t["node"]["events"].value<std::string>(), layout.trust_node_events().string());
  EXPECT_EQ(t["http"]["listen"].value<std::string>(), "127.0.0.1:0");
  EXPECT_EQ(t["http"]["port_file"].value<std::string>(), layout.http_port_file().string());
  const toml::array* serial = t["serial"].as_array();
  ASSERT_NE(serial, nullptr);
  ASSERT_EQ(serial->size(), 2u);
  EXPECT_EQ((*serial)[0].as_table()->at("path").value<std::string>(), "/dev/pts/10");
  EXPECT_EQ((*serial)[1].as_table()->at("path").value<std::string>(), "/dev/pts/12");
  EXPECT_EQ((*serial)[1].as_table()->at("baud").value<std::int64_t>(), 115200);
  EXPECT_EQ(t["consensus"]["witnesses"].value<std::int64_t>(), 4);
  EXPECT_EQ(t["consensus"]["block_interval_ms"].value<std::int64_t>(), 77);
  EXPECT_EQ(t["consensus"]["max_txs_per_block"].value<std::int64_t>(), 64);
  EXPECT_EQ(t["consensus"]["assignment_timeout_ms"].value<std::int64_t>(), 1500);
  EXPECT_EQ(t["consensus"]["witness_timeout_ms"].value<std::int64_t>(), 1500);
  EXPECT_EQ(t["consensus"]["device_timeout_ms"].value<std::int64_t>(), 5000);
  EXPECT_EQ(t.size(), 4u);  // node, http, serial, consensus: nothing the trust node would reject as unknown
}

TEST_F(ChildConfigs, NodeKeyIsSeededAndItsPublicKeyProvisionsEveryDevice) {
  const std::string pk = write_node_key(layout, 42);
  ASSERT_EQ(pk.size(), 64u);
  EXPECT_EQ(pk.find_first_not_of("0123456789abcdef"), std::string::npos) << pk;
  EXPECT_EQ(std::filesystem::file_size(layout.node_key()), 32u);
  EXPECT_EQ(std::filesystem::status(layout.node_key()).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_EQ(write_node_key(layout, 42), pk) << "the run's seed reproduces the key";
  EXPECT_NE(write_node_key(layout, 43), pk);
  write_node_key(layout, 42);

  write_trust_node_config(spec, 42, devices, layout);
  const toml::table t = toml::parse_file(layout.trust_node_config().string());
  EXPECT_EQ(t["node"]["key"].value<std::string>(), layout.node_key().string());
  write_emu_config(devices, layout, 0, pk);
  const toml::table e = toml::parse_file(layout.emu_config().string());
  EXPECT_EQ(e["node_pubkey"].value<std::string>(), pk);
}

TEST_F(ChildConfigs, SeedBeyondTomlIntegerRangeIsRefused) {
  EXPECT_THROW(write_trust_node_config(spec, 1ULL << 63, devices, layout), std::runtime_error);
}

TEST_F(ChildConfigs, EmuConfigListsEveryDeviceOnItsDeviceSideAndCreatesNvs) {
  write_emu_config(devices, layout);
  const toml::table t = toml::parse_file(layout.emu_config().string());
  EXPECT_EQ(t["events"].value<std::string>(), layout.emu_events().string());
  const toml::array* list = t["device"].as_array();
  ASSERT_NE(list, nullptr);
  ASSERT_EQ(list->size(), 2u);
  const toml::table& bad = *(*list)[1].as_table();
  EXPECT_EQ(bad["name"].value<std::string>(), "bad-01");
  EXPECT_EQ(bad["model"].value<std::string>(), "esp8266");
  EXPECT_EQ(bad["link"].value<std::string>(), "/dev/pts/13");
  EXPECT_EQ(bad["behaviour"].value<std::string>(), "invert_verdict");
  EXPECT_EQ(bad["nvs_dir"].value<std::string>(), layout.nvs_dir("bad-01").string());
  EXPECT_TRUE(std::filesystem::is_directory(layout.nvs_dir("bad-01")));
  EXPECT_EQ(t["control"].value<std::string>(), layout.emu_control().string());  // the control channel's socket
  EXPECT_EQ(t.size(), 3u);
}

TEST_F(ChildConfigs, AtDevicesGetTheTrustNodesUdpPortInsteadOfASerialLink) {
  devices.push_back({{"rtl-01", "rtl8710", "at", "honest"}, {{"rtl-01", "", ""}}});
  const std::uint16_t port = free_udp_port();
  ASSERT_GT(port, 0);
  write_trust_node_config(spec, 42, devices, layout, port);
  const toml::table t = toml::parse_file(layout.trust_node_config().string());
  EXPECT_EQ(t["serial"].as_array()->size(), 2u) << "the PTY devices only";
  EXPECT_EQ(t["udp"]["listen"].value<std::string>(), "127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(t["udp"]["port_file"].value<std::string>(), layout.udp_port_file().string());

  write_emu_config(devices, layout, port);
  const toml::table e = toml::parse_file(layout.emu_config().string());
  const toml::table& at = *(*e["device"].as_array())[2].as_table();
  EXPECT_EQ(at["mode"].value<std::string>(), "at");
  EXPECT_EQ(at["model"].value<std::string>(), "rtl8710");
  EXPECT_EQ(at["trust_node_udp"].value<std::string>(), "127.0.0.1:" + std::to_string(port));
  EXPECT_FALSE(at.contains("link"));
  EXPECT_EQ(e["access_point"]["ssid"].value<std::string>(), kRigApSsid);
  EXPECT_EQ(e["access_point"]["password"].value<std::string>(), kRigApPassword);

  std::vector<WiredDevice> only_at{devices[2]};
  write_trust_node_config(spec, 42, only_at, layout, port);
  const toml::table t2 = toml::parse_file(layout.trust_node_config().string());
  EXPECT_FALSE(t2.contains("serial")) << "no empty serial array (the trust node wants tables)";
  EXPECT_TRUE(t2.contains("udp"));
}

// [hosts] rigs: one pool file per host with that host's devices only (emu-<host>.toml, its own events and control
// socket); the trust node's [udp] listens on every address of its namespace (the far host sends across the link).
TEST_F(ChildConfigs, HostsRigGetsOnePoolFilePerHostAndTheNodeListensBeyondLoopback) {
  spec.hosts = HostsSpec{{"lab", "remote"}, "lab"};
  DeviceInstance near{"near-01", "esp8266", "at", "honest"}, far{"far-01", "esp8266", "at", "honest"};
  near.host = "lab";
  far.host = "remote";
  devices = {{near, {{"near-01", "", ""}}, {}, 40001}, {far, {{"far-01", "", ""}}, {}, 40002}};
  write_trust_node_config(spec, 42, devices, layout, 40000);
  const toml::table t = toml::parse_file(layout.trust_node_config().string());
  EXPECT_EQ(t["udp"]["listen"].value<std::string>(), "0.0.0.0:40000");
  for (const auto& [host, device, port] : {std::tuple{"lab", "near-01", 40001}, {"remote", "far-01", 40002}}) {
    write_emu_config(devices, layout, 40000, "", 0, 0, host);
    const PoolLayout pool = layout.pool(host);
    EXPECT_EQ(pool.name, std::string("emu-") + host);
    EXPECT_EQ(pool.config(), layout.dir / (std::string("emu-") + host + ".toml"));
    const toml::table e = toml::parse_file(pool.config().string());
    EXPECT_EQ(e["events"].value<std::string>(), pool.events().string());
    EXPECT_EQ(e["control"].value<std::string>(), pool.control().string());
    const toml::array* list = e["device"].as_array();
    ASSERT_EQ(list->size(), 1u) << host;
    EXPECT_EQ((*list)[0].as_table()->at("name").value<std::string>(), device);
    // an AT module reaches loopback only: its fault proxy endpoint, on its own host's loopback
    EXPECT_EQ((*list)[0].as_table()->at("trust_node_udp").value<std::string>(), "127.0.0.1:" + std::to_string(port));
  }
  EXPECT_FALSE(std::filesystem::exists(layout.emu_config())) << "no emu.toml in a [hosts] rig";
}

TEST_F(ChildConfigs, TcpAtDevicesGetTheTrustNodesTcpPort) {
  DeviceInstance tcp{"tcp-01", "esp8266", "at", "honest"};
  tcp.at_transport = "tcp";
  devices.push_back({tcp, {{"tcp-01", "", ""}}});
  write_trust_node_config(spec, 42, devices, layout, 40000, 40100);
  const toml::table t = toml::parse_file(layout.trust_node_config().string());
  EXPECT_EQ(t["tcp"]["listen"].value<std::string>(), "127.0.0.1:40100");
  EXPECT_EQ(t["tcp"]["port_file"].value<std::string>(), layout.tcp_port_file().string());
  write_emu_config(devices, layout, 40000, "", 0, 40100);
  const toml::table e = toml::parse_file(layout.emu_config().string());
  const toml::table& at = *(*e["device"].as_array())[2].as_table();
  EXPECT_EQ(at["mode"].value<std::string>(), "at");
  EXPECT_EQ(at["trust_node_tcp"].value<std::string>(), "127.0.0.1:40100");
  EXPECT_FALSE(at.contains("trust_node_udp"));

  devices.pop_back();  // no TCP device: no [tcp]
  write_trust_node_config(spec, 42, devices, layout, 40000, 40100);
  EXPECT_FALSE(toml::parse_file(layout.trust_node_config().string()).contains("tcp"));
}

TEST_F(ChildConfigs, AtDeviceWithAUdpProxySendsToItsProxyPort) {
  devices.clear();
  devices.push_back({{"at-01", "esp8266", "at", "honest"}, {{"at-01", "", ""}}, "", 40001});
  devices.push_back({{"at-02", "esp8266", "at", "honest"}, {{"at-02", "", ""}}});
  write_emu_config(devices, layout, 40000);
  const toml::table t = toml::parse_file(layout.emu_config().string());
  const toml::array* list = t["device"].as_array();
  ASSERT_NE(list, nullptr);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*(*list)[0].as_table())["trust_node_udp"].value<std::string>(), "127.0.0.1:40001");
  EXPECT_EQ((*(*list)[1].as_table())["trust_node_udp"].value<std::string>(), "127.0.0.1:40000") << "no proxy: the node's port";
}

}  // namespace
}  // namespace iotw::harness

namespace iotw::harness {
namespace {

TEST_F(ChildConfigs, DevicesGetTheirSeedFromTheRigSeedAndTheirNameAndTheQemuDeviceItsImage) {
  const std::string a = device_seed_hex(42, "qemu-m3-01");
  // the one derivation (support/seeded_random.hpp component_seed), value fixed by tests/support/seeded_random_test.cpp
  EXPECT_EQ(a, "36fb76c69f3da5348b9365715023acce9e1c760cc05eb39dfb4c6bcf66325cb6");
  EXPECT_NE(a, device_seed_hex(43, "qemu-m3-01"));
  EXPECT_NE(a, device_seed_hex(42, "qemu-m3-02"));
  devices[0].seed = device_seed_hex(42, "esp-01");  // bad-01 (devices[1]) stands for a seed = "os" device: no seed
  devices.push_back({{"qemu-m3-01", "qemu-cortex-m3", "pty", "honest"}, {{"qemu-m3-01", "/dev/pts/14", "/dev/pts/15"}}});
  devices.back().qemu_image = "/b/cross/cortex-m3/iotw_fw_lm3s6965.elf";
  devices.back().seed = a;
  write_emu_config(devices, layout);
  const toml::table t = toml::parse_file(layout.emu_config().string());
  const toml::array& list = *t["device"].as_array();
  ASSERT_EQ(list.size(), 3u);
  const toml::table& q = *list[2].as_table();
  EXPECT_EQ(q["model"].value<std::string>(), "qemu-cortex-m3");
  EXPECT_EQ(q["link"].value<std::string>(), "/dev/pts/15");
  EXPECT_EQ(q["image"].value<std::string>(), "/b/cross/cortex-m3/iotw_fw_lm3s6965.elf");
  EXPECT_EQ(q["seed"].value<std::string>(), a);
  EXPECT_EQ((*list[0].as_table())["seed"].value<std::string>(), device_seed_hex(42, "esp-01"));
  EXPECT_FALSE(list[1].as_table()->contains("seed")) << "seed = \"os\": the OS's randomness, no seed key";
  EXPECT_FALSE(list[0].as_table()->contains("image"));
}

TEST_F(ChildConfigs, AllSlotsColludersLearnTheWitnessCountOutOfBand) {
  write_emu_config(devices, layout, 0, "", 4);  // no collude_all_slots device: no [collusion]
  EXPECT_FALSE(toml::parse_file(layout.emu_config().string()).contains("collusion"));
  devices.push_back({{"coll-01", "esp32", "pty", "collude_all_slots"}, {{"coll-01", "/dev/pts/14", "/dev/pts/15"}}});
  write_emu_config(devices, layout, 0, "", 4);
  const toml::table t = toml::parse_file(layout.emu_config().string());
  EXPECT_EQ(t["collusion"]["witnesses"].value<int64_t>(), 4);
}

}  // namespace
}  // namespace iotw::harness

namespace iotw::harness {
namespace {

// A [mesh] rig (docs/rig-format.md "Mesh"): node i's config in <run>/tn-<i>/ on its own PTY of every device, the
// etcd store through the endpoints given (its relays), its node_id and lease; the shared key; every device's links in
// node order in emu.toml.
TEST_F(ChildConfigs, MeshNodesGetTheirOwnFolderLinksAndTheEtcdStore) {
  spec.name = "mesh_rig";
  spec.mesh = MeshSpec{.trust_nodes = 2, .etcd_members = 3, .lease_ttl_s = 4, .line = 3};
  devices[0].links = {{"esp-01@tn-0", "/dev/pts/10", "/dev/pts/11"}, {"esp-01@tn-1", "/dev/pts/20", "/dev/pts/21"}};
  devices[1].links = {{"bad-01@tn-0", "/dev/pts/12", "/dev/pts/13"}, {"bad-01@tn-1", "/dev/pts/22", "/dev/pts/23"}};
  const std::vector<std::string> relays{"127.0.0.1:4001", "127.0.0.1:4002", "127.0.0.1:4003"};
  write_trust_node_config(spec, 42, devices, layout, 0, 0, 1, relays);
  const NodeLayout node = layout.node(spec, 1);
  EXPECT_EQ(node.dir, layout.dir / "tn-1");
  EXPECT_EQ(node.name, "tn-1");
  const toml::table t = toml::parse_file(node.config().string());
  EXPECT_EQ(t["node"]["events"].value<std::string>(), (layout.dir / "tn-1" / "trust_node.events.jsonl").string());
  EXPECT_EQ(t["node"]["key"].value<std::string>(), layout.node_key().string()) << "one key for the whole mesh";
  EXPECT_FALSE(t["node"].as_table()->contains("db")) << "the ledger is in etcd, not in a SQLite file";
  EXPECT_EQ(t["http"]["port_file"].value<std::string>(), (layout.dir / "tn-1" / "http.port").string());
  const toml::array* serial = t["serial"].as_array();
  ASSERT_NE(serial, nullptr);
  ASSERT_EQ(serial->size(), 2u);
  EXPECT_EQ((*serial)[0].as_table()->at("path").value<std::string>(), "/dev/pts/20") << "node 1's own PTYs";
  EXPECT_EQ((*serial)[1].as_table()->at("path").value<std::string>(), "/dev/pts/22");
  EXPECT_EQ(t["store"]["kind"].value<std::string>(), "etcd");
  EXPECT_EQ(t["store"]["prefix"].value<std::string>(), "/iotw/mesh_rig/");
  const toml::array* endpoints = t["store"]["endpoints"].as_array();
  ASSERT_NE(endpoints, nullptr);
  ASSERT_EQ(endpoints->size(), 3u);
  EXPECT_EQ((*endpoints)[2].value<std::string>(), "127.0.0.1:4003");
  EXPECT_EQ(t["mesh"]["node_id"].value<std::string>(), "tn-1");
  EXPECT_EQ(t["mesh"]["lease_ttl_s"].value<std::int64_t>(), 4);
  EXPECT_EQ(t.size(), 6u);  // node, http, serial, consensus, store, mesh

  write_emu_config(devices, layout);
  const toml::table e = toml::parse_file(layout.emu_config().string());
  const toml::table& esp = *(*e["device"].as_array())[0].as_table();
  EXPECT_FALSE(esp.contains("link"));
  const toml::array* links = esp["links"].as_array();
  ASSERT_NE(links, nullptr);
  ASSERT_EQ(links->size(), 2u);
  EXPECT_EQ((*links)[0].value<std::string>(), "/dev/pts/11");
  EXPECT_EQ((*links)[1].value<std::string>(), "/dev/pts/21");
}

// Without [mesh] the one node keeps the run folder's layout and gets no [store] or [mesh].
TEST_F(ChildConfigs, ASingleNodeKeepsTheRunFolderLayout) {
  const NodeLayout node = layout.node(spec, 0);
  EXPECT_EQ(node.dir, layout.dir);
  EXPECT_EQ(node.name, "trust_node");
  EXPECT_EQ(node.config(), layout.trust_node_config());
  EXPECT_EQ(node.events(), layout.trust_node_events());
  write_trust_node_config(spec, 42, devices, layout);
  const toml::table t = toml::parse_file(layout.trust_node_config().string());
  EXPECT_FALSE(t.contains("store"));
  EXPECT_FALSE(t.contains("mesh"));
}

}  // namespace
}  // namespace iotw::harness
