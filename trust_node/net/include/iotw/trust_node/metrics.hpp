// Prometheus text exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/)
// for GET /metrics: one HELP, one TYPE and one sample line per metric, no labels.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace iotw::tn {

class Metrics {
 public:
  /** A value that goes up and down. name: [a-zA-Z_:][a-zA-Z0-9_:]*; help: one line. */
  void gauge(std::string_view name, std::string_view help, uint64_t value) { add(name, help, "gauge", value); }
  /** A monotonic counter; name ends in "_total". */
  void counter(std::string_view name, std::string_view help, uint64_t value) { add(name, help, "counter", value); }
  const std::string &text() const { return out_; }

 private:
  void add(std::string_view name, std::string_view help, std::string_view type, uint64_t value) {
    out_.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
    out_.append(name).append(" ").append(std::to_string(value)).append("\n");
  }
  std::string out_;
};

}  // namespace iotw::tn
