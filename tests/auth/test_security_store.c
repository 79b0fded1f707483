/* The user/ACL store: persistence, views, the authoriser's rules. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/security.h"

static char dir[64];

static void make_dir(void)
{
    strcpy(dir, "/tmp/rl-sec-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char meta[128];
    snprintf(meta, sizeof(meta), "%s/meta", dir);
    cr_assert_eq(mkdir(meta, 0700), 0);
}

static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(store, .init = make_dir, .fini = remove_dir);

static struct sec_acl acl(const char *principal, enum sec_resource res, const char *name,
                          bool prefix, enum sec_op op, bool deny)
{
    struct sec_acl a;
    memset(&a, 0, sizeof(a));
    strcpy(a.principal, principal);
    a.resource = res;
    strcpy(a.name, name);
    a.prefix = prefix;
    a.op = op;
    a.deny = deny;
    return a;
}

Test(store, users_persist_and_views_follow)
{
    struct security sec;
    char err[256];
    cr_assert_eq(security_open(&sec, dir, false, 2, "carol,User:dave", err, sizeof(err)), 0, "%s",
                 err);
    const struct sec_snapshot *v0 = security_view(&sec, 0);
    cr_assert_not(security_auth_required(v0));
    cr_assert_eq(security_bootstrap_user(&sec, "admin:pw", true, err, sizeof(err)), 0, "%s", err);
    const struct sec_snapshot *v1 = security_view(&sec, 1);
    cr_assert(security_auth_required(v1));
    cr_assert_not_null(security_user(v1, "admin"));
    cr_assert_null(security_user(v1, "nobody"));
    cr_assert(security_is_super(&sec, "User:admin"));
    cr_assert(security_is_super(&sec, "User:carol"));
    cr_assert(security_is_super(&sec, "User:dave"));
    struct sec_acl a = acl("User:bob", SEC_RES_TOPIC, "orders", false, SEC_OP_READ, false);
    cr_assert_eq(security_add_acl(&sec, &a), SEC_OK);
    cr_assert_eq(security_add_acl(&sec, &a), SEC_OK); /* idempotent */
    cr_assert_eq(security_view(&sec, 0)->acl_count, 1);
    cr_assert_eq(security_delete_user(&sec, "nobody"), SEC_UNKNOWN_USER);
    struct sec_user secret_copy = *security_user(security_view(&sec, 0), "admin");
    security_close(&sec);

    /* A second start reads the same users, ACLs and secret, and a bootstrap
     * user does not replace an existing one. */
    cr_assert_eq(security_open(&sec, dir, false, 1, NULL, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(security_bootstrap_user(&sec, "admin:other", true, err, sizeof(err)), 0);
    const struct sec_snapshot *s = security_view(&sec, 0);
    const struct sec_user *u = security_user(s, "admin");
    cr_assert_not_null(u);
    cr_assert_eq(memcmp(u, &secret_copy, sizeof(*u)), 0, "credentials kept as they were");
    cr_assert_eq(s->acl_count, 1);
    cr_assert_eq(security_remove_acl(&sec, &a), SEC_OK);
    cr_assert_eq(security_remove_acl(&sec, &a), SEC_NOT_FOUND);
    cr_assert_eq(security_delete_user(&sec, "admin"), SEC_OK);
    cr_assert_not(security_authoriser_on(security_view(&sec, 0)));
    security_close(&sec);

    /* The file holds no password: "pw" and "other" appear nowhere in it. */
    char path[128], buf[4096];
    snprintf(path, sizeof(path), "%s/meta/security", dir);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    cr_assert_null(memmem(buf, n, "other", 5));
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 077, 0, "meta/security is private (mode %o)", st.st_mode & 0777);
}

Test(store, fake_credentials_are_stable_per_name)
{
    struct security sec;
    char err[256];
    cr_assert_eq(security_open(&sec, dir, false, 1, NULL, err, sizeof(err)), 0);
    struct rl_scram_credential a, b, c;
    security_fake_credential(&sec, RL_SCRAM_SHA256, "ghost", &a);
    security_fake_credential(&sec, RL_SCRAM_SHA256, "ghost", &b);
    security_fake_credential(&sec, RL_SCRAM_SHA256, "phantom", &c);
    cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0);
    cr_assert_neq(memcmp(a.salt, c.salt, a.salt_len), 0);
    cr_assert_eq(a.iterations, RL_SCRAM_ITERATIONS);
    cr_assert_eq(a.salt_len, RL_SCRAM_SALT_BYTES);
    security_close(&sec);
}

