/* sha256.h: SHA-256 (FIPS 180-4), for pinning files to the model they belong to. */
#ifndef SL_SHA256_H
#define SL_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t length; /* bytes so far */
    uint8_t block[64];
    size_t used;
} sl_sha256;

void sl_sha256_init(sl_sha256 *s);
void sl_sha256_update(sl_sha256 *s, const void *data, size_t n);
/* Writes the digest as 64 lowercase hex digits and a NUL. */
void sl_sha256_hex(sl_sha256 *s, char out[65]);

#endif
