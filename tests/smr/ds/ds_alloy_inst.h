/* SPDX-License-Identifier: MIT */
/* tests/smr/ds/ds_alloy_inst.h - ds_template.h instantiated on alloy_smr (EBR or IBR:
 * the domain decides). Define DS(name) and DS_CTX (a type with an `alloy_smr *d`
 * member) first. No include guard: include once per instantiation. */
#define DS_NODE_EXTRA
#define DS_ALLOC(c, size) alloy_smr_node_alloc((c)->d, (size))
#define DS_FREE(c, n, size) alloy_smr_node_free((c)->d, (n), (size))
#define DS_ENTER(c) alloy_smr_enter((c)->d)
#define DS_EXIT(c) alloy_smr_exit((c)->d)
#define DS_LOAD(c, slot, pp) ALLOY_SMR_PROTECT((c)->d, (pp))
#define DS_RETIRE(c, n, size) alloy_smr_retire_node((c)->d, (n), (size))
#include "ds_template.h"