Test(store, authoriser_rules)
{
    struct security sec;
    char err[256];
    cr_assert_eq(security_open(&sec, dir, false, 1, "root", err, sizeof(err)), 0);
    const struct sec_snapshot *s = security_view(&sec, 0);
    /* Off while there are no users and no ACLs. */
    cr_assert(security_authorise(&sec, s, "User:x", SEC_RES_TOPIC, "t", SEC_OP_WRITE));
    struct sec_acl rules[] = {
        acl("User:bob", SEC_RES_TOPIC, "orders", false, SEC_OP_READ, false),
        acl("User:bob", SEC_RES_TOPIC, "logs.", true, SEC_OP_WRITE, false),
        acl("User:bob", SEC_RES_TOPIC, "logs.secret", false, SEC_OP_WRITE, true),
        acl("User:*", SEC_RES_TOPIC, "public", false, SEC_OP_READ, false),
        acl("User:bob", SEC_RES_GROUP, "", true, SEC_OP_READ, false),
        acl("User:eve", SEC_RES_CLUSTER, "", false, SEC_OP_ALTER, false),
    };
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
        cr_assert_eq(security_add_acl(&sec, &rules[i]), SEC_OK, "rule %zu", i);
    s = security_view(&sec, 0);
    struct {
        const char *who;
        enum sec_resource res;
        const char *name;
        enum sec_op op;
        bool allowed;
    } cases[] = {
        {"User:bob", SEC_RES_TOPIC, "orders", SEC_OP_READ, true},
        {"User:bob", SEC_RES_TOPIC, "orders", SEC_OP_WRITE, false},      /* no allow */
        {"User:bob", SEC_RES_TOPIC, "orders", SEC_OP_DESCRIBE, true},    /* implied */
        {"User:bob", SEC_RES_TOPIC, "orders2", SEC_OP_READ, false},      /* literal */
        {"User:bob", SEC_RES_TOPIC, "logs.app", SEC_OP_WRITE, true},     /* prefix */
        {"User:bob", SEC_RES_TOPIC, "logs", SEC_OP_WRITE, false},        /* shorter than it */
        {"User:bob", SEC_RES_TOPIC, "logs.secret", SEC_OP_WRITE, false}, /* deny wins */
        {"User:bob", SEC_RES_TOPIC, "public", SEC_OP_READ, true},        /* wildcard principal */
        {"User:amy", SEC_RES_TOPIC, "public", SEC_OP_READ, true},
        {"User:amy", SEC_RES_TOPIC, "orders", SEC_OP_READ, false},
        {"User:bob", SEC_RES_GROUP, "any", SEC_OP_READ, true},  /* empty prefix */
        {"User:bob", SEC_RES_TOPIC, "any", SEC_OP_READ, false}, /* other resource type */
        {"User:eve", SEC_RES_CLUSTER, "", SEC_OP_ALTER, true},
        {"User:bob", SEC_RES_CLUSTER, "", SEC_OP_ALTER, false},
        {"User:root", SEC_RES_CLUSTER, "", SEC_OP_ALTER, true}, /* super user */
        {"User:root", SEC_RES_TOPIC, "logs.secret", SEC_OP_WRITE, true},
        {SEC_ANONYMOUS, SEC_RES_TOPIC, "orders", SEC_OP_READ, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_expect_eq(
            security_authorise(&sec, s, cases[i].who, cases[i].res, cases[i].name, cases[i].op),
            cases[i].allowed, "case %zu: %s op %d on %s", i, cases[i].who, cases[i].op,
            cases[i].name);
    /* Invalid ACLs are refused. */
    struct sec_acl bad[] = {
        acl("bob", SEC_RES_TOPIC, "t", false, SEC_OP_READ, false),
        acl("User:bob", SEC_RES_TOPIC, "", false, SEC_OP_READ, false),
        acl("User:bob", SEC_RES_CLUSTER, "x", false, SEC_OP_ALTER, false),
        acl("User:bob", SEC_RES_TOPIC, "t", false, (enum sec_op)9, false),
        acl("User:bob", (enum sec_resource)7, "t", false, SEC_OP_READ, false),
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(security_add_acl(&sec, &bad[i]), SEC_INVALID, "bad rule %zu", i);
    security_close(&sec);
}

Test(store, damaged_file_refused)
{
    char path[128], err[256];
    snprintf(path, sizeof(path), "%s/meta/security", dir);
    FILE *f = fopen(path, "wb");
    fputs("not protobuf at all \xff\xff\xff", f);
    fclose(f);
    struct security sec;
    cr_assert_eq(security_open(&sec, dir, false, 1, NULL, err, sizeof(err)), -1);
    cr_assert(strstr(err, "not a valid security state"), "%s", err);
    free(sec.views);
    free(sec.super_users);
}
