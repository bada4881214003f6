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

/* Decimal text of t, NUL-terminated; returns its length.  fmt_time
 * writes AW_TIME_NONE as "-inf" and INT64_MAX as "+inf". */
size_t aw_redis_fmt_i64(char out[24], int64_t t);
size_t aw_redis_fmt_time(char out[24], int64_t t);
int64_t aw_redis_parse_time(const char *p, size_t n);
uint64_t aw_redis_parse_hex64(const char *p, size_t n);
/* Entry payload: b is reset first.  decode points e's strings into p. */
void aw_redis_encode_payload(struct aw_buf *b, const struct aw_window_entry *e);
bool aw_redis_decode_payload(const char *p, size_t n, struct aw_window_entry *e);
/* Entry (a window hash's field value): "TIME I" + payload; b is reset
 * first.  decode sets every field but id_hash; false for anything
 * malformed (a time of more than 18 digits included). */
void aw_redis_encode_entry(struct aw_buf *b, const struct aw_window_entry *e);
bool aw_redis_decode_entry(const char *p, size_t n, struct aw_window_entry *e);
void aw_redis_encode_meta(struct aw_buf *b, const struct aw_window_meta *m);
/* Fills every field but group_json; malformed text gives an empty meta. */
void aw_redis_decode_meta(const char *p, size_t n, struct aw_window_meta *m);

/* The next space-separated token of [*p, end) into tok/len, moving *p
 * past it; false at the end. */
bool aw_redis_next_token(const char **p, const char *end, const char **tok, size_t *len);

#endif
