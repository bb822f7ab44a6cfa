// `iotw certify --dut SPEC`: every documented form parses to what it says, every mistake names its part.
#include "iotw/certify/dut_spec.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace iotw::certify {
namespace {

using ::testing::HasSubstr;

std::string error_of(const std::string& spec) {
  try {
    parse_dut_spec(spec);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(DutSpec, SerialPortWithEveryOption) {
  const DutSpec d = parse_dut_spec("serial:/dev/ttyUSB0,baud=921600,parity=even,flow=rtscts,reset=esp");
  EXPECT_EQ(d.kind, DutSpec::Kind::Serial);
  EXPECT_EQ(d.path, "/dev/ttyUSB0");
  EXPECT_EQ(d.baud, 921600);
  EXPECT_EQ(d.parity, DutSpec::Parity::Even);
  EXPECT_EQ(d.flow, DutSpec::Flow::RtsCts);
  EXPECT_EQ(d.reset, DutSpec::Reset::Esp);
  EXPECT_FALSE(d.is_pty());
  EXPECT_EQ(d.canonical(), "serial:/dev/ttyUSB0,baud=921600,parity=even,flow=rtscts,reset=esp");
}

TEST(DutSpec, SerialDefaultsAndPty) {
  const DutSpec d = parse_dut_spec("serial:/dev/pts/7");
  EXPECT_TRUE(d.is_pty());
  EXPECT_EQ(d.canonical(), "serial:/dev/pts/7,baud=115200,parity=none,flow=none,reset=none");
}

TEST(DutSpec, UdpAndTcp) {
  const DutSpec u = parse_dut_spec("udp:192.168.4.20:4210");
  EXPECT_EQ(u.kind, DutSpec::Kind::Udp);
  EXPECT_EQ(u.host, "192.168.4.20");
  EXPECT_EQ(u.port, 4210);
  const DutSpec t = parse_dut_spec("tcp:127.0.0.1:9000");
  EXPECT_EQ(t.kind, DutSpec::Kind::Tcp);
  EXPECT_EQ(t.canonical(), "tcp:127.0.0.1:9000");
}

TEST(DutSpec, MistakesNameTheirPart) {
  EXPECT_THAT(error_of("/dev/ttyUSB0"), HasSubstr("is not serial:PATH, udp:HOST:PORT or tcp:HOST:PORT"));
  EXPECT_THAT(error_of("usb:/dev/ttyUSB0"), HasSubstr("unknown DUT kind 'usb'; allowed: serial, udp, tcp"));
  EXPECT_THAT(error_of("serial:ttyUSB0"), HasSubstr("absolute device path"));
  EXPECT_THAT(error_of("serial:/dev/ttyUSB0,bauds=9600"), HasSubstr("unknown serial option 'bauds'; allowed: baud, parity, flow, reset"));
  EXPECT_THAT(error_of("serial:/dev/ttyUSB0,baud=fast"), HasSubstr("baud must be a whole number in 300..4000000, got 'fast'"));
  EXPECT_THAT(error_of("serial:/dev/ttyUSB0,baud=100"), HasSubstr("got '100'"));
  EXPECT_THAT(error_of("serial:/dev/ttyUSB0,parity=mark"), HasSubstr("parity must be none, even or odd"));
  EXPECT_THAT(error_of("serial:/dev/ttyUSB0,flow=dsrdtr"), HasSubstr("flow must be none, rtscts or xonxoff"));
  EXPECT_THAT(error_of("serial:/dev/ttyUSB0,reset"), HasSubstr("'reset' is not KEY=VALUE"));
  EXPECT_THAT(error_of("serial:/dev/pts/3,reset=esp"), HasSubstr("has no DTR/RTS lines"));
  EXPECT_THAT(error_of("udp:10.0.0.5"), HasSubstr("needs HOST:PORT"));
  EXPECT_THAT(error_of("udp:device.local:4210"), HasSubstr("HOST must be an IPv4 address"));
  EXPECT_EQ(parse_dut_spec("tcp:127.0.0.1:0").port, 0) << "0: the certifier picks a free port";
  EXPECT_THAT(error_of("tcp:127.0.0.1:-1"), HasSubstr("PORT must be 0..65535, got '-1'"));
  EXPECT_THAT(error_of("tcp:127.0.0.1:70000"), HasSubstr("got '70000'"));
}

template <class F>
std::string error_in(F parse) {
  try {
    parse();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(ModbusTarget, TcpAndRtuFormsParseAndMistakesNameTheOption) {
  const ModbusTarget t = parse_modbus_target("tcp:127.0.0.1:1502");
  EXPECT_EQ(t.kind, ModbusTarget::Kind::Tcp);
  EXPECT_EQ(t.host, "127.0.0.1");
  EXPECT_EQ(t.port, 1502);
  EXPECT_EQ(t.slave, 1);
  const ModbusTarget r = parse_modbus_target("rtu:/dev/ttyUSB1,baud=19200,parity=even,slave=7");
  EXPECT_EQ(r.kind, ModbusTarget::Kind::Rtu);
  EXPECT_EQ(r.path, "/dev/ttyUSB1");
  EXPECT_EQ(r.baud, 19200);
  EXPECT_EQ(r.parity, 'E');
  EXPECT_EQ(r.slave, 7);
  EXPECT_EQ(r.canonical(), "rtu:/dev/ttyUSB1,baud=19200,parity=even,slave=7");
  EXPECT_EQ(parse_modbus_target("rtu:/dev/pts/3").baud, 9600) << "the DPS default";
  EXPECT_THAT(error_in([] { parse_modbus_target("udp:1.2.3.4:5"); }), HasSubstr("--modbus: 'udp:1.2.3.4:5' is not"));
  EXPECT_THAT(error_in([] { parse_modbus_target("tcp:127.0.0.1:0"); }), HasSubstr("--modbus: PORT must be 1..65535"));
  EXPECT_THAT(error_in([] { parse_modbus_target("tcp:127.0.0.1:502,baud=9600"); }),
              HasSubstr("unknown option 'baud'; allowed: slave"));
  EXPECT_THAT(error_in([] { parse_modbus_target("rtu:/dev/ttyUSB1,slave=300"); }), HasSubstr("slave must be 1..247"));
}

TEST(LanTarget, ControlPortAndOptionalDiscovery) {
  const LanTarget t = parse_lan_target("127.0.0.1:55443");
  EXPECT_EQ(t.port, 55443);
  EXPECT_EQ(t.discovery_host, "239.255.255.250") << "the Yeelight SSDP group by default";
  EXPECT_EQ(t.discovery_port, 1982);
  const LanTarget d = parse_lan_target("127.0.0.1:4000,discovery=127.0.0.1:4001");
  EXPECT_EQ(d.discovery_host, "127.0.0.1");
  EXPECT_EQ(d.discovery_port, 4001);
  EXPECT_THAT(error_in([] { parse_lan_target("bulb.local:55443"); }), HasSubstr("--lan: HOST must be an IPv4 address"));
  EXPECT_THAT(error_in([] { parse_lan_target("127.0.0.1:1,mcast=1"); }), HasSubstr("--lan: unknown option 'mcast=1'"));
}

}  // namespace
}  // namespace iotw::certify
