/* The admin client's group calls (group_admin.c) use admin.c's connection. */
#ifndef RINGLOG_CLIENT_GROUP_ADMIN_H
#define RINGLOG_CLIENT_GROUP_ADMIN_H

#include <stddef.h>

#include "admin_internal.h"
#include "ringlog.h"
#include "ringlog.pb-c.h"

#endif
