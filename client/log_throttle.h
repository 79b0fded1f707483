/*
 * The library's diagnostics while it retries. A retried step fails the
 * same way at every attempt ("cannot connect to HOST:PORT: connection
 * refused, retrying"), and with several brokers down the messages of each
 * interleave, so a check against the last message alone lets them all
 * through (thousands of lines in 20 s of a failover). Like Kafka's clients,
 * the library shows each distinct message once, then again at most every
 * RL_LOG_REPEAT_MS with how many times it was held back meanwhile.
 */
#ifndef RINGLOG_CLIENT_LOG_THROTTLE_H
#define RINGLOG_CLIENT_LOG_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

#define RL_LOG_REPEAT_MS 10000
#define RL_LOG_THROTTLE_SLOTS 32 /* distinct messages remembered; the oldest shown is reused */

struct rl_log_throttle;

/* NULL when out of memory. */
struct rl_log_throttle *rl_log_throttle_new(void);
void rl_log_throttle_free(struct rl_log_throttle *t);

/*
 * Whether `message` is shown now (thread-safe). When it is, *held is how
 * many times it was held back since it was last shown (0: none).
 */
bool rl_log_throttle_pass(struct rl_log_throttle *t, const char *message, int64_t now_ms,
                          uint32_t *held);

#endif
