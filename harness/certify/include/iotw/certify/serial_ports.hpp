// The host's serial ports as libserialport enumerates them (`iotw ports`, docs/certification.md "Ports").
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace iotw::certify {

/// One port. `transport` is "native" (an on-board UART such as /dev/ttyS0), "usb" (a USB adapter: the USB fields
/// are set), "bluetooth" or "unknown". Text fields are empty when the system does not know them.
struct SerialPortInfo {
  std::string path;          ///< e.g. "/dev/ttyUSB0"
  std::string description;   ///< libserialport's description (USB: the product string; native: the driver)
  std::string transport;     ///< "native" | "usb" | "bluetooth" | "unknown"
  std::optional<int> usb_vid, usb_pid;  ///< USB only: vendor and product id, 0..65535
  std::string serial_number, manufacturer, product;  ///< USB only

  /// {"path", "description", "transport", "usb_vid": "10c4" (4 lower-case hex digits) or null, "usb_pid",
  /// "serial_number", "manufacturer", "product"}.
  nlohmann::json to_json() const;
};

/// Every serial port libserialport finds, sorted by path. Throws std::runtime_error with libserialport's
/// message when enumeration fails. PTYs are not listed (libserialport looks ports up in sysfs).
std::vector<SerialPortInfo> list_serial_ports();

/// The `iotw ports` table: one line per port, "PATH  TRANSPORT  VID:PID  SERIAL  MANUFACTURER  DESCRIPTION", a
/// header first; "no serial ports found" when there are none.
std::string ports_table(const std::vector<SerialPortInfo>& ports);

}  // namespace iotw::certify
