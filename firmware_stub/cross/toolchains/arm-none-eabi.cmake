# Shared part of the Cortex-M toolchain files: arm-none-eabi-gcc with picolibc (its specs file gives the C
# library, crt0 and the linker script picolibc.ld, sized per board with --defsym __flash/__ram).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)  # no board yet when CMake probes the compiler
set(CMAKE_C_FLAGS_INIT "${IOTW_CROSS_CPU_FLAGS} --specs=picolibc.specs")
# (CMake passes the C flags, and with them the specs file, to the link as well.)
set(IOTW_CROSS_BINUTILS_PREFIX arm-none-eabi-)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
