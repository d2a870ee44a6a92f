#include "framework/training/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace loom {
namespace {

constexpr double kRedrawInterval = 0.1;  // Seconds of elapsed time.

int Digits(int64_t n) {
  int digits = 1;
  while (n >= 10) {
    n /= 10;
    ++digits;
  }
  return digits;
}

std::string MetricsText(const ProgressBar::Metrics& metrics) {
  std::string text;
  for (const auto& [name, value] : metrics) {
    absl::StrAppend(&text, " - ", name, ": ", ProgressBar::FormatMetric(value));
  }
  return text;
}

}  // namespace

ProgressBar::ProgressBar(std::ostream* out, bool interactive,
                         int64_t total_steps, int bar_width)
    : out_(out),
      interactive_(interactive),
      total_steps_(total_steps),
      bar_width_(std::max(bar_width, 1)) {}

bool ProgressBar::StdoutIsTerminal() { return isatty(STDOUT_FILENO) == 1; }

std::string ProgressBar::FormatDuration(double seconds) {
  if (!(seconds > 0) || !std::isfinite(seconds)) return "0s";
  if (seconds >= 1.0) return absl::StrFormat("%.0fs", seconds);
  const int64_t ms = std::llround(seconds * 1e3);
  if (ms >= 1000) return "1s";
  if (seconds >= 1e-3) return absl::StrCat(ms, "ms");
  const int64_t us = std::llround(seconds * 1e6);
  if (us >= 1000) return "1ms";
  return absl::StrCat(us, "us");
}

std::string ProgressBar::FormatPerStep(double seconds_per_step) {
  return absl::StrCat(FormatDuration(seconds_per_step), "/step");
}

std::string ProgressBar::FormatEta(double seconds) {
  if (!(seconds > 0) || !std::isfinite(seconds)) return "0s";
  const int64_t s = static_cast<int64_t>(std::min(seconds, 1e15));
  if (seconds > 3600) {
    return absl::StrFormat("%d:%02d:%02d", s / 3600, (s % 3600) / 60, s % 60);
  }
  if (seconds > 60) return absl::StrFormat("%d:%02d", s / 60, s % 60);
  return absl::StrCat(s, "s");
}

std::string ProgressBar::FormatMetric(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == 0.0 || std::fabs(value) >= 1e-3) {
    return absl::StrFormat("%.4f", value);
  }
  return absl::StrFormat("%.4e", value);
}

std::string ProgressBar::Counter(int64_t step, int64_t total) const {
  if (total <= 0) return absl::StrCat(step, "/Unknown");
  step = std::clamp<int64_t>(step, 0, total);
  std::string text = absl::StrFormat("%*d/%d [", Digits(total), step, total);
  const int filled = static_cast<int>(bar_width_ * step / total);
  if (filled > 0) {
    text.append(filled - 1, '=');
    text += step < total ? '>' : '=';
  }
  text.append(bar_width_ - filled, '.');
  text += ']';
  return text;
}

void ProgressBar::Update(int64_t step, double elapsed_seconds,
                         const Metrics& metrics) {
  if (out_ == nullptr || finished_) return;
  last_step_ = std::max(last_step_, step);
  if (!interactive_) return;
  const bool last = total_steps_ > 0 && step >= total_steps_;
  if (drawn_ && !last &&
      elapsed_seconds - last_draw_seconds_ < kRedrawInterval) {
    return;
  }
  std::string line = Counter(step, total_steps_);
  if (step > 0) {
    const double per_step = elapsed_seconds / step;
    if (total_steps_ > 0 && !last) {
      absl::StrAppend(&line,
                      " - ETA: ", FormatEta(per_step * (total_steps_ - step)),
                      " - ", FormatPerStep(per_step));
    } else {
      absl::StrAppend(&line, " - ", FormatDuration(elapsed_seconds), " ",
                      FormatPerStep(per_step));
    }
  }
  line += MetricsText(metrics);
  last_draw_seconds_ = elapsed_seconds;
  Draw(line, /*final_line=*/false);
}

void ProgressBar::Finish(double elapsed_seconds, const Metrics& metrics) {
  if (out_ == nullptr || finished_) return;
  finished_ = true;
  const int64_t steps = total_steps_ > 0 ? total_steps_ : last_step_;
  std::string line;
  if (steps > 0) {
    absl::StrAppend(&line, Counter(steps, steps), " - ",
                    FormatDuration(elapsed_seconds), " ",
                    FormatPerStep(elapsed_seconds / steps));
  } else {
    absl::StrAppend(&line, Counter(0, 0), " - ",
                    FormatDuration(elapsed_seconds));
  }
  line += MetricsText(metrics);
  Draw(line, /*final_line=*/true);
}

void ProgressBar::Draw(const std::string& line, bool final_line) {
  std::string text;
  if (interactive_ && drawn_) {
    text += '\r';
    if (final_line) {
      // Blank the redrawn line, so that the final one carries no padding.
      text.append(last_width_, ' ');
      text += '\r';
    }
  }
  text += line;
  if (interactive_ && !final_line && line.size() < last_width_) {
    text.append(last_width_ - line.size(), ' ');  // Cover the longer line.
  }
  if (final_line) text += '\n';
  *out_ << text << std::flush;
  drawn_ = true;
  last_width_ = final_line ? 0 : std::max(line.size(), last_width_);
}

}  // namespace loom
