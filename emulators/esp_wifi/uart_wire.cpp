#include "esp_wifi/uart_wire.hpp"

#include <algorithm>

namespace iotw::emu {

void UartWire::write(const uint8_t* bytes, size_t n, uint64_t now_ns) {
  if (n == 0) return;
  if (bursts_.empty() || line_free_ns_ < now_ns) {  // the line was idle: a new run starts one byte-time from now
    if (line_free_ns_ < now_ns) line_free_ns_ = now_ns;
    bursts_.push_back({line_free_ns_ + byte_ns_, {}});
  }
  bursts_.back().bytes.append(reinterpret_cast<const char*>(bytes), n);
  line_free_ns_ += n * byte_ns_;
}

std::string UartWire::take(uint64_t now_ns) {
  std::string out;
  while (!bursts_.empty()) {
    Burst& b = bursts_.front();
    if (b.first_ns > now_ns) break;
    const size_t due = std::min<uint64_t>(b.bytes.size(), (now_ns - b.first_ns) / byte_ns_ + 1);
    if (due <= head_) break;
    out.append(b.bytes, head_, due - head_);
    head_ = due;
    if (head_ < b.bytes.size()) break;
    bursts_.erase(bursts_.begin());
    head_ = 0;
  }
  if (bursts_.empty()) std::vector<Burst>().swap(bursts_);  // an idle wire holds nothing
  return out;
}

}  // namespace iotw::emu
