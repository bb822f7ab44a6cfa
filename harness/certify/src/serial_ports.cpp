#include "iotw/certify/serial_ports.hpp"

#include <libserialport.h>

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

namespace iotw::certify {
namespace {

std::string text(const char* s) { return s ? s : ""; }

std::string libserialport_error(sp_return r) {
  if (r == SP_ERR_FAIL) {
    char* msg = sp_last_error_message();
    std::string out = text(msg);
    sp_free_error_message(msg);
    return out;
  }
  return fmt::format("libserialport error {}", static_cast<int>(r));
}

}  // namespace

nlohmann::json SerialPortInfo::to_json() const {
  const auto hex4 = [](const std::optional<int>& v) -> nlohmann::json {
    if (!v) return nullptr;
    return fmt::format("{:04x}", *v);
  };
  return {{"path", path},          {"description", description}, {"transport", transport},
          {"usb_vid", hex4(usb_vid)}, {"usb_pid", hex4(usb_pid)},   {"serial_number", serial_number},
          {"manufacturer", manufacturer}, {"product", product}};
}

std::vector<SerialPortInfo> list_serial_ports() {
  sp_port** list = nullptr;
  if (const sp_return r = sp_list_ports(&list); r != SP_OK) throw std::runtime_error("cannot list serial ports: " + libserialport_error(r));
  std::vector<SerialPortInfo> out;
  for (sp_port** p = list; *p; ++p) {
    SerialPortInfo info;
    info.path = text(sp_get_port_name(*p));
    info.description = text(sp_get_port_description(*p));
    switch (sp_get_port_transport(*p)) {
      case SP_TRANSPORT_NATIVE: info.transport = "native"; break;
      case SP_TRANSPORT_USB: info.transport = "usb"; break;
      case SP_TRANSPORT_BLUETOOTH: info.transport = "bluetooth"; break;
      default: info.transport = "unknown"; break;
    }
    if (sp_get_port_transport(*p) == SP_TRANSPORT_USB) {
      int vid = 0, pid = 0;
      if (sp_get_port_usb_vid_pid(*p, &vid, &pid) == SP_OK) {
        info.usb_vid = vid;
        info.usb_pid = pid;
      }
      info.serial_number = text(sp_get_port_usb_serial(*p));
      info.manufacturer = text(sp_get_port_usb_manufacturer(*p));
      info.product = text(sp_get_port_usb_product(*p));
    }
    out.push_back(std::move(info));
  }
  sp_free_port_list(list);
  std::sort(out.begin(), out.end(), [](const SerialPortInfo& a, const SerialPortInfo& b) { return a.path < b.path; });
  return out;
}

std::string ports_table(const std::vector<SerialPortInfo>& ports) {
  if (ports.empty()) return "no serial ports found\n";
  std::size_t wpath = 4;
  for (const auto& p : ports) wpath = std::max(wpath, p.path.size());
  std::string out = fmt::format("{:<{}}  {:<9}  {:<9}  {:<14}  {:<16}  {}\n", "PATH", wpath, "TRANSPORT", "VID:PID",
                                "SERIAL", "MANUFACTURER", "DESCRIPTION");
  for (const auto& p : ports) {
    const std::string ids = p.usb_vid ? fmt::format("{:04x}:{:04x}", *p.usb_vid, p.usb_pid.value_or(0)) : "-";
    out += fmt::format("{:<{}}  {:<9}  {:<9}  {:<14}  {:<16}  {}\n", p.path, wpath, p.transport, ids,
                       p.serial_number.empty() ? "-" : p.serial_number, p.manufacturer.empty() ? "-" : p.manufacturer,
                       p.description.empty() ? "-" : p.description);
  }
  return out;
}

}  // namespace iotw::certify
