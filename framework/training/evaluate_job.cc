#include "framework/training/evaluate_job.h"

#include <algorithm>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "framework/data/corpus.h"
#include "framework/data/dataset.h"
#include "framework/status_macros.h"
#include "framework/training/classification.h"
#include "framework/training/run_folder.h"
#include "framework/training/threads.h"
#include "framework/training/user_path.h"

namespace loom {

absl::Status RunEvaluateJob(const EvaluateJobOptions& options,
                            std::ostream& out) {
  LOOM_RETURN_IF_ERROR(CheckThreads(options.threads));
  if (options.batch_size < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--batch_size must be positive (0: the model's), got ",
                     options.batch_size));
  }
  SetThreads(options.threads);
  OpRegistry registry;
  LOOM_ASSIGN_OR_RETURN(
      LoadedModel loaded,
      LoadSavedModel(UserPath(options.model_dir), options.plugins,
                     options.plugin_search, &registry));
  Model& model = *loaded.model;
  TextDatasetDef dataset_def = model.def().dataset();
  LOOM_RETURN_IF_ERROR(ResolveDataSource(options.data_flags, &dataset_def));
  LOOM_ASSIGN_OR_RETURN(const data::Corpus corpus,
                        data::LoadCorpus(dataset_def));
  for (const std::string& note : corpus.notes) out << "Data: " << note << "\n";
  LOOM_ASSIGN_OR_RETURN(
      const data::EncodedSplit test,
      data::EncodeTestSplit(corpus, loaded.vocabulary, dataset_def));
  const int batch = options.batch_size > 0
                        ? options.batch_size
                        : std::max(1, model.def().training().batch_size());
  const LabeledExamples test_examples = ToLabeledExamples(test);
  LOOM_ASSIGN_OR_RETURN(const Metrics metrics,
                        model.Evaluate(test_examples, batch));
  LOOM_ASSIGN_OR_RETURN(
      const ClassificationReport report,
      EvaluateClassification(model, test_examples, batch, corpus.class_names));
  out << "Evaluated on " << test.n << " test examples\n"
      << TestLine(metrics) << "\n"
      << FormatClassificationReport(report);
  return absl::OkStatus();
}

}  // namespace loom
