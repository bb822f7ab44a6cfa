// DpsRegisterMap: RDTech DPS5005 scaling, the emulator control and metering blocks, and the Modbus
// exception each bad request gets (docs/dps-register-map.md).
#include <gtest/gtest.h>

#include "dps_chip/dps_register_map.hpp"

using namespace iotw::emu;
using Ex = ModbusException;

class DpsRegisterMapTest : public ::testing::Test {
 protected:
  iotw::ManualClock clock{0};
  DpsChip chip{clock};
  DpsRegisterMap map{chip};
  void SetUp() override {
    chip.set_input(24);
    chip.set_load_ohm(10);
    chip.advance();
  }
  void write(uint16_t addr, std::vector<uint16_t> v) {
    ASSERT_EQ(map.check_write(addr, v.data(), static_cast<uint16_t>(v.size())), Ex::kNone);
    for (size_t i = 0; i < v.size(); i++) map.write(static_cast<uint16_t>(addr + i), v[i]);
  }
};

TEST_F(DpsRegisterMapTest, DatasheetWorkedExampleScaling) {
  // DPS5005 example 3: 01 10 0000 0002 04 0960 05DC sets 24.00 V and 1.500 A
  write(0x0000, {0x0960, 0x05DC});
  EXPECT_DOUBLE_EQ(chip.vset(), 24.0);
  EXPECT_DOUBLE_EQ(chip.iset(), 1.5);
  write(0x0000, {500});
  write(0x0001, {5000});
  write(0x0009, {1});
  EXPECT_EQ(map.holding(0x02), 500);   // UOUT 5.00 V
  EXPECT_EQ(map.holding(0x03), 500);   // IOUT 0.500 A
  EXPECT_EQ(map.holding(0x04), 250);   // POWER 2.50 W
  EXPECT_EQ(map.holding(0x05), 2400);  // UIN 24.00 V
  EXPECT_EQ(map.holding(0x08), 0);     // CV
  EXPECT_EQ(map.holding(0x0B), 5005);
  EXPECT_EQ(map.holding(0x0C), 17);
  EXPECT_EQ(map.holding(0x50), 500);   // M0 aliases the live set-points
}

TEST_F(DpsRegisterMapTest, ReadsOutsideTheMapAreIllegalAddresses) {
  EXPECT_EQ(map.check_read(3, 0x0000, 13), Ex::kNone);
  EXPECT_EQ(map.check_read(3, 0x0000, 14), Ex::kIllegalAddress);  // 0x0D is a hole
  EXPECT_EQ(map.check_read(3, 0x0050, 8), Ex::kNone);
  EXPECT_EQ(map.check_read(3, 0x0058, 1), Ex::kIllegalAddress);
  EXPECT_EQ(map.check_read(3, 0x0100, 4), Ex::kNone);
  EXPECT_EQ(map.check_read(3, 0x0103, 2), Ex::kIllegalAddress);
  EXPECT_EQ(map.check_read(4, 0x0000, 20), Ex::kNone);
  EXPECT_EQ(map.check_read(4, 0x0013, 2), Ex::kIllegalAddress);
  EXPECT_EQ(map.check_read(3, 0xFFFF, 2), Ex::kIllegalAddress);
  EXPECT_EQ(map.check_read(3, 0, 0), Ex::kIllegalValue);
  EXPECT_EQ(map.check_read(3, 0, 126), Ex::kIllegalValue);
  EXPECT_EQ(map.check_read(1, 0, 1), Ex::kIllegalFunction);
}

TEST_F(DpsRegisterMapTest, BadWritesChangeNothing) {
  const uint16_t ro = 1234, big_v = 5001, onoff = 2;
  EXPECT_EQ(map.check_write(0x02, &ro, 1), Ex::kIllegalAddress);  // UOUT is read-only
  EXPECT_EQ(map.check_write(0x0D, &ro, 1), Ex::kIllegalAddress);
  EXPECT_EQ(map.check_write(0x00, &big_v, 1), Ex::kIllegalValue);
  EXPECT_EQ(map.check_write(0x09, &onoff, 1), Ex::kIllegalValue);
  const uint16_t pair[] = {1000, 9999};  // second value out of range: the whole write is refused
  EXPECT_EQ(map.check_write(0x00, pair, 2), Ex::kIllegalValue);
  EXPECT_DOUBLE_EQ(chip.vset(), 5.0);
}

TEST_F(DpsRegisterMapTest, SupplyWrittenOverModbusBrownsOutTheRail) {
  write(0x0100, {400});  // 4.00 V: below the 6 V brown-out threshold
  clock.advance(50);
  auto ev = chip.advance();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, RailEvent::kBrownout);
  write(0x0100, {2400});
  ev = chip.advance();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, RailEvent::kBoot);
  EXPECT_EQ(map.input(0x0F), 1);  // brownouts
}

TEST_F(DpsRegisterMapTest, MeteringBlockCarriesEnergyOnTimeAndFirmwareStatus) {
  write(0x0009, {1});
  clock.advance(3'600'000);  // 5 V / 10 ohm = 2.5 W for an hour
  chip.advance();
  EXPECT_EQ((map.input(0x08) << 16) | map.input(0x09), 2500);
  EXPECT_EQ((map.input(0x0A) << 16) | map.input(0x0B), 3600);
  FirmwareStatus fs{9, 3, 2, {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4}};
  map.set_firmware_status(fs);
  EXPECT_EQ(map.input(0x0C), 9);
  EXPECT_EQ(map.input(0x0D), 3);
  EXPECT_EQ(map.input(0x0E), 2);
  EXPECT_EQ(map.input(0x10), 0xdead);
  EXPECT_EQ(map.input(0x13), 0x0304);
}
