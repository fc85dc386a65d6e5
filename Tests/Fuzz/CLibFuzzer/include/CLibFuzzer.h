// The one libFuzzer entry point the fuzz driver calls (only in a build with
// -sanitize=fuzzer; see Tests/Fuzz/run). Declared here so that Swift can call it.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
