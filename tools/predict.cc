// Classifies raw text with a trained model:
//   bazel run //tools:predict -- --model=runs/<run>/model "A great film."
// Texts come from the arguments, else --file (one per line), else stdin
// (one per line); each prints probability, label and the start of the text.
// A whole file (CSV, TSV, JSON Lines, a class folder) is scored with
//   bazel run //tools:predict -- --model=DIR --input=reviews.csv
//       --output=scored.csv
// which writes every input row with the predicted label and the probability
// of each class appended. Why a text gets its score:
//   bazel run //tools:predict -- --model=DIR --explain "A great film."
//       [--format=json] [--explain_html=why.html]
// prints each word colored by its integrated-gradient attribution, the top
// words for and against, and the probability after each prefix; JSON adds
// occlusion scores (framework/inference/explain.h). One HTML report of the
// first rows of a file:
//   bazel run //tools:predict -- --model=DIR --input=reviews.csv
//       --explain_html=report.html [--explain_rows=20]
// Under mpirun, the ranks share the scoring of --input (same output, byte
// for byte; docs/SCALING.md):
//   mpirun -np 4 bazel-bin/tools/predict --model=DIR --input=big.csv
//       --output=scored.csv
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "framework/distributed/communicator.h"
#include "framework/file_util.h"
#include "framework/inference/explain.h"
#include "framework/status_macros.h"
#include "framework/training/plugin_search.h"
#include "framework/training/predict_job.h"
#include "framework/training/saved_model.h"
#include "framework/training/score_file.h"
#include "framework/training/threads.h"
#include "framework/training/user_path.h"
#include "tools/data_flags.h"
#include "tools/flag_help.h"

ABSL_FLAG(std::string, model, "", "A model/ folder written by train.");
ABSL_FLAG(std::string, file, "", "Read texts from this file, one a line.");
ABSL_FLAG(std::string, input, "",
          "Score this file (CSV, TSV, JSON Lines) or class folder instead of "
          "texts; needs --output.");
ABSL_FLAG(std::string, output, "",
          "Where --input's rows go, with predicted_label and the probability "
          "of each class appended (written atomically).");
ABSL_FLAG(std::string, output_format, "",
          "csv, tsv or jsonl (default: from --output's extension, else the "
          "input's format).");
ABSL_FLAG(std::string, data_format, "",
          "--input's format: csv, tsv, jsonl, folder or imdb (default: found "
          "from the path's extension and content).");
ABSL_FLAG(std::string, text_column, "",
          "--input's text column or JSON key (default: the model's, else "
          "\"text\").");
ABSL_FLAG(std::string, on_bad_rows, "",
          "stop (default) or skip (skip bad rows of --input and count them).");
ABSL_FLAG(std::string, on_bad_text, "",
          "error (default) or replace (bad UTF-8 in --input becomes U+FFFD).");
ABSL_FLAG(int, batch_size, 128, "Texts per run of the model.");
ABSL_FLAG(std::vector<std::string>, plugin, {}, loom::tools::kPluginHelp);
ABSL_FLAG(std::string, plugin_path, "", loom::tools::kPluginPathHelp);
ABSL_FLAG(int, threads, 0, loom::tools::kThreadsHelp);
ABSL_FLAG(std::string, explain, "",
          "Explain this text: each word's integrated-gradient attribution "
          "(through the embedding), occlusion scores and the probability "
          "after each prefix.");
ABSL_FLAG(int, explain_steps, 50,
          "Integration steps for --explain (trapezoid rule, one batched run).");
ABSL_FLAG(int, explain_class, -1,
          "Class index --explain attributes (default: the predicted class).");
ABSL_FLAG(std::string, format, "text",
          "--explain's output: text (colored on a terminal) or json.");
ABSL_FLAG(std::string, explain_html, "",
          "Also write --explain's report as a self-contained HTML page "
          "here (atomically); with --input, one page for the file's first "
          "--explain_rows rows.");
ABSL_FLAG(int, explain_rows, 20,
          "Rows of --input the --explain_html report explains.");

