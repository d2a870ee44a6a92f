// Classifies raw text with a trained model:
//   bazel run //tools:predict -- --model=runs/<run>/model "A great film."
// Texts come from the arguments, else --file (one per line), else stdin
// (one per line); each prints probability, label and the start of the text.
// A whole file (CSV, TSV, JSON Lines, a class folder) is scored with
//   bazel run //tools:predict -- --model=DIR --input=reviews.csv \
//       --output=scored.csv
// which writes every input row with the predicted label and the probability
// of each class appended.
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "framework/training/train_job.h"
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
  absl::Status status = loom::RunPredictJob(options, std::cout);
  std::cout.flush();
  if (!status.ok()) {
    std::cerr << "predict: " << status.message() << "\n";
    return 1;
  }
  if (!std::cout) {
    std::cerr << "predict: cannot write the results to standard output\n";
    return 1;
  }
  return 0;
}
