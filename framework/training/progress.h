// A Keras-like progress bar for one epoch of training.
//
// On a terminal it redraws one line in place as steps complete:
//   37/50 [=====================>........] - ETA: 3s - 62ms/step - loss: 0.4123
// and ends the epoch with the final line (and a newline):
//   50/50 [==============================] - 3s 61ms/step - loss: 0.3038 - ...
// Written to a file or pipe, it prints only the final line. The "Epoch 1/6"
// header is the caller's.
#ifndef LOOM_FRAMEWORK_TRAINING_PROGRESS_H_
#define LOOM_FRAMEWORK_TRAINING_PROGRESS_H_

#include <cstdint>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

namespace loom {

class ProgressBar {
 public:
  using Metrics = std::vector<std::pair<std::string, double>>;

  // Writes to `out` (nullptr: prints nothing). `interactive`: `out` is a
  // terminal, where lines can be redrawn. `total_steps` <= 0 means unknown:
  // the bar is left out and the final line counts the last step seen.
  ProgressBar(std::ostream* out, bool interactive, int64_t total_steps,
              int bar_width = 30);

  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // `step` steps (1-based) are done after `elapsed_seconds`; `metrics` are
  // the running values. Redraws the line when interactive, at most every
  // 0.1 s of elapsed time, and always for the first and the last step.
  void Update(int64_t step, double elapsed_seconds, const Metrics& metrics);

  // Prints the final line, with the epoch's time and `metrics` (training and
  // validation), then a newline. Later calls print nothing.
  void Finish(double elapsed_seconds, const Metrics& metrics);

  // Whether standard output is a terminal.
  static bool StdoutIsTerminal();

  // Keras' time formats. A duration: "3s" from one second up, else "950ms"
  // or "12us" ("0s" for zero). Per step: the same with "/step" appended.
  // An ETA: "3s" below a minute, "1:05" below an hour, then "1:02:03".
  static std::string FormatDuration(double seconds);
  static std::string FormatPerStep(double seconds_per_step);
  static std::string FormatEta(double seconds);
  // A metric value: 4 decimals, or 4 significant digits in scientific
  // notation for magnitudes below 1e-3 (as Keras does); "nan", "inf".
  static std::string FormatMetric(double value);

 private:
  // "37/50 [====>....]", or "37/Unknown" when `total` <= 0.
  std::string Counter(int64_t step, int64_t total) const;
  void Draw(const std::string& line, bool final_line);

  std::ostream* out_;
  bool interactive_;
  int64_t total_steps_;
  int bar_width_;
  int64_t last_step_ = 0;
  bool drawn_ = false;            // Some line was drawn.
  double last_draw_seconds_ = 0;  // Elapsed time at the last redraw.
  size_t last_width_ = 0;         // Length of the line on screen.
  bool finished_ = false;
};

}  // namespace loom

#endif  // LOOM_FRAMEWORK_TRAINING_PROGRESS_H_
