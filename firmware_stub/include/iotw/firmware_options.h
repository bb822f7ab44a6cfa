/* Overridable defaults of the firmware (lwIP opt.h pattern): define any of these before including, or in
 * an iotw_fw_opts.h found on the include path when IOTW_FW_HAVE_OPTS_H is defined. Units: ms. */
#ifndef IOTW_FIRMWARE_OPTIONS_H
#define IOTW_FIRMWARE_OPTIONS_H
#ifdef IOTW_FW_HAVE_OPTS_H
#include "iotw_fw_opts.h"
#endif
#ifndef IOTW_FW_HELLO_RETRY_MS
#define IOTW_FW_HELLO_RETRY_MS 1000u /**< resend Hello when not attached after this long */
#endif
#ifndef IOTW_FW_HEARTBEAT_MS
#define IOTW_FW_HEARTBEAT_MS 1000u /**< heartbeat period unless Welcome sets one */
#endif
#ifndef IOTW_FW_LINK_TIMEOUT_BEATS
/** no frame from the trust node for this many heartbeat intervals -> re-attach (Hello). Above the node's 5
 *  (device_timeout_ms = 5 intervals), so the node always gives up on a silent device first (docs/protocol.md §6
 *  "Liveness"). A count, not ms. */
#define IOTW_FW_LINK_TIMEOUT_BEATS 6u
#endif
#ifndef IOTW_FW_FAILOVER_HELLOS
/** Several trust nodes (port node_count > 1): not attached and this many Hellos in a row to the current node got
 *  no valid frame back -> move to the next node (a dead first node costs this x IOTW_FW_HELLO_RETRY_MS). A count. */
#define IOTW_FW_FAILOVER_HELLOS 3u
#endif
#ifndef IOTW_FW_CHECKPOINT_RETRY_MS
#define IOTW_FW_CHECKPOINT_RETRY_MS 1000u /**< at most one CheckpointRequest this often (light verification) */
#endif
#ifndef IOTW_FW_SLOW_MINER_LATE_MS
#define IOTW_FW_SLOW_MINER_LATE_MS 1000u /**< faults.slow_miner: a Result leaves this long after deadline_ms */
#endif
#ifndef IOTW_FW_GARBAGE_PANIC_BYTES
#define IOTW_FW_GARBAGE_PANIC_BYTES 256u /**< faults.reset_on_garbage: a rejected run this long panics (bytes) */
#endif
#endif
