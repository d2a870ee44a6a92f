// Padding invariance: whether a model's prediction for a row depends on
// the padding around the row's ids, i.e. on the time length of its batch.
//
// A model is padding-invariant when every op between the features input
// ([N, T] token ids) and the prediction either works on each time step
// alone (Dense over the channels of [N, T, C], activations, dropout,
// SpatialDropout1D, Add, a Concatenate not along time, an Embedding, the
// HashedBigrams of the ids, whose pairs with padding are padding, a
// TruncateSequences of the ids that cuts on the padding's side, which keeps
// every row's ids and only less of its padding), or
// reads the padding mask (the second output of an Embedding with
// mask_zero): an LSTM or GRU with that mask (a masked step leaves the
// state unchanged), GlobalMaxPooling1D / GlobalAveragePooling1D with it.
// After the pooling, any op may follow: there is no time axis left. An op
// that mixes time steps without the mask (pooling over all steps, an LSTM
// without the mask, Conv1D, a Dense over the time axis, an op this check
// does not know) makes the model not invariant; so does a prediction that
// keeps a time axis.
//
// Then the padding columns of a batch (ids 0, which the mask marks) can be
// dropped: trailing ones for dataset.padding POST, leading ones for PRE
// (the fused LSTM gathers each row's valid steps wherever they are, and
// masked pooling skips them), and the prediction stays the same.
#ifndef LOOM_FRAMEWORK_TRAINING_PADDING_INVARIANCE_H_
#define LOOM_FRAMEWORK_TRAINING_PADDING_INVARIANCE_H_

#include <string>

#include "absl/status/status.h"
#include "framework/graph.h"
#include "framework/proto/model.pb.h"

namespace loom {

// OK when `prediction` of `graph` does not depend on the padding of the
// graph input `features`, padded on the side `padding` (see above); else a
// FailedPreconditionError naming the first node that breaks it (its file
// and line when known) and why.
absl::Status CheckPaddingInvariant(const Graph& graph,
                                   const std::string& features,
                                   const std::string& prediction,
                                   TextDatasetDef::Padding padding);

// The same for a ModelDef (its graph built against `registry`) with its
// features_input, prediction and dataset.padding.
absl::Status CheckPaddingInvariant(const ModelDef& model,
                                   const OpRegistry& registry);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_TRAINING_PADDING_INVARIANCE_H_
