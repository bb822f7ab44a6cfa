// The colluding group's out-of-band board (emulators/common/collusion_board.hpp, behaviour "collude_all_slots").
#include <gtest/gtest.h>

#include "common/collusion_board.hpp"

namespace iotw::emu {
namespace {

TEST(CollusionBoard, LiesOnlyWhenTheGroupHoldsEverySlot) {
  CollusionBoard& b = CollusionBoard::instance();
  b.configure(2, 50);
  EXPECT_EQ(b.decide("c-01", 1001, 1000), -1);  // alone so far: wait
  EXPECT_EQ(b.decide("c-01", 1001, 1020), -1);  // asking again does not count twice
  EXPECT_EQ(b.decide("c-02", 1001, 1030), 1);   // both slots are the group's: lie
  EXPECT_EQ(b.decide("c-01", 1001, 1040), 1);   // the same answer for every member
  // A round the group does not fill within the window: everybody answers honestly, even a late member.
  EXPECT_EQ(b.decide("c-03", 1002, 2000), -1);
  EXPECT_EQ(b.decide("c-03", 1002, 2049), -1);
  EXPECT_EQ(b.decide("c-03", 1002, 2050), 0);
  EXPECT_EQ(b.decide("c-04", 1002, 2060), 0);
}

TEST(CollusionBoard, MemberHookOnlyForCollideAllSlots) {
  iotw_fw_config cfg{};
  CollusionMember honest;
  honest.join("collude", "c-01", 3, 50, cfg);
  EXPECT_EQ(cfg.collusion, nullptr);
  CollusionMember m;
  m.join("collude_all_slots", "c-09", 1, 50, cfg);
  ASSERT_EQ(cfg.collusion, &m.hook);
  EXPECT_EQ(cfg.collusion->decide(cfg.collusion->ctx, 77, 5), 1);  // n = 1: a lone member holds the only slot
  CollusionBoard::instance().configure(0, 50);
  EXPECT_EQ(cfg.collusion->decide(cfg.collusion->ctx, 78, 5), -1);  // n unknown: never a lie
  EXPECT_EQ(cfg.collusion->decide(cfg.collusion->ctx, 78, 60), 0);
}

}  // namespace
}  // namespace iotw::emu
