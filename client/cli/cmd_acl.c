/* ringlog acl add | remove | list (docs/SECURITY.md "ACLs"). */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

static const char *const OPERATIONS[] = {NULL,     "read",     "write", "create",
                                         "delete", "describe", "alter"};
static const char *const RESOURCES[] = {NULL, "topic", "group", "cluster"};

/* The rule the flags describe into *acl; 0, or 2 after a usage message. */
static int acl_from_args(const struct cli_args *a, ringlog_acl *acl)
{
    memset(acl, 0, sizeof(*acl));
    acl->principal = cli_arg(a, "principal");
    if (!acl->principal)
        return cli_usage(a->cmd, "--principal User:NAME is required");
    int kinds = cli_has(a, "topic") + cli_has(a, "group") + cli_has(a, "cluster");
    if (kinds != 1)
        return cli_usage(a->cmd, "give exactly one of --topic NAME, --group NAME, --cluster");
    acl->resource = cli_has(a, "topic")   ? RINGLOG_ACL_TOPIC
                    : cli_has(a, "group") ? RINGLOG_ACL_GROUP
                                          : RINGLOG_ACL_CLUSTER;
    acl->name = acl->resource == RINGLOG_ACL_CLUSTER ? ""
                : acl->resource == RINGLOG_ACL_TOPIC ? cli_arg(a, "topic")
                                                     : cli_arg(a, "group");
    acl->prefix = cli_has(a, "prefix");
    const char *op = cli_arg(a, "operation");
    for (int i = 1; op && i <= RINGLOG_ACL_ALTER; i++)
        if (strcmp(op, OPERATIONS[i]) == 0)
            acl->operation = (ringlog_acl_operation)i;
    if (!acl->operation)
        return cli_usage(a->cmd,
                         "--operation: read, write, create, delete, describe or alter, not \"%s\"",
                         op ? op : "");
    if (cli_has(a, "allow") == cli_has(a, "deny"))
        return cli_usage(a->cmd, "give exactly one of --allow, --deny");
    acl->deny = cli_has(a, "deny");
    return 0;
}

static int acl_change(const struct cli_args *a, ringlog_conf *conf, bool add)
{
    ringlog_acl acl;
    int rc = acl_from_args(a, &acl);
    if (rc)
        return rc;
    char err[512];
    ringlog_admin *adm = ringlog_admin_new(conf, err, sizeof(err));
    if (!adm)
        return cli_fail("%s", err);
    int e = add ? ringlog_admin_add_acl(adm, &acl, err, sizeof(err))
                : ringlog_admin_remove_acl(adm, &acl, err, sizeof(err));
    ringlog_admin_destroy(adm);
    return e ? cli_fail("%s: %s: %s", a->cmd->name, ringlog_err_name(e), err) : 0;
}

static int acl_add(const struct cli_args *a, ringlog_conf *conf)
{
    return acl_change(a, conf, true);
}

static int acl_remove(const struct cli_args *a, ringlog_conf *conf)
{
    return acl_change(a, conf, false);
}

static int acl_list(const struct cli_args *a, ringlog_conf *conf)
{
    (void)a;
    char err[512];
    ringlog_admin *adm = ringlog_admin_new(conf, err, sizeof(err));
    if (!adm)
        return cli_fail("%s", err);
    ringlog_acl *acls;
    size_t n;
    int e = ringlog_admin_list_acls(adm, &acls, &n, err, sizeof(err));
    ringlog_admin_destroy(adm);
    if (e)
        return cli_fail("acl list: %s: %s", ringlog_err_name(e), err);
    for (size_t i = 0; i < n; i++) {
        const ringlog_acl *x = &acls[i];
        bool known = x->resource >= RINGLOG_ACL_TOPIC && x->resource <= RINGLOG_ACL_CLUSTER &&
                     x->operation >= RINGLOG_ACL_READ && x->operation <= RINGLOG_ACL_ALTER;
        printf("principal=%s resource=%s name=%s pattern=%s operation=%s permission=%s\n",
               x->principal, known ? RESOURCES[x->resource] : "?", x->name,
               x->prefix ? "prefix" : "literal", known ? OPERATIONS[x->operation] : "?",
               x->deny ? "deny" : "allow");
    }
    ringlog_free(acls);
    return 0;
}

static const struct cli_flag RULE_FLAGS[] = {
    {"principal", "User:NAME", "who the rule is for (User:* for everyone)", false},
    {"topic", "NAME", "the rule is about topic NAME (or names starting with it: --prefix)", false},
    {"group", "NAME", "the rule is about consumer group NAME (or a prefix)", false},
    {"cluster", NULL, "the rule is about the cluster (users, ACLs, administration)", false},
    {"prefix", NULL, "NAME is a prefix: the rule covers every name that starts with it", false},
    {"operation", "OP", "read, write, create, delete, describe or alter", false},
    {"allow", NULL, "the rule allows", false},
    {"deny", NULL, "the rule denies (a deny wins over any allow)", false},
};

#define NOTES                                                                                      \
    "With a user or an ACL on the broker, a principal may do only what an ACL allows and no\n"     \
    "ACL denies (super users excepted). Requests need: produce WRITE topic, fetch READ topic,\n"   \
    "metadata and list-offsets DESCRIBE topic (implied by any allow), create CREATE topic or\n"    \
    "cluster, delete DELETE topic, offsets READ group and topic, users/ACLs ALTER cluster.\n"

static const struct cli_cmd ADD = {"acl add",
                                   "",
                                   0,
                                   0,
                                   "Adds a rule (silent on success).",
                                   RULE_FLAGS,
                                   sizeof(RULE_FLAGS) / sizeof(RULE_FLAGS[0]),
                                   NOTES};
static const struct cli_cmd REMOVE = {
    "acl remove",
    "",
    0,
    0,
    "Removes the rule the flags describe exactly (silent on success).",
    RULE_FLAGS,
    sizeof(RULE_FLAGS) / sizeof(RULE_FLAGS[0]),
    NULL};
static const struct cli_cmd LIST = {
    "acl list",
    "",
    0,
    0,
    "Prints a line per rule: principal=P resource=topic|group|cluster name=N\n"
    "pattern=literal|prefix operation=OP permission=allow|deny.",
    NULL,
    0,
    NULL};

const struct cli_command CLI_ACL_ADD = {&ADD, acl_add};
const struct cli_command CLI_ACL_REMOVE = {&REMOVE, acl_remove};
const struct cli_command CLI_ACL_LIST = {&LIST, acl_list};
