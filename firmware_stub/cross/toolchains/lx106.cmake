# Xtensa LX106: the ESP8266EX's core. Debian: gcc-xtensa-lx106, binutils-xtensa-lx106,
# picolibc-xtensa-lx106-elf. -mlongcalls: code runs from flash mapped at 0x40200000, out of a call's reach of
# IRAM (as Espressif's SDKs build); -mtext-section-literals keeps each function's literals in its own section,
# so --gc-sections drops them with it. docs/firmware.md "Cross builds".
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR xtensa)
set(CMAKE_C_COMPILER xtensa-lx106-elf-gcc)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(IOTW_CROSS_CPU_FLAGS "-mlongcalls -mtext-section-literals")
# Debian installs this picolibc specs file outside the compiler's search path: name it whole.
set(CMAKE_C_FLAGS_INIT "${IOTW_CROSS_CPU_FLAGS} --specs=/usr/lib/xtensa-lx106-elf/picolibc.specs")
# (CMake passes the C flags, and with them the specs file, to the link as well.)
set(IOTW_CROSS_BINUTILS_PREFIX xtensa-lx106-elf-)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
