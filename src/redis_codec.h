/*
 * redis_codec.h - Redis string forms of the store's values (redis_codec.c).
 */
#ifndef AUDITWATCH_REDIS_CODEC_H
#define AUDITWATCH_REDIS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auditwatch/buf.h"
#include "auditwatch/store.h"

void aw_redis_fmt_time(char out[24], int64_t t);
int64_t aw_redis_parse_time(const char *p, size_t n);
uint64_t aw_redis_parse_hex64(const char *p, size_t n);
/* Entry payload: b is reset first.  decode points e's strings into p. */
void aw_redis_encode_payload(struct aw_buf *b, const struct aw_window_entry *e);
bool aw_redis_decode_payload(const char *p, size_t n, struct aw_window_entry *e);
void aw_redis_encode_meta(struct aw_buf *b, const struct aw_window_meta *m);
/* Fills every field but group_json; malformed text gives an empty meta. */
void aw_redis_decode_meta(const char *p, size_t n, struct aw_window_meta *m);

#endif
