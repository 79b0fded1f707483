/*
 * Internals shared by the files of the replication core. Not part of the
 * API: the broker includes replica_group.h only.
 */
#ifndef RINGLOG_REPLICATION_RG_INTERNAL_H
#define RINGLOG_REPLICATION_RG_INTERNAL_H

#include "replica_group.h"

/* Invariant check, on in every build: a violated invariant means the
 * replica would risk losing acknowledged data, so it must stop. */
#define RG_ASSERT(cond) RG_ASSERT_WITH(rg->config.assert_handler, rg->config.assert_ctx, cond)
/* In the epoch table, which holds a copy of its group's handler. */
#define RG_ASSERT_T(t, cond) RG_ASSERT_WITH((t)->assert_handler, (t)->assert_ctx, cond)
#define RG_ASSERT_WITH(handler, ctx, cond)                                                         \
    do {                                                                                           \
        if (!(cond))                                                                               \
            rg_assert_failed(handler, ctx, __FILE__, __LINE__, #cond);                             \
    } while (0)

/* Calls the group's handler (NULL: print and abort); never returns. */
void rg_assert_failed(rg_assert_handler handler, void *ctx, const char *file, int line,
                      const char *expr) __attribute__((noreturn));

/* ---------------------------------------------------------------- epoch table (epoch_table.c) */

void rg_epoch_table_init(struct rg_epoch_table *t, struct rg_epoch_run *storage, uint32_t capacity,
                         rg_assert_handler handler, void *ctx);
int32_t rg_epoch_table_epoch_at(const struct rg_epoch_table *t, int64_t offset);
int32_t rg_epoch_table_last_epoch(const struct rg_epoch_table *t);
/* Notes that entries of `epoch` start at `start`; a no-op when the last run
 * already has that epoch. Returns RG_ERR_EPOCH_TABLE_FULL when full. */
int rg_epoch_table_append(struct rg_epoch_table *t, int32_t epoch, int64_t start);
/* Forgets every run starting at or after end. */
void rg_epoch_table_truncate(struct rg_epoch_table *t, int64_t end);
/* The largest epoch <= epoch that has entries (0 when none) and where its
 * entries end (the start of the following run, or log_end). */
int64_t rg_epoch_table_end_of(const struct rg_epoch_table *t, int32_t epoch, int64_t log_end,
                              int32_t *found_epoch);
/* Index of the first run whose epoch is > epoch, or count. */
uint32_t rg_epoch_table_first_above(const struct rg_epoch_table *t, int32_t epoch);
/* Index of the run covering offset (offset must be >= runs[0].start). */
uint32_t rg_epoch_table_run_index(const struct rg_epoch_table *t, int64_t offset);
/* The log now starts at start (<= log_end): remembers the epoch of the
 * entry before it, drops the runs below it and clamps the first. */
void rg_epoch_table_trim_front(struct rg_epoch_table *t, int64_t start, int64_t log_end);
/* An empty log starting at start, whose entry start - 1 has start_epoch. */
void rg_epoch_table_reset(struct rg_epoch_table *t, int64_t start, int32_t start_epoch);

/* ---------------------------------------------------------------- membership (membership.c) */

/* Pushes a config batch into the history, dropping the oldest, which must
 * be superseded by a committed one. Rebuilds the peer table. */
void rg_config_push(struct replica_group *rg, const struct rg_config_entry *entry);
/* Forgets configs at or after offset (a truncated suffix). */
void rg_config_truncate(struct replica_group *rg, int64_t end);
/* The log starts at start now: configs below it collapse into start_config
 * (NULL: the bootstrap). False if the history contradicts it. */
bool rg_config_set_start(struct replica_group *rg, int64_t start,
                         const struct rg_config_entry *start_config);
/* The whole history becomes one config (a follower's log reset). */
void rg_config_reset(struct replica_group *rg, const struct rg_config_entry *entry);
/* The config in effect just before the log start. */
const struct rg_config_entry *rg_config_at_start(const struct replica_group *rg);
/* Makes peers[] match the config in effect, keeping known progress. */
void rg_peers_sync(struct replica_group *rg);
struct rg_peer *rg_peer_find(struct replica_group *rg, int32_t node);
uint32_t rg_voter_count(const struct replica_group *rg);
uint32_t rg_quorum(const struct replica_group *rg);
bool rg_self_is_voter(const struct replica_group *rg);
/* A voter or a learner of the config in effect. */
bool rg_self_is_member(const struct replica_group *rg);

/* ---------------------------------------------------------------- recovery.c */

/* A message from a peer: note its disk incarnation (a new one resets what
 * a leader knew of it). */
void rg_note_incarnation(struct replica_group *rg, const struct rg_message *m);
/* A vote answer to this incarnation feeds the recovery bounds. */
void rg_recovery_sample(struct replica_group *rg, const struct rg_message *m);
/* Recovering: asks the voters not yet heard for their terms and logs. */
void rg_recovery_ask(struct replica_group *rg, struct rg_output *out);
/* Recovering: notes when our log holds what was committed before. */
void rg_recovery_caught_up(struct replica_group *rg);
/* The term the next campaign takes (above the vote floor). */
int64_t rg_next_term(const struct replica_group *rg);

/* ---------------------------------------------------------------- output (output.c) */

/* Room for the worst case of one event. */
bool rg_room(const struct replica_group *rg, const struct rg_output *out);
/* A heartbeat to `to`: compact when out has a heartbeat array. */
void rg_out_heartbeat(struct replica_group *rg, struct rg_output *out, int32_t to);

struct rg_message *rg_out_message(struct replica_group *rg, struct rg_output *out,
                                  enum rg_message_type type, int32_t to);
struct rg_log_op *rg_out_op(struct replica_group *rg, struct rg_output *out,
                            enum rg_log_op_type type);
/* Copies role, term, hard state and commit into out when they changed. */
void rg_out_finish(struct replica_group *rg, struct rg_output *out);

/* ---------------------------------------------------------------- election.c */

void rg_become_follower(struct replica_group *rg, int64_t term, int32_t leader);
void rg_tick_election(struct replica_group *rg, struct rg_output *out);
void rg_campaign(struct replica_group *rg, bool pre_vote, bool transfer, struct rg_output *out);
void rg_handle_vote_request(struct replica_group *rg, const struct rg_message *m,
                            struct rg_output *out);
void rg_handle_vote_response(struct replica_group *rg, const struct rg_message *m,
                             struct rg_output *out);
bool rg_in_lease(const struct replica_group *rg);

/* ---------------------------------------------------------------- replicate.c (leader) */

void rg_become_leader(struct replica_group *rg, struct rg_output *out);
void rg_tick_leader(struct replica_group *rg, struct rg_output *out);
void rg_send_appends(struct replica_group *rg, struct rg_output *out);
void rg_send_append(struct replica_group *rg, struct rg_peer *p, struct rg_output *out);
void rg_send_append_or_probe(struct replica_group *rg, struct rg_peer *p, bool allow_empty,
                             struct rg_output *out);
void rg_handle_append_response(struct replica_group *rg, const struct rg_message *m,
                               struct rg_output *out);
void rg_handle_heartbeat_response(struct replica_group *rg, const struct rg_message *m,
                                  struct rg_output *out);
void rg_maybe_commit(struct replica_group *rg);
void rg_reset_peer(struct replica_group *rg, struct rg_peer *p);

/* ---------------------------------------------------------------- follow.c (follower) */

void rg_handle_append(struct replica_group *rg, const struct rg_message *m, struct rg_output *out);
void rg_handle_heartbeat(struct replica_group *rg, const struct rg_message *m,
                         struct rg_output *out);
void rg_handle_install_start(struct replica_group *rg, const struct rg_message *m,
                             struct rg_output *out);
void rg_send_ack(struct replica_group *rg, enum rg_message_type type, int32_t to,
                 struct rg_output *out);
/* The log ends at end from now on (>= commit): forget the rest. */
void rg_forget_from(struct replica_group *rg, int64_t end);
/* The leader says commit is leader_commit: learn it within our verified,
 * durable prefix. */
void rg_learn_commit(struct replica_group *rg, int64_t leader_commit);

#endif
