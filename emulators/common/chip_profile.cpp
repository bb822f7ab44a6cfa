#include "chip_profile.hpp"

#include <stdexcept>

namespace iotw::emu {

namespace {
// Ed25519 cycle counts (every chip runs libsodium's ref10-derived portable C, as ports/host does) are derived from
// two published X25519 (one variable-base scalar multiplication) figures and the operation ratios of lib25519's
// speed table (lib25519-20230630 doc/speed.md, Skylake: X dh 88,082, Ed sign 32,588 = 0.37x, Ed verify 113,410 =
// 1.29x, Ed key 28,928 = 0.33x):
//   Cortex-M4, 32x32->64 single-cycle UMULL: 907,240 cycles (Fujii & Aranha, "Curve25519 for the Cortex-M4 and
//     beyond", LATINCRYPT 2017, assembly);
//   32x32->32 multiplier only (Cortex-M0): 3,589,850 cycles (Duell et al., "High-speed Curve25519 on 8-bit,
//     16-bit and 32-bit microcontrollers", Des. Codes Cryptogr. 2015, assembly).
// Estimates on top: portable C costs 2x those assembly figures; the Cortex-M3 (UMULL 3..5 cycles) 1.5x the M4;
// the ESP32's LX6 (MULL + MULUH, two instructions per 64-bit product) 1.5x the M4; the ESP8266's L106 (32x32->32
// MUL32 only, like the M0) the M0 figure. X25519 in C, cycles: M4 1.81 M, M3 / LX6 2.72 M, L106 7.18 M.
constexpr uint32_t x_c(double asm_cycles, double factor) { return static_cast<uint32_t>(asm_cycles * 2.0 * factor); }
constexpr uint32_t kXM4 = x_c(907'240, 1.0), kXM3 = x_c(907'240, 1.5), kXLx6 = x_c(907'240, 1.5),
                   kXL106 = x_c(3'589'850, 1.0);
constexpr uint32_t sign(uint32_t x) { return static_cast<uint32_t>(x * 0.37); }
constexpr uint32_t verify(uint32_t x) { return static_cast<uint32_t>(x * 1.29); }
constexpr uint32_t keypair(uint32_t x) { return static_cast<uint32_t>(x * 0.33); }

// SHA-256, cycles per 64-byte block. Software (estimate): 64 rounds of ~40 single-cycle ALU operations plus the
// message schedule, as in mbedTLS / libsodium C, ~3,000 on the Cortex-M3/M4 (rotates are free in the barrel
// shifter), ~4,000 on the L106 (a rotate takes two funnel-shift instructions). ESP32 (estimate): its SHA
// accelerator (ESP32 Technical Reference Manual, "SHA Accelerator"; used by ESP-IDF's mbedTLS port) plus loading
// 16 words and reading 8 back over the peripheral bus, ~400.

// Boot banners. ESP: the mask ROMs' output of a power-on reset (ESP8266 "ets Jan  8 2013"; ESP32 "ets Jun  8
// 2016"), then the second-stage bootloader's first lines. RTL8710BN (AmebaZ): its ROM log as a module printed it
// (esp8266.ru forum, "how to re-flash RTL8710BN", post 41752; the AmebaZ ROM calls itself <RTL8195A>), without the
// flash calibration and OTA-selection lines. RTL8195AM (Ameba 1): the ROM and image-1 log as an RTL8195 dev board
// printed it (forum.amebaiot.com, "RTL8195 with Arduino SDK on Linux won't connect to WiFi", 2021).
const std::vector<std::string> kRtl8710Rom = {
    "<RTL8195A>", "ROM:[V0.1]", "FLASHRATE:4", "BOOT TYPE:0 XTAL:40000000", "IMG1 DATA[1764:10002000]",
    "IMG1 ENTRY[8000353:100021c5]", "IMG1 ENTER", "IMG2 ENTRY[0x10005000:0x800b12d]", "===== Enter Image 2 ===="};
const std::vector<std::string> kRtl8195Rom = {
    "", "ROM Version: 0.3", "", "Build ToolChain Version: gcc version 4.8.3 (Realtek ASDK-4.8.3p1 Build 2003)", "",
    "=========================================================", "", "Check boot type form eFuse", "SPI Initial",
    "Image1 length: 0x3a88, Image Addr: 0x10000bc8", "Image1 Validate OK, Going jump to Image1", "BOOT from Flash:YES",
    "===== Enter Image 1 ====", "SDR Controller Init", "load NEW fw 0",
    "Flash Image2:Addr 0xb000, Len 64124, Load to SRAM 0x10006000", "Image3 length: 0x2b298, Image3 Addr: 0x30000000",
    "Img2 Sign: RTKWin, InfaStart @ 0x10006049", "===== Enter Image 2 ===="};

const std::vector<ChipProfile> kProfiles = {
    {
        .model = "esp8266",
        .chip = "ESP8266EX",
        .cpu_core = "Tensilica L106",
        .cpu_mhz = 80,             // ESP8266EX datasheet §3.1: 80 MHz default (160 MHz optional)
        .ram_kib = 80,             // ESP8266EX: 80 KiB data RAM (dram0 0x3FFE8000)
        .app_ram_bytes = 50 * 1024,  // ESP8266EX datasheet §3.1.2: "around 50 kB" heap + data in station mode
        .flash_bytes = 2u << 20,   // ESP-WROOM-02 datasheet: 2 MB SPI flash (the AT+GMR module)
        .app_flash_bytes = 0xF0000,  // ESP8266_RTOS_SDK partitions_singleapp.csv: factory app 960 KiB
        .boot_ms = 250,            // estimate: ROM loader + RTOS SDK start with Wi-Fi calibration data loaded
        .sha256_block_cycles = 4000,
        .ed25519_sign_cycles = sign(kXL106),
        .ed25519_verify_cycles = verify(kXL106),
        .ed25519_keypair_cycles = keypair(kXL106),
        .sha256_hardware = false,
        .fw_version = "iotw-fw-0.1",
        .power_on_reset = 1,
        .boot_banner = {" ets Jan  8 2013,rst cause:1, boot mode:(3,6)", "", "load 0x40100000, len 2592, room 16 ",
                        "tail 0", "chksum 0xf3", "load 0x3ffe8000, len 764, room 8 ", "tail 4", "chksum 0x92",
                        "csum 0x92"},
        // system_restart(): the ROM reports rst cause 2 (the SDK's rst_info.reason = 4, REASON_SOFT_RESTART).
        .sw_reset = 3,
        .sw_reset_banner = {" ets Jan  8 2013,rst cause:2, boot mode:(3,6)"},
        // A loop that never yields: the SDK's soft watchdog (~3.2 s) prints "Soft WDT reset" and restarts; the ROM
        // then reports rst cause 2 (rst_info.reason = 3, REASON_SOFT_WDT_RST).
        .wdt_reset = 7,
        .wdt_timeout_ms = 3200,
        .wdt_name = "soft_wdt",
        .wdt_reset_banner = {"", "Soft WDT reset", "", " ets Jan  8 2013,rst cause:2, boot mode:(3,6)"},
    },
    {
        .model = "esp32",
        .chip = "ESP32-D0WD",
        .cpu_core = "Xtensa LX6",
        .cpu_mhz = 240,            // ESP32 datasheet: up to 240 MHz (CONFIG_ESP32_DEFAULT_CPU_FREQ_MHZ_240)
        .ram_kib = 520,            // ESP32 datasheet: 520 KiB SRAM
        .app_ram_bytes = 120 * 1024,  // estimate: ESP-IDF "Memory Types": static DRAM is limited to 160 KiB, of
                                      // which ESP-IDF and the Wi-Fi stack take ~40 KiB
        .flash_bytes = 4u << 20,   // ESP32-WROOM-32 datasheet: 4 MB SPI flash
        .app_flash_bytes = 1u << 20,  // ESP-IDF partitions_singleapp.csv: factory app 1 MiB
        .boot_ms = 300,            // estimate: ESP-IDF logs reach "cpu_start: Starting scheduler" at ~250-300 ms
                                   // with the default bootloader (image verification on)
        .sha256_block_cycles = 400,
        .ed25519_sign_cycles = sign(kXLx6),
        .ed25519_verify_cycles = verify(kXLx6),
        .ed25519_keypair_cycles = keypair(kXLx6),
        .sha256_hardware = true,
        .fw_version = "iotw-fw-0.1",
        .power_on_reset = 1,
        .boot_banner = {"ets Jun  8 2016 00:22:57", "", "rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)",
                        "configsip: 0, SPIWP:0xee",
                        "clk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00",
                        "mode:DIO, clock div:2", "load:0x3fff0030,len:1184", "entry 0x400805f0"},
        // esp_restart(): the ROM sees a CPU software reset.
        .sw_reset = 3,
        .sw_reset_banner = {"ets Jun  8 2016 00:22:57", "", "rst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)"},
        // The task watchdog (CONFIG_ESP_TASK_WDT_TIMEOUT_S = 5, CONFIG_ESP_TASK_WDT_PANIC = y) finds the firmware
        // task starving IDLE, panics and restarts: esp_reset_reason() = ESP_RST_TASK_WDT, the ROM sees SW_CPU_RESET.
        .wdt_reset = 6,
        .wdt_timeout_ms = 5000,
        .wdt_name = "task_wdt",
        .wdt_reset_banner =
            {"E (5000) task_wdt: Task watchdog got triggered. The following tasks did not reset the watchdog in time:",
             "E (5000) task_wdt:  - IDLE0 (CPU 0)", "abort() was called at PC 0x400d2c6b on core 0", "Rebooting...",
             "ets Jun  8 2016 00:22:57", "", "rst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)"},
    },
    {
        .model = "rtl8710",
        .chip = "RTL8710BN",       // AmebaZ (RTL8710BX modules): the SDK v4.0b the AT engine reports
        .cpu_core = "ARM Cortex-M4F",
        .cpu_mhz = 125,            // RTL8710BN datasheet: Cortex-M4 up to 125 MHz
        .ram_kib = 256,            // RTL8710BN datasheet: 256 KiB SRAM
        .app_ram_bytes = 96 * 1024,  // estimate: 256 KiB less the ROM's data, FreeRTOS heap for the Wi-Fi driver
                                     // and lwIP (~160 KiB)
        .flash_bytes = 1u << 20,   // amebaiot.com "Ameba Arduino: OTA": RTL8710 modules carry 1 MB flash
        .app_flash_bytes = 0x75000,  // estimate: image 2 from 0xB000 up to the OTA image at 0x80000 (same page)
        .boot_ms = 200,            // estimate: ROM + image 1 + image 2 copy from flash to SRAM, no SDRAM
        .sha256_block_cycles = 3000,
        .ed25519_sign_cycles = sign(kXM4),
        .ed25519_verify_cycles = verify(kXM4),
        .ed25519_keypair_cycles = keypair(kXM4),
        .sha256_hardware = false,
        .fw_version = "iotw-fw-0.1",
        .power_on_reset = 1,
        .boot_banner = kRtl8710Rom,
        // sys_reset() (NVIC system reset): the ROM log again; the SDK marks a system reset in BACKUP_REG0 bit 0
        // (Realtek backup-register layout, rtl8721d_backup_reg.h: "dword0[0]: system reset"), mapped to ESP_RST_SW.
        .sw_reset = 3,
        .sw_reset_banner = kRtl8710Rom,
        // The hardware watchdog (watchdog_init(5000) + watchdog_start(), refreshed by the firmware task; the SDK's
        // example uses a 5 s timeout) resets the chip silently: BACKUP_REG0 bit 1 "watchdog reset", ESP_RST_WDT.
        .wdt_reset = 7,
        .wdt_timeout_ms = 5000,
        .wdt_name = "hw_wdt",
        .wdt_reset_banner = kRtl8710Rom,
    },
    {
        .model = "rtl8195",
        .chip = "RTL8195AM",       // Ameba 1 (SDK v3.5a, as the AT engine reports)
        .cpu_core = "ARM Cortex-M3",
        .cpu_mhz = 166,            // RTL8195AM datasheet: Cortex-M3 at 166 MHz
        .ram_kib = 512,            // RTL8195AM datasheet: 512 KiB SRAM (+ 2 MiB SDRAM in the package)
        .app_ram_bytes = 192 * 1024,  // estimate: 512 KiB SRAM less the Wi-Fi driver, lwIP and FreeRTOS heap;
                                      // large code and constants live in SDRAM (image 3)
        .flash_bytes = 2u << 20,   // amebaiot.com "Ameba Arduino: OTA": RTL8195A has 2 MB flash
        .app_flash_bytes = 0x75000,  // estimate: image 2 from 0xB000 up to the OTA image at 0x80000 (same page)
        .boot_ms = 400,            // estimate: ROM + image 1, SDRAM controller init, image 2 and image 3 copies
        .sha256_block_cycles = 3000,
        .ed25519_sign_cycles = sign(kXM3),
        .ed25519_verify_cycles = verify(kXM3),
        .ed25519_keypair_cycles = keypair(kXM3),
        .sha256_hardware = false,
        .fw_version = "iotw-fw-0.1",
        .power_on_reset = 1,
        .boot_banner = kRtl8195Rom,
        .sw_reset = 3,
        .sw_reset_banner = kRtl8195Rom,
        .wdt_reset = 7,
        .wdt_timeout_ms = 5000,
        .wdt_name = "hw_wdt",
        .wdt_reset_banner = kRtl8195Rom,
    },
};
}  // namespace

double ChipProfile::sha256_us(size_t bytes) const {
  const size_t blocks = (bytes + 9 + 63) / 64;  // message + 0x80 + 64-bit length, rounded up to whole blocks
  return static_cast<double>(blocks) * sha256_block_cycles / cpu_mhz;
}

const ChipProfile& chip_profile(const std::string& model) {
  for (const auto& p : kProfiles)
    if (p.model == model) return p;
  throw std::invalid_argument("unknown model '" + model + "'");
}

const std::vector<std::string>& chip_models() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& p : kProfiles) v.push_back(p.model);
    return v;
  }();
  return names;
}

const std::vector<std::string>& serial_soc_models() {
  static const std::vector<std::string> names{"esp8266", "esp32"};
  return names;
}

}  // namespace iotw::emu
