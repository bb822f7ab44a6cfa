// The qemu-cortex-m3 device model (docs/emulators.md "QEMU Cortex-M devices"): the firmware's Cortex-M3 image
// (firmware_stub/cross, built by the main build) runs in Debian's qemu-system-arm on the lm3s6965evb machine, its
// UART0 on the device's serial link. This header is what both sides need without Boost.Asio: the model's name, the
// image's place in a build tree and the check that QEMU and the image are there (the harness refuses a rig at load
// when they are not; the pool refuses to start such a device).
#pragma once
#include <filesystem>
#include <string>

namespace iotw::emu {

/// The model name in rig files (`model = "qemu-cortex-m3"`) and pool files.
inline constexpr const char* kQemuCortexM3Model = "qemu-cortex-m3";
/// The emulator binary, looked up in PATH, and the Debian package that installs it.
inline constexpr const char* kQemuSystemArm = "qemu-system-arm";
inline constexpr const char* kQemuDebianPackage = "qemu-system-arm";
/// The QEMU machine the image is linked for (TI Stellaris LM3S6965 evaluation board: Cortex-M3, 256 KiB flash,
/// 64 KiB SRAM, UART0 and UART1 as PL011s).
inline constexpr const char* kQemuMachine = "lm3s6965evb";
/// The image inside a build tree: <build>/cross/cortex-m3/iotw_fw_lm3s6965.elf.
inline constexpr const char* kQemuImageInBuild = "cross/cortex-m3/iotw_fw_lm3s6965.elf";
/// The command that builds the image (the main build's cross ExternalProject; needs the ARM toolchain).
inline constexpr const char* kQemuImageBuildCommand = "bash scripts/build.sh";

/// The reset reason the emulator writes before a QMP system_reset: a software reset, numbered as ESP-IDF's
/// ESP_RST_SW like firmware.h's IOTW_RESET_* codes.
inline constexpr unsigned kQemuSoftwareReset = 3;

/// True for a model that runs in QEMU rather than on the host firmware core.
inline bool is_qemu_model(const std::string& model) { return model == kQemuCortexM3Model; }

/// The image a build tree holds, given the folder of its binaries (iotw, iotw-emu: <build>/bin):
/// <bin_dir>/../cross/cortex-m3/iotw_fw_lm3s6965.elf (lexically normalised; it may not exist).
std::filesystem::path qemu_image_next_to(const std::filesystem::path& bin_dir);

/// qemu-system-arm as found in PATH; empty when PATH has none.
std::filesystem::path find_qemu_system_arm();

/// Empty when qemu-system-arm is in PATH; else what is missing and the Debian package that installs it.
std::string qemu_missing();
/// Empty when `image` is a readable file; else its path and the command that builds it.
std::string qemu_image_missing(const std::filesystem::path& image);
/// qemu_missing(), else qemu_image_missing(image): empty when qemu-system-arm is in PATH and `image` is a readable file; else one sentence saying what is missing and
/// how to get it: the Debian package for QEMU (`apt-get install qemu-system-arm`, or `bash scripts/setup.sh`), or the
/// missing image's path and the command that builds it.
std::string qemu_unavailable(const std::filesystem::path& image);

}  // namespace iotw::emu
