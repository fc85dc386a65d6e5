/* The advanced (experimental) API is used for raw-content dictionaries referenced in place
   (ZSTD_createCDict_advanced, ZSTD_createDDict_advanced); Debian's libzstd exports it. */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
