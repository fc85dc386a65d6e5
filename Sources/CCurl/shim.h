#ifndef AUDITSHIP_CCURL_SHIM_H
#define AUDITSHIP_CCURL_SHIM_H
#include <curl/curl.h>

/* curl_easy_setopt and curl_easy_getinfo are variadic: Swift cannot call them,
   so each argument type gets one typed wrapper. */
static inline CURLcode auditship_curl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode auditship_curl_setopt_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode auditship_curl_setopt_pointer(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode auditship_curl_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode auditship_curl_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
typedef size_t (*auditship_curl_write_fn)(char *ptr, size_t size, size_t nmemb, void *userdata);
static inline CURLcode auditship_curl_setopt_write(CURL *h, CURLoption o, auditship_curl_write_fn v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode auditship_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode auditship_curl_getinfo_double(CURL *h, CURLINFO i, double *v) { return curl_easy_getinfo(h, i, v); }
#endif
