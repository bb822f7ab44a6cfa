# Cortex-M4 (ARMv7E-M): the RTL8710BN's core (its FPU is unused: the firmware has no floating point).
# Debian: gcc-arm-none-eabi, picolibc-arm-none-eabi. docs/firmware.md "Cross builds".
set(IOTW_CROSS_CPU_FLAGS "-mcpu=cortex-m4 -mthumb")
include(${CMAKE_CURRENT_LIST_DIR}/arm-none-eabi.cmake)
