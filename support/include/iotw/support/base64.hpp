// Base64 text <-> bytes (RFC 4648 §4, the standard alphabet with '=' padding), on libsodium's sodium_bin2base64 /
// sodium_base642bin: the one base64 codec of the C++ code (etcd's v3 JSON gateway carries keys and values in it).
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace iotw {

/// Base64 of `bytes` (any bytes; a std::string is used as a byte buffer): 4 * ceil(n / 3) characters, padded.
std::string to_base64(std::string_view bytes);

/// The bytes of padded standard base64 text; "" decodes to "". nullopt on any other character, a wrong padding
/// or a truncated group.
std::optional<std::string> from_base64(std::string_view text);

}  // namespace iotw
