#include "group_wire.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void tp_wire_free(Ringlog__GroupTopicPartitions **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        if (v[i] == NULL)
            continue;
        free(v[i]->topic);
        free(v[i]->partitions);
        free(v[i]);
    }
    free(v);
}

int tp_set_to_wire(const struct tp_set *s, Ringlog__GroupTopicPartitions ***out, size_t *n)
{
    size_t topics = 0;
    for (size_t i = 0; i < s->n; i++)
        topics += i == 0 || strcmp(s->v[i].topic, s->v[i - 1].topic) != 0;
    Ringlog__GroupTopicPartitions **v = calloc(topics ? topics : 1, sizeof(*v));
    *out = NULL;
    *n = 0;
    if (v == NULL)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < s->n;) {
        size_t j = i;
        while (j < s->n && strcmp(s->v[j].topic, s->v[i].topic) == 0)
            j++;
        Ringlog__GroupTopicPartitions *t = malloc(sizeof(*t));
        v[k] = t;
        if (t == NULL) {
            tp_wire_free(v, k);
            return -1;
        }
        ringlog__group_topic_partitions__init(t);
        t->topic = strdup(s->v[i].topic);
        t->partitions = malloc((j - i) * sizeof(*t->partitions));
        k++;
        if (t->topic == NULL || t->partitions == NULL) {
            tp_wire_free(v, k);
            return -1;
        }
        t->n_partitions = j - i;
        for (size_t q = i; q < j; q++)
            t->partitions[q - i] = s->v[q].partition;
        i = j;
    }
    assert(k == topics);
    *out = v;
    *n = k;
    return 0;
}

int tp_set_from_wire(struct tp_set *s, Ringlog__GroupTopicPartitions *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t p = 0; p < v[i]->n_partitions; p++)
            if (tp_set_add(s, v[i]->topic, v[i]->partitions[p]) != 0)
                return -1;
    return 0;
}
