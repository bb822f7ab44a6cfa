#include "iotw/trust_node/etcd_kv.hpp"

#include <algorithm>

namespace iotw::tn {

EtcdRange EtcdKv::range_prefix(std::string_view prefix, int64_t min_create_revision) {
  EtcdRange out = range(prefix, prefix_end(prefix), 0, min_create_revision);
  std::stable_sort(out.kvs.begin(), out.kvs.end(), [](const EtcdKeyValue &a, const EtcdKeyValue &b) {
    return a.create_revision < b.create_revision;
  });
  return out;
}

std::string EtcdKv::prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

}  // namespace iotw::tn