namespace {

// Loads the model folder as RunPredictJob does, for explaining.
absl::StatusOr<loom::LoadedModel> LoadForExplain(
    const loom::PredictJobOptions& options, loom::OpRegistry* registry) {
  loom::SetThreads(options.threads);
  return loom::LoadSavedModel(loom::UserPath(options.model_dir),
                              options.plugins, options.plugin_search, registry);
}

absl::StatusOr<loom::ExplainOptions> ExplainOptionsFromFlags() {
  loom::ExplainOptions explain_options;
  explain_options.steps = absl::GetFlag(FLAGS_explain_steps);
  explain_options.target_class = absl::GetFlag(FLAGS_explain_class);
  if (explain_options.target_class < -1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--explain_class must be a class index or -1, got ",
                     explain_options.target_class));
  }
  return explain_options;
}

// --input with --explain_html: one HTML page explaining the first `rows`
// rows of the file (read with the model's columns unless flags say
// otherwise, as scoring reads it).
absl::Status RunExplainReport(const loom::PredictJobOptions& options,
                              const std::string& html_path, int rows) {
  if (rows < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--explain_rows must be at least 1, got ", rows));
  }
  LOOM_ASSIGN_OR_RETURN(const loom::ExplainOptions explain_options,
                        ExplainOptionsFromFlags());
  loom::OpRegistry registry;
  LOOM_ASSIGN_OR_RETURN(loom::LoadedModel loaded,
                        LoadForExplain(options, &registry));
  LOOM_ASSIGN_OR_RETURN(
      loom::Explainer explainer,
      loom::Explainer::Create(loaded.model.get(), &loaded.vocabulary));
  loom::TextDatasetDef d = loaded.model->def().dataset();
  loom::DataFlags flags = options.data_flags;
  flags.data = options.input;
  LOOM_RETURN_IF_ERROR(loom::ResolveDataSource(flags, &d));
  loom::data::ReadOptions read;
  if (!d.text_column().empty()) read.text_column = d.text_column();
  read.skip_bad_rows = d.on_bad_rows() == "skip";
  read.replace_bad_text = d.on_bad_text() == "replace";
  LOOM_ASSIGN_OR_RETURN(const std::vector<loom::ReportRow> report,
                        loom::ExplainRecords(explainer, d.source(),
                                             options.data_flags.data_format,
                                             read, rows, explain_options));
  const std::string html = loom::ExplanationReportToHtml(
      report, loaded.model->def().name(), options.input);
  LOOM_RETURN_IF_ERROR(
      loom::WriteFileAtomically(loom::UserPath(html_path), html));
  int explained = 0;
  for (const loom::ReportRow& r : report) explained += r.explanation.ok();
  std::cout << "Wrote " << html_path << ": " << report.size() << " rows of "
            << options.input << ", " << explained << " explained\n";
  return absl::OkStatus();
}

// --explain: loads the model folder as RunPredictJob does and explains one
// text.
absl::Status RunExplain(const loom::PredictJobOptions& options,
                        const std::string& text, const std::string& format,
                        const std::string& html_path) {
  if (format != "text" && format != "json") {
    return absl::InvalidArgumentError(
        absl::StrCat("--format must be text or json, got \"", format, "\""));
  }
  loom::OpRegistry registry;
  LOOM_ASSIGN_OR_RETURN(loom::LoadedModel loaded,
                        LoadForExplain(options, &registry));
  LOOM_ASSIGN_OR_RETURN(
      loom::Explainer explainer,
      loom::Explainer::Create(loaded.model.get(), &loaded.vocabulary));
  LOOM_ASSIGN_OR_RETURN(const loom::ExplainOptions explain_options,
                        ExplainOptionsFromFlags());
  LOOM_ASSIGN_OR_RETURN(const loom::Explanation e,
                        explainer.Explain(text, explain_options));
  if (format == "json") {
    std::cout << loom::ExplanationToJson(e, text) << "\n";
  } else {
    std::cout << loom::FormatExplanationText(e, options.interactive);
  }
  if (!html_path.empty()) {
    const std::string html =
        loom::ExplanationToHtml(e, text, loaded.model->def().name());
    LOOM_RETURN_IF_ERROR(
        loom::WriteFileAtomically(loom::UserPath(html_path), html));
  }
  return absl::OkStatus();
}

