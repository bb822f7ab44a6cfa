// Inline steps (docs/console.md "Inline steps"): the line -> [[steps]] table, validated by the rig loader
// against the running rig; and the loader's traffic and uart step actions.
#include "iotw/harness/inline_step.hpp"

#include <gtest/gtest.h>

#include <string>

#include "iotw/harness/rig_loader.hpp"

using iotw::harness::InlineStep;
using iotw::harness::parse_inline_step;
using iotw::harness::parse_rig;
using iotw::harness::RigError;
using iotw::harness::Step;

namespace {

/// PTY esp32 devices, an AT-mode module, a DPS supply; one step of its own.
constexpr const char* kRig = R"([rig]
name = "t"
[[devices]]
name_prefix = "esp32"
model = "esp32"
count = 4
[[devices]]
name_prefix = "esp8266"
model = "esp8266"
link = "at"
count = 1
[[devices]]
name_prefix = "dps"
model = "dps"
count = 1
[pass]
ledger_valid = true
[[steps]]
at_s = 1
fault = "corrupt"
rate = 0.1
duration_s = 2
)";

InlineStep parse(const std::string& line) { return parse_inline_step(line, kRig, "t.toml"); }

std::string error_of(const std::string& line) {
  try {
    parse(line);
  } catch (const RigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(InlineStep, FaultWithDevicesRateAndDuration) {
  const InlineStep s = parse("  fault corrupt device=esp32-01,esp32-02 rate=0.01 for=5s  ");
  EXPECT_EQ(s.text, "fault corrupt device=esp32-01,esp32-02 rate=0.01 for=5s");
  EXPECT_EQ(s.toml, "[[steps]]\nfault = 'corrupt'\ndevices = ['esp32-01', 'esp32-02']\nrate = 0.01\nduration_s = 5.0\n");
  EXPECT_EQ(s.step.action, Step::Action::Fault);
  EXPECT_EQ(s.step.trigger, Step::Trigger::AfterPrevious);
  EXPECT_EQ(s.step.fault.kind, "corrupt");
  EXPECT_EQ(s.step.fault.devices, (std::vector<std::string>{"esp32-01", "esp32-02"}));
  EXPECT_DOUBLE_EQ(s.step.fault.rate, 0.01);
  ASSERT_TRUE(s.step.fault.duration_s);
  EXPECT_DOUBLE_EQ(*s.step.fault.duration_s, 5.0);
  EXPECT_FALSE(s.named);
}

TEST(InlineStep, DurationsInMillisecondsAndPlainSeconds) {
  EXPECT_DOUBLE_EQ(*parse("fault stall device=esp32-01 for=500ms").step.fault.duration_s, 0.5);
  EXPECT_DOUBLE_EQ(*parse("fault stall device=esp32-01 for=3").step.fault.duration_s, 3.0);
}

TEST(InlineStep, ResetFaultAndOpenEndedPartition) {
  const InlineStep reboot = parse("fault reboot device=esp32-02");
  EXPECT_EQ(reboot.step.fault.kind, "reboot");
  EXPECT_EQ(reboot.step.fault.devices, std::vector<std::string>{"esp32-02"});
  // A partition must heal in a rig file; inline, it lasts until an `end` request.
  const InlineStep partition = parse("fault partition device=esp32-03");
  EXPECT_EQ(partition.step.fault.kind, "partition");
  EXPECT_FALSE(partition.step.fault.duration_s);
  EXPECT_NE(std::string(kRig).find("[[steps]]"), std::string::npos);
}

TEST(InlineStep, BrownoutTakesVinAndRamp) {
  const InlineStep s = parse("fault brownout device=dps-01 vin=3.5 for=2s ramp_v_per_s=5");
  EXPECT_EQ(s.step.fault.kind, "brownout");
  EXPECT_DOUBLE_EQ(s.step.fault.vin, 3.5);
  EXPECT_DOUBLE_EQ(s.step.fault.ramp_v_per_s, 5);
  EXPECT_DOUBLE_EQ(*s.step.fault.duration_s, 2);
}

TEST(InlineStep, WaitAndExpectConditionsWithOrWithoutSpaces) {
  const InlineStep wait = parse("wait height>=40 deadline=10s");
  EXPECT_EQ(wait.step.action, Step::Action::Wait);
  EXPECT_EQ(wait.step.condition.text, "height >= 40");
  EXPECT_DOUBLE_EQ(wait.step.deadline_s, 10);
  const InlineStep expect = parse("expect false_blacklist == 0 name=\"no false blacklist\"");
  EXPECT_EQ(expect.step.action, Step::Action::Expect);
  EXPECT_EQ(expect.step.condition.name, "false_blacklist");
  EXPECT_EQ(expect.step.label, "no false blacklist");
  EXPECT_TRUE(expect.named);
}

TEST(InlineStep, TrafficAndUart) {
  EXPECT_TRUE(parse("traffic pause").step.traffic_paused);
  EXPECT_EQ(parse("traffic resume").step.action, Step::Action::Traffic);
  EXPECT_FALSE(parse("traffic resume").step.traffic_paused);
  const InlineStep uart = parse(R"(uart device=esp8266-01 data="AT+CWJAP=\"my ap\",\"pw\"")");
  EXPECT_EQ(uart.step.action, Step::Action::Uart);
  EXPECT_EQ(uart.step.uart_device, "esp8266-01");
  EXPECT_EQ(uart.step.uart_data, R"(AT+CWJAP="my ap","pw")");
  // The table reads back to the same text (TOML escaping by toml++).
  const auto rig = parse_rig(std::string(kRig) + "\n" + uart.toml, "t.toml");
  EXPECT_EQ(rig.steps.back().uart_data, R"(AT+CWJAP="my ap","pw")");
}

TEST(InlineStep, ValuesAreTypedAsInToml) {
  // clock_skew's offset_ms must be an integer, ppm a number; a quoted number is a string and refused.
  const InlineStep s = parse("fault clock_skew device=esp32-01 offset_ms=-250 ppm=50.5");
  EXPECT_EQ(s.step.fault.offset_ms, -250);
  EXPECT_DOUBLE_EQ(s.step.fault.ppm, 50.5);
  EXPECT_EQ(error_of("fault clock_skew device=esp32-01 offset_ms=\"250\""),
            "'offset_ms' must be an integer in -86400000..86400000, got a string");
}

TEST(InlineStep, LoaderErrorsLoseTheSyntheticLocation) {
  EXPECT_EQ(error_of("fault serial_corupt device=esp32-01 rate=0.01 for=5s").rfind("unknown fault 'serial_corupt'; allowed: corrupt, bit_flip", 0), 0u)
      << error_of("fault serial_corupt device=esp32-01");
  EXPECT_EQ(error_of("fault reboot device=esp32-09").rfind("unknown device 'esp32-09'; the rig's devices: ", 0), 0u);
  EXPECT_EQ(error_of("fault corrupt device=esp32-01"), "fault 'corrupt' needs 'rate' (0..1)");
  EXPECT_EQ(error_of("fault reboot device=esp32-01 for=2s").rfind("'duration_s': fault 'reboot' has no duration", 0), 0u);
  EXPECT_EQ(error_of("fault brownout device=esp32-01 for=2s").rfind("fault 'brownout' needs a dps device", 0), 0u);
  EXPECT_EQ(error_of("fault corrupt device=esp32-01 rate=2"), "'rate' is 2; allowed range 0..1");
  EXPECT_EQ(error_of("wait heigth>=4").rfind("unknown live value 'heigth'", 0), 0u);
  EXPECT_EQ(error_of("traffic stop"), "unknown traffic 'stop'; allowed: pause, resume");
  EXPECT_EQ(error_of("uart device=esp32-01 data=AT"),
            "uart step: 'esp32-01' is not an AT-mode module (link = \"at\"); the rig's AT-mode devices: esp8266-01");
  EXPECT_EQ(error_of("fault reboot device=esp32-01 colour=red").rfind("unknown key 'colour'; allowed: ", 0), 0u);
  for (const std::string line : {"fault reboot device=esp32-01", "wait height>=1"})
    EXPECT_EQ(error_of(line).find("[[steps]]"), std::string::npos) << line;
}

TEST(InlineStep, LineSyntaxErrors) {
  EXPECT_EQ(error_of(""), "empty step; a step is a verb (fault, wait, expect, traffic, uart) and key=value words");
  EXPECT_EQ(error_of("reboot device=esp32-01"), "unknown verb 'reboot'; allowed: fault, wait, expect, traffic, uart");
  EXPECT_EQ(error_of("fault device=esp32-01"),
            "'fault' takes one fault kind, then key=value words: fault reboot device=esp32-02");
  EXPECT_EQ(error_of("wait deadline=5s"), "'wait' takes a condition: wait height>=40");
  EXPECT_EQ(error_of("traffic"), "'traffic' takes 'pause' or 'resume'");
  EXPECT_EQ(error_of("uart device=esp8266-01"), "'uart' needs data=\"...\" (the text typed into the module's UART)");
  EXPECT_EQ(error_of("uart AT device=esp8266-01"),
            "'uart' takes only key=value words (device=..., data=\"...\"), got 'AT'");
  EXPECT_EQ(error_of("fault reboot device=esp32-01 oops"),
            "'oops' is not a key=value word (after the verb and its argument come only key=value words)");
  EXPECT_EQ(error_of("fault reboot device=esp32-01 device=esp32-02"), "'device' is given twice");
  EXPECT_EQ(error_of("fault reboot device=esp32-01 at_s=5"),
            "'at_s' is a trigger; an inline step starts at once and takes none");
  EXPECT_EQ(error_of("fault stall device=esp32-01 for=soon"),
            "'for=soon' must be a duration: a number of seconds, optionally with an 's' or 'ms' suffix (5s, 500ms)");
  EXPECT_EQ(error_of("uart device=esp8266-01 data=\"AT"), "unterminated string: a '\"' is not closed");
}

TEST(RigLoaderSteps, TrafficAndUartActions) {
  const auto rig = parse_rig(std::string(kRig) + R"(
[[steps]]
traffic = "pause"
[[steps]]
at_s = 5
traffic = "resume"
[[steps]]
uart = "AT+GMR"
device = "esp8266-01"
)", "t.toml");
  ASSERT_EQ(rig.steps.size(), 4u);
  EXPECT_EQ(rig.steps[1].action, Step::Action::Traffic);
  EXPECT_TRUE(rig.steps[1].traffic_paused);
  EXPECT_FALSE(rig.steps[2].traffic_paused);
  EXPECT_EQ(rig.steps[3].action, Step::Action::Uart);
  EXPECT_EQ(rig.steps[3].uart_device, "esp8266-01");
  EXPECT_EQ(rig.steps[3].uart_data, "AT+GMR");
  auto error = [](const std::string& step) {
    try {
      parse_rig(std::string(kRig) + "\n[[steps]]\n" + step, "t.toml");
    } catch (const RigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(error("uart = \"AT\"\n"), "t.toml:24:1: uart step [[steps]] #2 needs 'device' (a link = \"at\" device)");
  EXPECT_EQ(error("uart = \"\"\ndevice = \"esp8266-01\"\n"), "t.toml:25:8: 'uart' in [[steps]] #2 must not be empty");
  // 254 bytes and the appended \r\n fill the control channel's 256; one more is refused at load.
  EXPECT_EQ(error("uart = \"" + std::string(254, 'A') + "\"\ndevice = \"esp8266-01\"\n"), "");
  EXPECT_EQ(error("uart = \"" + std::string(255, 'A') + "\"\ndevice = \"esp8266-01\"\n"),
            "t.toml:25:8: 'uart' in [[steps]] #2 is 257 bytes with its line end; the emulator pool's control channel "
            "takes at most 256");
  EXPECT_EQ(error("traffic = \"pause\"\ndevice = \"esp32-01\"\n"),
            "t.toml:26:10: 'device' in [[steps]] #2 applies only to a uart step (faults take 'devices', a list)");
  EXPECT_EQ(error("traffic = \"pause\"\nrate = 0.1\n"), "t.toml:26:8: 'rate' in [[steps]] #2 applies only to a fault step");
  EXPECT_EQ(error("traffic = \"pause\"\nfault = \"reboot\"\n"),
            "t.toml:24:1: [[steps]] #2 needs exactly one action: fault, wait, expect, traffic or uart");
  // Rig files stay strict: a partition must heal.
  EXPECT_EQ(error("fault = \"partition\"\n"), "t.toml:24:1: fault 'partition' in [[steps]] #2 needs 'duration_s' (it must heal)");
}

// write_rig's deadline (docs/console.md "Events and the written rig"): a session that outlasted the rig's
// deadline_s gets a longer one, the rest of the file untouched.
TEST(RaiseDeadline, ReplacesTheDeadlineLineWhenTheSessionNeedsMore) {
  const std::string rig = "# top\n[rig]\nname = \"t\"\ndeadline_s = 90   # wall clock\n[pass]\nledger_valid = true\n";
  EXPECT_EQ(iotw::harness::raise_deadline(rig, 90), rig);
  EXPECT_EQ(iotw::harness::raise_deadline(rig, 12.5), rig);
  EXPECT_EQ(iotw::harness::raise_deadline(rig, 140.2),
            "# top\n[rig]\nname = \"t\"\n"
            "deadline_s = 141  # raised by write_rig from 90: the session's last action ends at 140.2 s\n"
            "[pass]\nledger_valid = true\n");
}

TEST(RaiseDeadline, AddsOneUnderTheRigHeaderWhenTheFileHasNone) {
  const std::string rig = "[rig]\nname = \"t\"\n[pass]\nledger_valid = true\n";
  EXPECT_EQ(iotw::harness::raise_deadline(rig, 100), rig);  // the default, 120 s, is enough
  const std::string raised = iotw::harness::raise_deadline(rig, 300);
  EXPECT_EQ(raised,
            "[rig]\ndeadline_s = 300  # raised by write_rig from the default 120: the session's last action ends at "
            "300.0 s\nname = \"t\"\n[pass]\nledger_valid = true\n");
  EXPECT_EQ(parse_rig(kRig, "t.toml").deadline_s, 120);
  EXPECT_EQ(parse_rig(iotw::harness::raise_deadline(kRig, 300), "t.toml").deadline_s, 300);
}

TEST(RaiseDeadline, LeavesAnInlineRigTableAsItIs) {
  const std::string rig = "rig = { name = \"t\", deadline_s = 60 }\n";
  EXPECT_EQ(iotw::harness::raise_deadline(rig, 300), rig);
  EXPECT_THROW(iotw::harness::raise_deadline("[rig\n", 300), RigError);
}
