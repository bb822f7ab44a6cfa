// iotw-emu: a pool of emulated ESP8266/ESP32 modules, each running the micro-mining firmware core on its own
// serial link (docs/emulators.md). Runs until SIGTERM/SIGINT; exit 0 then, 2 on a bad config or link.
#include <sys/prctl.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>
#include <list>

#include "common/device_runtime.hpp"
#include "common/pool_config.hpp"

int main(int argc, char** argv) {
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive the harness that spawned us
  CLI::App app{"iotw-emu: a pool of emulated IOTW micro-mining devices"};
  std::string config;
  app.add_option("--config", config, "pool file (docs/emulators.md)")->required();
  CLI11_PARSE(app, argc, argv);

  try {
    auto cfg = iotw::emu::load_pool_config(config);
    iotw::emu::EventLog log(cfg.events);
    boost::asio::io_context io;
    std::list<iotw::emu::DeviceRuntime> devices;
    for (const auto& spec : cfg.devices)
      devices.emplace_back(io, spec, iotw::emu::esp_chip_profile(spec.model), log);
    for (auto& d : devices) d.start();
    log.emit("emu", "pool_started", {{"devices", devices.size()}});

    boost::asio::signal_set signals(io, SIGTERM, SIGINT);
    signals.async_wait([&](boost::system::error_code, int sig) {
      for (auto& d : devices) d.stop();
      log.emit("emu", "pool_stopped", {{"signal", sig}});
      io.stop();
    });
    io.run();
    return 0;
  } catch (const iotw::emu::PoolConfigError& e) {
    std::cerr << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "iotw-emu: " << e.what() << "\n";
    return 2;
  }
}
