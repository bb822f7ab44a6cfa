#include "iotw/trust_node/admission.hpp"

#include <algorithm>

namespace iotw::tn {

RegistrationAdmission::Verdict RegistrationAdmission::check(const std::string &source, bool known_key,
                                                            size_t devices, size_t in_progress, uint64_t now_ms,
                                                            bool reopens) {
  auto [it, fresh] = buckets_.try_emplace(source, Bucket{static_cast<double>(cfg_.per_source_burst), now_ms});
  Bucket &b = it->second;
  if (!fresh && now_ms > b.at_ms) {
    b.tokens = std::min<double>(cfg_.per_source_burst,
                                b.tokens + static_cast<double>(now_ms - b.at_ms) * cfg_.per_source_per_s / 1000.0);
    b.at_ms = now_ms;
  }
  if (b.tokens < 1.0) return Verdict::source_rate;
  b.tokens -= 1.0;
  if (reopens) return Verdict::admit;
  if (!known_key && devices + in_progress >= cfg_.max_devices) return Verdict::device_cap;
  if (in_progress >= cfg_.max_in_progress) return Verdict::in_progress_cap;
  return Verdict::admit;
}

const char *RegistrationAdmission::reason(Verdict v) {
  switch (v) {
    case Verdict::admit: return "admitted";
    case Verdict::device_cap: return "device_cap";
    case Verdict::in_progress_cap: return "in_progress_cap";
    case Verdict::source_rate: return "source_rate";
  }
  return "?";
}

}  // namespace iotw::tn
