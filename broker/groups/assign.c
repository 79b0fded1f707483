#include "assign.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

int assignor_parse(const char *name, enum assignor *out)
{
    if (name == NULL || name[0] == '\0' || strcmp(name, "uniform") == 0)
        *out = ASSIGNOR_UNIFORM;
    else if (strcmp(name, "range") == 0)
        *out = ASSIGNOR_RANGE;
    else
        return -1;
    return 0;
}

const char *assignor_name(enum assignor a)
{
    return a == ASSIGNOR_RANGE ? "range" : "uniform";
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

bool assign_subscribed(const struct assign_member *m, const char *topic)
{
    return m->ntopics > 0 &&
           bsearch(&topic, m->topics, m->ntopics, sizeof(m->topics[0]), cmp_str) != NULL;
}

/* Per topic, contiguous ranges to the subscribed members in id order. */
static int assign_range(struct assign_member *m, size_t nm, const struct assign_topic *t, size_t nt)
{
    size_t *eligible = malloc((nm ? nm : 1) * sizeof(*eligible));
    if (eligible == NULL)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < nt && rc == 0; i++) {
        size_t k = 0;
        for (size_t j = 0; j < nm; j++)
            if (assign_subscribed(&m[j], t[i].name))
                eligible[k++] = j;
        uint32_t next = 0;
        for (size_t e = 0; e < k && rc == 0; e++) {
            uint32_t share = t[i].partitions / (uint32_t)k + (e < t[i].partitions % k ? 1 : 0);
            for (uint32_t p = 0; p < share && rc == 0; p++)
                rc = tp_set_add(m[eligible[e]].target, t[i].name, next++);
        }
        assert(rc != 0 || k == 0 || next == t[i].partitions);
    }
    free(eligible);
    return rc;
}

int assign_run(enum assignor a, struct assign_member *m, size_t nm, const struct assign_topic *t,
               size_t nt)
{
    for (size_t j = 0; j < nm; j++)
        tp_set_clear(m[j].target);
    int rc = a == ASSIGNOR_RANGE ? assign_range(m, nm, t, nt) : assign_uniform(m, nm, t, nt);
    if (rc != 0)
        for (size_t j = 0; j < nm; j++)
            tp_set_clear(m[j].target);
    return rc;
}
