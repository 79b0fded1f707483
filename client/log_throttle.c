/* Distinct diagnostics once, repeats at most every RL_LOG_REPEAT_MS (log_throttle.h). */
#include "log_throttle.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

struct slot {
    uint64_t hash; /* of the message text; 0: free */
    int64_t shown_ms;
    uint32_t held;
};

struct rl_log_throttle {
    pthread_mutex_t mu;
    struct slot slots[RL_LOG_THROTTLE_SLOTS];
};

struct rl_log_throttle *rl_log_throttle_new(void)
{
    struct rl_log_throttle *t = calloc(1, sizeof(*t));
    if (t && pthread_mutex_init(&t->mu, NULL) != 0) {
        free(t);
        return NULL;
    }
    return t;
}

void rl_log_throttle_free(struct rl_log_throttle *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->mu);
    free(t);
}

/* The message's slot, or the one to reuse for it: a free one, else the one shown longest ago. */
static struct slot *slot_for(struct rl_log_throttle *t, uint64_t hash, bool *found)
{
    struct slot *oldest = &t->slots[0];
    for (int i = 0; i < RL_LOG_THROTTLE_SLOTS; i++) {
        struct slot *s = &t->slots[i];
        if (s->hash == hash) {
            *found = true;
            return s;
        }
        if (s->hash == 0 || (oldest->hash != 0 && s->shown_ms < oldest->shown_ms))
            oldest = s;
    }
    *found = false;
    return oldest;
}

bool rl_log_throttle_pass(struct rl_log_throttle *t, const char *message, int64_t now_ms,
                          uint32_t *held)
{
    assert(t && message && held);
    uint64_t hash = XXH3_64bits(message, strlen(message));
    hash += hash == 0; /* 0 marks a free slot */
    pthread_mutex_lock(&t->mu);
    bool found;
    struct slot *s = slot_for(t, hash, &found);
    bool pass = !found || now_ms - s->shown_ms >= RL_LOG_REPEAT_MS;
    *held = 0;
    if (pass) {
        *held = found ? s->held : 0;
        *s = (struct slot){.hash = hash, .shown_ms = now_ms};
    } else {
        s->held++;
    }
    assert(s->hash == hash);
    pthread_mutex_unlock(&t->mu);
    return pass;
}
