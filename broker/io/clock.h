/* Clocks of the broker: monotonic for timers and latency, realtime for timestamps. */
#ifndef RINGLOG_BROKER_IO_CLOCK_H
#define RINGLOG_BROKER_IO_CLOCK_H

#include <stdint.h>

int64_t clock_monotonic_ns(void);
int64_t clock_monotonic_ms(void);
int64_t clock_realtime_ms(void);

#endif
