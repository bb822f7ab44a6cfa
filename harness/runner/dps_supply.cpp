#include "dps_supply.hpp"

#include <cerrno>
#include <cmath>
#include <memory>

#include <fmt/format.h>
#include <modbus.h>

namespace iotw::harness {

DpsSupplyWrite dps_supply_registers(double vin, double ramp_v_per_s) {
  if (!(vin >= 0 && vin <= 60) || !(ramp_v_per_s >= 0 && ramp_v_per_s <= 655.35))
    throw DpsSupplyError(fmt::format("supply out of range: {} V at {} V/s", vin, ramp_v_per_s));
  return {static_cast<uint16_t>(std::lround(ramp_v_per_s * 100)), static_cast<uint16_t>(std::lround(vin * 100))};
}

void set_dps_supply(const std::string& endpoint, double vin, double ramp_v_per_s) {
  const auto colon = endpoint.rfind(':');
  if (colon == std::string::npos) throw DpsSupplyError("bad Modbus endpoint '" + endpoint + "'");
  const std::string host = endpoint.substr(0, colon);
  int port = 0;
  try {
    port = std::stoi(endpoint.substr(colon + 1));
  } catch (const std::exception&) {
    throw DpsSupplyError("bad Modbus endpoint '" + endpoint + "'");
  }
  const DpsSupplyWrite w = dps_supply_registers(vin, ramp_v_per_s);
  std::unique_ptr<modbus_t, void (*)(modbus_t*)> ctx(modbus_new_tcp(host.c_str(), port), [](modbus_t* c) {
    modbus_close(c);
    modbus_free(c);
  });
  if (!ctx) throw DpsSupplyError("modbus_new_tcp " + endpoint + ": " + modbus_strerror(errno));
  modbus_set_slave(ctx.get(), 1);
  modbus_set_response_timeout(ctx.get(), 2, 0);
  if (modbus_connect(ctx.get()) != 0)
    throw DpsSupplyError("Modbus TCP connect " + endpoint + ": " + modbus_strerror(errno));
  if (modbus_write_register(ctx.get(), DpsSupplyWrite::kRampRegister, w.ramp) != 1 ||
      modbus_write_register(ctx.get(), DpsSupplyWrite::kVinRegister, w.vin) != 1)
    throw DpsSupplyError("Modbus write to " + endpoint + ": " + modbus_strerror(errno));
}

}  // namespace iotw::harness
