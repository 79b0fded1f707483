#include "names.h"

#include <assert.h>
#include <string.h>

static bool chars_ok(const char *name, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

bool rl_topic_name_valid(const char *name)
{
    if (name == NULL)
        return false;
    size_t len = strnlen(name, RL_TOPIC_NAME_MAX + 1);
    if (len == 0 || len > RL_TOPIC_NAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    return chars_ok(name, len);
}

bool rl_group_name_valid(const char *name)
{
    if (name == NULL)
        return false;
    size_t len = strnlen(name, RL_GROUP_NAME_MAX + 1);
    if (len == 0 || len > RL_GROUP_NAME_MAX || name[0] == '.')
        return false;
    assert(len <= RL_GROUP_NAME_MAX);
    return chars_ok(name, len);
}
