// model = "qemu-cortex-m3" in rig files (docs/rig-format.md "QEMU devices"): a PTY device that runs the image as
// built; the faults it cannot take are errors at their line, and a fault step for every device leaves it out.
#include <gtest/gtest.h>

#include <string>

#include "iotw/harness/rig_loader.hpp"
#include "rig_error_of.hpp"

namespace {
using iotw::harness::parse_rig;
using iotw::harness::RigError;

const std::string kRig = R"([rig]
name = "q"
[[devices]]
name_prefix = "qemu-m3"
model = "qemu-cortex-m3"
count = 2
[[devices]]
name_prefix = "esp32"
model = "esp32"
count = 3
[pass]
ledger_valid = true
)";

TEST(RigLoaderQemu, APtyDeviceThatRunsTheImageAsBuilt) {
  const auto spec = parse_rig(kRig, "x.toml");
  const auto all = spec.instances();
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[0].name, "qemu-m3-01");
  EXPECT_EQ(all[0].model, "qemu-cortex-m3");
  EXPECT_TRUE(all[0].serial_linked());  // through the serial fault proxy like any PTY device

  const std::string q = "[rig]\nname = \"q\"\n[[devices]]\nmodel = \"qemu-cortex-m3\"\n";
  EXPECT_EQ(error_of(q + "link = \"at\"\n"),
            "x.toml:5:8: link 'at' in [[devices]]: model 'qemu-cortex-m3' runs on a PTY link only (its UART0)");
  EXPECT_NE(error_of(q + "behaviour = \"invert_verdict\"\n").find("x.toml:5:13: 'behaviour' in [[devices]]: model "
                                                                 "'qemu-cortex-m3' runs the firmware image as built"),
            std::string::npos);
  EXPECT_NE(error_of(q + "ram_budget_kib = 64\n").find("x.toml:5:18: 'ram_budget_kib' in [[devices]] does not apply"),
            std::string::npos);
  EXPECT_NE(error_of(q + "load_ohm = 5\n").find("'load_ohm' does not apply to model 'qemu-cortex-m3'"), std::string::npos);
}

TEST(RigLoaderQemu, RebootAppliesHangAndClockSkewAreRefusedAtTheirLine) {
  const auto spec = parse_rig(kRig + "[[steps]]\nat_s = 1\nfault = \"reboot\"\ndevices = [\"qemu-m3-01\"]\n"
                                     "recover_within_s = 10\n",
                              "x.toml");
  ASSERT_EQ(spec.steps.size(), 1u);
  EXPECT_EQ(spec.steps[0].fault.devices, std::vector<std::string>{"qemu-m3-01"});

  EXPECT_EQ(error_of(kRig + "[[steps]]\nat_s = 1\nfault = \"hang\"\ndevices = [\"qemu-m3-02\"]\nrecover_within_s = 10\n"),
            "x.toml:16:11: fault 'hang' in [[steps]] #1: 'qemu-m3-02' is a qemu-cortex-m3 device; it takes reboot and "
            "every serial link fault, 'hang' is not supported by qemu-cortex-m3");
  // Without `devices`: every eligible device, which leaves the QEMU devices out of a clock skew.
  const auto skew = parse_rig(kRig + "[[steps]]\nat_s = 1\nfault = \"clock_skew\"\noffset_ms = 500\nduration_s = 2\n"
                                     "recover_within_s = 10\n",
                              "x.toml");
  EXPECT_EQ(skew.steps[0].fault.devices, (std::vector<std::string>{"esp32-01", "esp32-02", "esp32-03"}));
  // ... while a reboot without `devices` includes them.
  const auto reboot = parse_rig(kRig + "[[steps]]\nat_s = 1\nfault = \"reboot\"\nrecover_within_s = 10\n", "x.toml");
  EXPECT_EQ(reboot.steps[0].fault.devices.size(), 5u);
  // A serial link fault applies to a QEMU device's PTY link.
  EXPECT_EQ(error_of(kRig + "[[steps]]\nat_s = 1\nfault = \"corrupt\"\nrate = 0.01\nduration_s = 2\n"
                            "devices = [\"qemu-m3-01\"]\n"),
            "");
}

}  // namespace
