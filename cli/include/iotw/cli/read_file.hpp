// Reading an input file (rig, config, pool file) so that a failure carries the OS's reason.
#pragma once
#include <filesystem>
#include <string>

namespace iotw::cli {

/// The whole content of `file`. Throws std::system_error whose code() is the errno of the failed open or read
/// (ENOENT, EACCES, EISDIR for a folder, ...) and whose what() is "<file>: <OS message>".
std::string read_file(const std::filesystem::path& file);

}  // namespace iotw::cli
