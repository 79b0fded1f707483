/*
 * ABI pins of issue 20 item 6: the numeric version agrees with the string
 * and the project's version, and every public struct has the size and
 * field places its symbol version promises. A layout change fails here
 * until the change comes with a new symbol version (see "ABI" in ringlog.h)
 * and these figures are updated with it. Linked against libringlog.so.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ringlog.h"

Test(abi, version_num_matches_the_string_and_the_project)
{
    cr_assert_eq(ringlog_version_num(), RINGLOG_VERSION_NUM);
    unsigned major, minor, patch;
    cr_assert_eq(sscanf(ringlog_version(), "%u.%u.%u", &major, &minor, &patch), 3);
    cr_assert_eq((int)(major << 16 | minor << 8 | patch), ringlog_version_num(), "%s vs 0x%06x",
                 ringlog_version(), ringlog_version_num());
    cr_assert_str_eq(ringlog_version(), RL_PROJECT_VERSION, "header and CMake project disagree");
}

#define PIN(type, size, last)                                                                      \
    cr_expect_eq(sizeof(type), (size_t)(size), #type ": %zu bytes", sizeof(type));                 \
    cr_expect_eq(offsetof(type, last), (size_t)(size) - sizeof(((type *)0)->last),                 \
                 #type "." #last " is not the last field")

/*
 * Sizes on LP64 (x86-64, aarch64): RINGLOG_0.1. Before 0.1's first release,
 * issue 20 item 2 put ringlog_record.flags into the padding after
 * `partition` (size unchanged) and appended key and value to
 * ringlog_delivery (56 -> 88 bytes).
 */
Test(abi, public_struct_layouts_are_pinned)
{
#if UINTPTR_MAX == UINT64_MAX && INT_MAX == INT32_MAX
    PIN(ringlog_header, 32, value_len);
    cr_expect_eq(offsetof(ringlog_record, flags), 12, "flags fills the padding after partition");
    PIN(ringlog_record, 80, opaque);
    PIN(ringlog_delivery, 88, value_len);
    PIN(ringlog_delivered, 16, timestamp);
    PIN(ringlog_delivery_batch, 56, records);
    PIN(ringlog_topic_partition, 24, offset);
    PIN(ringlog_message, 80, header_count);
    PIN(ringlog_topic_config, 32, segment_ms);
    PIN(ringlog_topic_cleanup, 32, min_compaction_lag_ms);
    PIN(ringlog_partition_info, 72, high_watermark);
    PIN(ringlog_topic_info, 56, partition_count);
    PIN(ringlog_config_alter, 24, value);
    PIN(ringlog_partition_offset, 24, timestamp);
    cr_expect_eq(sizeof(ringlog_config_entry), 24);
    cr_expect_eq(offsetof(ringlog_config_entry, is_default), 16);
#else
    cr_skip_test("the pinned sizes are for LP64");
#endif
}
