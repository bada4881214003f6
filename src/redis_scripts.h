/*
 * redis_scripts.h - the Lua scripts of the Redis store, by name.
 */
#ifndef AUDITWATCH_REDIS_SCRIPTS_H
#define AUDITWATCH_REDIS_SCRIPTS_H

enum aw_redis_script { S_HIT, S_SNAPSHOT, S_POP, S_SET_ADD, S_FIRST_SEEN, S_MEMBER, S_DONE, S_META, S_WRITER, S_FIXUP, S_COUNT };

/* Script source by enum aw_redis_script. */
extern const char *const aw_redis_script_text[S_COUNT];

#endif
