// Every attribute of an MXNet operator node is accounted for before the node is read: each
// parameter MXNet defines for the op is either read by the importer, has no effect on an
// inference forward pass (cuDNN tuning, training-only settings), or must hold its neutral value
// (Dropout mode 'training', slice step 1, a channel-first Pooling layout). Anything else (a
// parameter weightbridge does not know, or a value that changes what the op computes and that the
// importer does not implement) is refused, so no attribute is ever silently ignored.
#pragma once

#include "weightbridge/mxnet_symbol.h"

namespace wb {

// Throws Unsupported naming the attribute; variables ("null" nodes) are not checked (their
// non-hidden keys are copies of the consuming op's attributes, formats-mxnet.md 7.4).
void check_mxnet_attrs(const mxnet::SymNode& n);

}  // namespace wb
