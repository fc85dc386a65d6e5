#ifndef AUDITSHIP_COPENSSL_SHIM_H
#define AUDITSHIP_COPENSSL_SHIM_H
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/err.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/rand.h>
#include <openssl/ec.h>

/* Stack accessors and BIO helpers are macros in OpenSSL 3: typed wrappers. */
static inline int auditship_general_names_count(const GENERAL_NAMES *names) { return sk_GENERAL_NAME_num(names); }
static inline GENERAL_NAME *auditship_general_names_at(const GENERAL_NAMES *names, int i) { return sk_GENERAL_NAME_value(names, i); }
static inline void auditship_general_names_free(GENERAL_NAMES *names) { GENERAL_NAMES_free(names); }
static inline int auditship_general_name_type(const GENERAL_NAME *n) { return n->type; }
static inline const ASN1_STRING *auditship_general_name_uri(const GENERAL_NAME *n) { return n->type == GEN_URI ? n->d.uniformResourceIdentifier : NULL; }
static inline long auditship_bio_mem_data(BIO *b, char **pp) { return BIO_get_mem_data(b, pp); }
static inline int auditship_ec_keygen_p256(EVP_PKEY **out) {
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
    if (!ctx) return 0;
    int ok = EVP_PKEY_keygen_init(ctx) > 0
        && EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, NID_X9_62_prime256v1) > 0
        && EVP_PKEY_keygen(ctx, out) > 0;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}
static inline int auditship_ed25519_keygen(EVP_PKEY **out) {
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (!ctx) return 0;
    int ok = EVP_PKEY_keygen_init(ctx) > 0 && EVP_PKEY_keygen(ctx, out) > 0;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}
#endif
