/* ringlog user create | delete | list: SCRAM users (docs/SECURITY.md). */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "commands.h"

typedef int (*user_op)(ringlog_admin *adm, const struct cli_args *a, char *err, size_t len);

/* Runs op on a new admin client; prints "user CMD: ERROR: why" on failure. */
static int with_admin(const struct cli_args *a, ringlog_conf *conf, user_op op)
{
    char err[512];
    ringlog_admin *adm = ringlog_admin_new(conf, err, sizeof(err));
    if (!adm)
        return cli_fail("%s", err);
    int e = op(adm, a, err, sizeof(err));
    ringlog_admin_destroy(adm);
    if (e)
        return cli_fail("%s: %s: %s", a->cmd->name, ringlog_err_name(e), err);
    return 0;
}

static int do_create(ringlog_admin *adm, const struct cli_args *a, char *err, size_t len)
{
    return ringlog_admin_create_user(adm, a->operands[0], cli_arg(a, "password"), err, len);
}

static int do_delete(ringlog_admin *adm, const struct cli_args *a, char *err, size_t len)
{
    return ringlog_admin_delete_user(adm, a->operands[0], err, len);
}

static int do_list(ringlog_admin *adm, const struct cli_args *a, char *err, size_t len)
{
    (void)a;
    char **names;
    size_t n;
    int e = ringlog_admin_list_users(adm, &names, &n, err, len);
    for (size_t i = 0; !e && i < n; i++)
        puts(names[i]);
    if (!e)
        ringlog_free(names);
    return e;
}

static int user_create(const struct cli_args *a, ringlog_conf *conf)
{
    assert(a->noperands == 1);
    if (!cli_arg(a, "password") || !*cli_arg(a, "password"))
        return cli_usage(a->cmd, "--password is required");
    return with_admin(a, conf, do_create);
}

static int user_delete(const struct cli_args *a, ringlog_conf *conf)
{
    return with_admin(a, conf, do_delete);
}

static int user_list(const struct cli_args *a, ringlog_conf *conf)
{
    return with_admin(a, conf, do_list);
}

static const struct cli_flag PASSWORD_FLAG[] = {
    {"password", "P", "the user's password (SCRAM keys are derived here from it)", false}};

static const struct cli_cmd CREATE = {
    "user create",
    "NAME",
    1,
    1,
    "Creates a SCRAM-SHA-256 and -512 user, or sets an existing user's password (silent on\n"
    "success).",
    PASSWORD_FLAG,
    1,
    "NAME: 1..128 of [A-Za-z0-9._@+-]. The broker stores salted keys, never the password.\n"
    "Needs ALTER on the cluster (or a super user).\n"};
static const struct cli_cmd DELETE = {
    "user delete",
    "NAME",
    1,
    1,
    "Deletes a user; its open connections are refused at their next request.",
    NULL,
    0,
    NULL};
static const struct cli_cmd LIST = {
    "user list", "", 0, 0, "Prints every user name, one a line, sorted.", NULL, 0, NULL};

const struct cli_command CLI_USER_CREATE = {&CREATE, user_create};
const struct cli_command CLI_USER_DELETE = {&DELETE, user_delete};
const struct cli_command CLI_USER_LIST = {&LIST, user_list};
