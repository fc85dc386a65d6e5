// Declarations only: libFuzzer provides the definition in a fuzzer build.
#include "CLibFuzzer.h"
