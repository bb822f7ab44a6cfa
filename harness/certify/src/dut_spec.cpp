#include "iotw/certify/dut_spec.hpp"

#include <stdexcept>

namespace iotw::certify {

DutSpec parse_dut_spec(const std::string& spec) {
  try {
    return iotw::harness::parse_device_spec(spec);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("--dut: ") + e.what());
  }
}

}  // namespace iotw::certify
