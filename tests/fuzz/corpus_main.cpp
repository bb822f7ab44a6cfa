// Regression driver for the libFuzzer targets under g++ (no libFuzzer): runs LLVMFuzzerTestOneInput once
// per file of the given corpus directories and prints how many ran. Exit 0 unless a run crashes.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv) {
  size_t runs = 0;
  for (int a = 1; a < argc; ++a)
    for (const auto &e : std::filesystem::directory_iterator(argv[a])) {
      std::ifstream f(e.path(), std::ios::binary);
      const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
      ++runs;
    }
  std::printf("ran %zu corpus inputs\n", runs);
  return runs > 0 ? 0 : 1;
}
