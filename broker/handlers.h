/* The request handlers, one per request type (request.h has the plumbing). */
#ifndef RINGLOG_BROKER_HANDLERS_H
#define RINGLOG_BROKER_HANDLERS_H

struct request;

/* Answers with a request-level error and no body. */
void request_fail(struct request *r, int error, const char *message);

/* The error_message of a per-partition result: "" for NONE, else the
 * owner's message or the code's default one. */
char *result_error_message(int error, const char *op_message);

void handle_produce(struct request *r);
void handle_fetch(struct request *r);
void handle_list_offsets(struct request *r);
void handle_topic_admin(struct request *r);
void handle_group_offsets(struct request *r);

#endif
