#include "qemu_model.hpp"

#include <unistd.h>

#include <boost/process/search_path.hpp>

namespace iotw::emu {

std::filesystem::path qemu_image_next_to(const std::filesystem::path& bin_dir) {
  return (bin_dir / ".." / kQemuImageInBuild).lexically_normal();
}

std::filesystem::path find_qemu_system_arm() {
  return std::filesystem::path(boost::process::search_path(kQemuSystemArm).string());
}

std::string qemu_missing() {
  if (find_qemu_system_arm().empty())
    return std::string(kQemuSystemArm) + " is not installed (not found in PATH): install the Debian package " +
           kQemuDebianPackage + " (apt-get install " + kQemuDebianPackage + ", or bash scripts/setup.sh)";
  return {};
}

std::string qemu_image_missing(const std::filesystem::path& image) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(image, ec) || ::access(image.c_str(), R_OK) != 0)
    return "the " + std::string(kQemuCortexM3Model) + " firmware image " + image.string() +
           " is missing: build it with `" + kQemuImageBuildCommand +
           "` (the cross build needs gcc-arm-none-eabi and picolibc-arm-none-eabi: bash scripts/setup.sh)";
  return {};
}

std::string qemu_unavailable(const std::filesystem::path& image) {
  std::string why = qemu_missing();
  return why.empty() ? qemu_image_missing(image) : why;
}

}  // namespace iotw::emu
