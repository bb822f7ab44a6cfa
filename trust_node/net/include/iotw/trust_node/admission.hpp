// Registration admission (docs/trust-node.md "Registration admission"): whether a Hello may start a
// registration. Sans-IO: the caller passes the time, the registry size and the open registrations.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>

#include "iotw/trust_node/config.hpp"

namespace iotw::tn {

class RegistrationAdmission {
 public:
  enum class Verdict { admit, device_cap, in_progress_cap, source_rate };

  explicit RegistrationAdmission(const AdmissionConfig &cfg) : cfg_(cfg) {}

  /** A Hello from source (a link name) at now_ms (monotonic ms). known_key: the Hello's key is registered
   *  already (re-attach; exempt from the device cap). devices: keys registered; in_progress: registrations
   *  open (Challenge sent, no Prove yet). A key not registered is refused while devices + in_progress reach
   *  max_devices (each open registration may add a device); any Hello while in_progress reaches max_in_progress.
   *  Every Hello, admitted or not, takes a token from source's bucket
   *  when it has one; a Hello finding the bucket empty is refused (source_rate). reopens: source has a registration
   *  open already, which this Hello replaces (its Challenge or Prove was lost): neither cap applies, the open
   *  registrations do not grow (without it, lost datagrams could hold max_in_progress registrations open for good
   *  while their devices' retries are refused). */
  Verdict check(const std::string &source, bool known_key, size_t devices, size_t in_progress, uint64_t now_ms,
                bool reopens = false);
  /** The source's link went away: its bucket is dropped (the table holds only live links). */
  void forget(const std::string &source) { buckets_.erase(source); }
  size_t sources() const { return buckets_.size(); }

  static const char *reason(Verdict v);

 private:
  struct Bucket {
    double tokens;
    uint64_t at_ms;
  };
  AdmissionConfig cfg_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace iotw::tn
