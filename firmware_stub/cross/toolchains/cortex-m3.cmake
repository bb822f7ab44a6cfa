# Cortex-M3 (ARMv7-M, no FPU): the RTL8195AM's core, and QEMU's lm3s6965evb. Debian: gcc-arm-none-eabi,
# picolibc-arm-none-eabi. docs/firmware.md "Cross builds".
set(IOTW_CROSS_CPU_FLAGS "-mcpu=cortex-m3 -mthumb")
include(${CMAKE_CURRENT_LIST_DIR}/arm-none-eabi.cmake)