// Runs the predict job, the work shared by the ranks when mpirun started
// this process: only rank 0 prints; an error on any rank ends the job.
int RunPredict(const loom::PredictJobOptions& options) {
  auto comm = loom::distributed::Communicator::Create();
  if (!comm.ok()) {
    std::cerr << "predict: " << comm.status().message() << "\n";
    return 1;
  }
  loom::distributed::Communicator& c = **comm;
  if (c.size() > 1 && options.input.empty()) {
    if (c.is_root()) {
      std::cerr << "predict: under mpirun, predict scores --input files "
                   "(the ranks share the rows); classify texts with one "
                   "process\n";
    }
    return 2;
  }
  loom::SetScoringCommunicator(&c);
  std::ostringstream discard;
  std::ostream& out = c.is_root() ? std::cout : discard;
  absl::Status status = loom::RunPredictJob(options, out);
  loom::SetScoringCommunicator(nullptr);
  std::cout.flush();
  if (!status.ok()) {
    if (c.size() > 1) {
      std::cerr << "predict: " << c.Where() << ": " << status.message() << "\n";
      std::cerr.flush();
      c.Abort(1);
    }
    std::cerr << "predict: " << status.message() << "\n";
    return 1;
  }
  if (!std::cout) {
    std::cerr << "predict: cannot write the results to standard output\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Classifies texts with a trained model.\n"
      "  bazel run //tools:predict -- --model=runs/<run>/model \"text\" ...\n"
      "  bazel run //tools:predict -- --model=DIR --input=reviews.csv "
      "--output=scored.csv");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  loom::PredictJobOptions options;
  options.model_dir = absl::GetFlag(FLAGS_model);
  if (options.model_dir.empty()) {
    std::cerr << "predict: --model is required; see --help\n";
    return 2;
  }
  options.plugins = absl::GetFlag(FLAGS_plugin);
  options.plugin_search.plugin_path = absl::GetFlag(FLAGS_plugin_path);
  options.plugin_search.shipped_dir = loom::ShippedPluginDir(argv[0]);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.batch_size = absl::GetFlag(FLAGS_batch_size);
  options.input = absl::GetFlag(FLAGS_input);
  options.output = absl::GetFlag(FLAGS_output);
  options.output_format = absl::GetFlag(FLAGS_output_format);
  options.data_flags.data_format = absl::GetFlag(FLAGS_data_format);
  options.data_flags.text_column = absl::GetFlag(FLAGS_text_column);
  options.data_flags.on_bad_rows = absl::GetFlag(FLAGS_on_bad_rows);
  options.data_flags.on_bad_text = absl::GetFlag(FLAGS_on_bad_text);
  options.interactive = ::isatty(STDOUT_FILENO) == 1;
  for (size_t i = 1; i < args.size(); ++i) options.texts.push_back(args[i]);
  const std::string explain = absl::GetFlag(FLAGS_explain);
  if (!explain.empty()) {
    if (!options.texts.empty() || !options.input.empty() ||
        !absl::GetFlag(FLAGS_file).empty()) {
      std::cerr << "predict: --explain takes its text as the flag's value; "
                   "give no other texts, --file or --input with it\n";
      return 2;
    }
    absl::Status status =
        RunExplain(options, explain, absl::GetFlag(FLAGS_format),
                   absl::GetFlag(FLAGS_explain_html));
    std::cout.flush();
    if (!status.ok()) {
      std::cerr << "predict: " << status.message() << "\n";
      return 1;
    }
    return 0;
  }
  if (!absl::GetFlag(FLAGS_explain_html).empty()) {
    if (options.input.empty()) {
      std::cerr << "predict: --explain_html needs --explain \"text\" or "
                   "--input=FILE\n";
      return 2;
    }
    absl::Status status =
        RunExplainReport(options, absl::GetFlag(FLAGS_explain_html),
                         absl::GetFlag(FLAGS_explain_rows));
    std::cout.flush();
    if (!status.ok()) {
      std::cerr << "predict: " << status.message() << "\n";
      return 1;
    }
    if (options.output.empty()) return 0;  // The report only.
  }
  const std::string file = absl::GetFlag(FLAGS_file);
  if (!file.empty() && !options.texts.empty()) {
    std::cerr << "predict: give texts either as arguments or with --file, "
                 "not both\n";
    return 2;
  }
  if (options.texts.empty() && options.input.empty()) {
    std::ifstream in;
    if (!file.empty()) {
      in.open(loom::UserPath(file));
      if (!in) {
        std::cerr << "predict: cannot open " << file << "\n";
        return 1;
      }
    }
    std::istream& src = file.empty() ? std::cin : in;
    for (std::string line; std::getline(src, line);) {
      if (!line.empty()) options.texts.push_back(line);
    }
  }
  return RunPredict(options);
}
