// An ensemble of trained models as one model folder: the members' graphs
// side by side (each member's nodes and parameters renamed "m<k>/...", the
// token ids fed to all), and the mean of their predicted probabilities
// (soft voting, as scikit-learn's VotingClassifier(voting="soft")) as the
// prediction. The folder is an ordinary saved model (saved_model.h), so
// tools/predict, tools/evaluate, tools/serve, the C API and the
// explanations take it as they take one model.
//
// The members must read their texts alike and predict the same classes:
// the same vocabulary (vocabulary.txt word for word, tokenizer settings),
// the same padding and truncating, features input and class names, and
// predictions of the same width. Seeds of one model file qualify; so do
// different architectures on the same data settings. Their max_len may
// differ when padding and truncating are on the same side (both PRE, as
// Keras' defaults, or both POST): the ensemble encodes texts at the
// longest, and a member trained at a shorter length reads its own cut (a
// TruncateSequences node, "m<k>/truncated_features"), which is exactly
// that member's own encoding of the text.
#ifndef LOOM_FRAMEWORK_TRAINING_ENSEMBLE_H_
#define LOOM_FRAMEWORK_TRAINING_ENSEMBLE_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/registry.h"
#include "framework/training/plugin_search.h"
#include "framework/training/saved_model.h"

namespace loom {

// The ensemble's model definition of `members` (loaded model folders,
// named `names` in errors): checked as above; its weights are set by
// EnsembleWeights. Errors name the member that differs and how.
absl::StatusOr<ModelDef> EnsembleDef(const std::vector<LoadedModel>& members,
                                     const std::vector<std::string>& names);

// Copies every member's parameters into `ensemble` (built from
// EnsembleDef(members)) and sets the averaging weights.
absl::Status SetEnsembleWeights(const std::vector<LoadedModel>& members,
                                Model& ensemble);

struct EnsembleJobOptions {
  std::vector<std::string> member_dirs;  // Model folders, at least two.
  std::string output_dir;                // The ensemble's folder.
  std::vector<std::string> plugins;      // As tools/predict's --plugin.
  PluginSearch plugin_search;
};

// Loads the members, writes the ensemble folder (atomically, file by
// file) and says what it holds on `out`.
absl::Status RunEnsembleJob(const EnsembleJobOptions& options,
                            std::ostream& out);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_TRAINING_ENSEMBLE_H_
