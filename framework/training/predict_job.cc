#include "framework/training/predict_job.h"

#include <algorithm>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "framework/status_macros.h"
#include "framework/training/classification.h"
#include "framework/training/saved_model.h"
#include "framework/training/score_file.h"
#include "framework/training/threads.h"
#include "framework/training/user_path.h"

namespace loom {
namespace {

// The first `max_bytes` bytes of `text` on one line, cut at a character
// boundary, with "..." if anything was cut.
std::string TextPreview(const std::string& text, size_t max_bytes) {
  size_t end = std::min(max_bytes, text.size());
  while (end > 0 && end < text.size() &&
         (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
    --end;  // Inside a UTF-8 sequence.
  }
  std::string preview = text.substr(0, end);
  for (char& c : preview) {
    if (c == '\n' || c == '\t' || c == '\r') c = ' ';
  }
  return end < text.size() ? preview + "..." : preview;
}

}  // namespace

absl::Status RunPredictJob(const PredictJobOptions& options,
                           std::ostream& out) {
  LOOM_RETURN_IF_ERROR(CheckThreads(options.threads));
  SetThreads(options.threads);
  const bool file_mode = !options.input.empty();
  if (file_mode && options.output.empty()) {
    return absl::InvalidArgumentError(
        "--input needs --output (the scored file to write)");
  }
  if (file_mode && !options.texts.empty()) {
    return absl::InvalidArgumentError(
        "give either --input or texts to classify, not both");
  }
  if (!file_mode && options.texts.empty()) {
    return absl::InvalidArgumentError("no review text to classify");
  }
  if (options.batch_size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--batch_size must be positive, got ", options.batch_size));
  }
  OpRegistry registry;
  LOOM_ASSIGN_OR_RETURN(
      LoadedModel loaded,
      LoadSavedModel(UserPath(options.model_dir), options.plugins,
                     options.plugin_search, &registry));
  Model& model = *loaded.model;
  std::vector<std::string> classes(model.def().dataset().class_name().begin(),
                                   model.def().dataset().class_name().end());
  if (classes.empty()) classes = {"negative", "positive"};  // Older models.
  if (file_mode) {
    // Scoring reads the columns and bad-input settings the model trained
    // with, unless the flags say otherwise.
    TextDatasetDef d = model.def().dataset();
    d.clear_class_name();
    for (const std::string& c : classes) d.add_class_name(c);
    DataFlags flags = options.data_flags;
    flags.data = options.input;
    LOOM_RETURN_IF_ERROR(ResolveDataSource(flags, &d));
    *model.mutable_def()->mutable_dataset()->mutable_class_name() =
        d.class_name();
    ScoreFileOptions score;
    score.input = d.source();
    score.output = UserPath(options.output);
    score.input_format = options.data_flags.data_format;
    score.output_format = options.output_format;
    if (!d.text_column().empty()) score.read.text_column = d.text_column();
    if (!d.label_column().empty()) score.read.label_column = d.label_column();
    score.read.skip_bad_rows = d.on_bad_rows() == "skip";
    score.read.replace_bad_text = d.on_bad_text() == "replace";
    score.batch_size = options.batch_size;
    score.interactive = options.interactive;
    auto summary = ScoreFile(model, loaded.vocabulary, score, out);
    return summary.status();
  }
  LOOM_RETURN_IF_ERROR(CheckClassesMatchModel(model, classes));
  Tensor ids =
      EncodeTexts(options.texts, loaded.vocabulary, model.def().dataset());
  LOOM_ASSIGN_OR_RETURN(const Tensor probs,
                        model.Predict(ids, options.batch_size));
  std::vector<float> p;
  for (size_t i = 0; i < options.texts.size(); ++i) {
    ClassProbabilities(probs, static_cast<int64_t>(i), &p);
    const int label = ArgMax(p);
    const float shown = p.size() == 2 ? p[1] : p[label];
    out << absl::StrFormat("%.4f\t%s\t%s\n", shown, classes[label],
                           TextPreview(options.texts[i], 60));
  }
  return absl::OkStatus();
}

}  // namespace loom
