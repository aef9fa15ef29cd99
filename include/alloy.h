/* alloy.h - umbrella header: include this to get all of alloy. */
#ifndef ALLOY_H
#define ALLOY_H

#include <alloy/config.h>
#include <alloy/common.h>
#include <alloy/heap.h>
#include <alloy/stats.h>

#endif /* ALLOY_H */
