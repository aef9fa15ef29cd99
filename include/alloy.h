/* SPDX-License-Identifier: MIT */
/* alloy.h - umbrella header: include this to get all of alloy. */
#ifndef ALLOY_H
#define ALLOY_H

#include <alloy/config.h>
#include <alloy/common.h>
#include <alloy/heap.h>
#include <alloy/stats.h>
#include <alloy/allocator.h>
#include <alloy/arena.h>
#include <alloy/fixed.h>
#include <alloy/pool.h>
#include <alloy/failing.h>
#include <alloy/tally.h>
#include <alloy/context.h>
#include <alloy/smr.h>
#include <alloy/debug.h>
#include <alloy/profile.h>
#include <alloy/layer.h>

#endif /* ALLOY_H */
