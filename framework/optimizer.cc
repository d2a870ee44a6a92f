#include "framework/optimizer.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "framework/checkpoint.h"
#include "framework/status_macros.h"

namespace loom {
namespace {

// Keras' Adam: m and v are updated densely even for a sparse (Embedding)
// gradient, exactly as Keras does, so training matches it. Lazy (LazyAdam):
// a sparse gradient updates only its distinct touched rows.
class Adam : public Optimizer {
 public:
  Adam(float lr, float beta_1, float beta_2, float epsilon, float weight_decay,
       bool lazy)
      : beta_1_(beta_1),
        beta_2_(beta_2),
        epsilon_(epsilon),
        weight_decay_(weight_decay),
        lazy_(lazy) {
    learning_rate_ = lr;
  }

  absl::Status Update(std::vector<Parameter>& params, float lr,
                      int64_t step) override {
    if (m_.empty()) {
      for (const Parameter& p : params) {
        m_.emplace_back(DType::kFloat32, p.value.shape());
        v_.emplace_back(DType::kFloat32, p.value.shape());
      }
    }
    if (m_.size() != params.size()) {
      return absl::FailedPreconditionError(
          "Adam was used with a different set of parameters");
    }
    const double t = static_cast<double>(step);
    const float alpha = static_cast<float>(
        lr * std::sqrt(1 - std::pow(beta_2_, t)) / (1 - std::pow(beta_1_, t)));
    const float b1 = beta_1_, b2 = beta_2_, eps = epsilon_;
    const float decay = lr * weight_decay_;
    for (size_t k = 0; k < params.size(); ++k) {
      Parameter& p = params[k];
      if (!p.trainable) continue;
      float* w = p.value.f32();
      if (lazy_ && p.grad_is_sparse && p.value.rank() >= 1 &&
          p.value.dim(0) > 0) {
        const int64_t width = p.value.num_elements() / p.value.dim(0);
        const float* g = p.grad.f32();
        float* m = m_[k].f32();
        float* v = v_[k].f32();
        for (int32_t r : DistinctTouchedRows(p)) {
          const int64_t begin = int64_t{r} * width, end = begin + width;
          for (int64_t i = begin; i < end; ++i) {
            w[i] -= decay * w[i];
            m[i] = b1 * m[i] + (1 - b1) * g[i];
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
            w[i] -= alpha * m[i] / (std::sqrt(v[i]) + eps);
          }
        }
        continue;
      }
      if (decay != 0) {  // AdamW: decoupled, before the Adam step.
        const int64_t n = p.value.num_elements();
        for (int64_t i = 0; i < n; ++i) w[i] -= decay * w[i];
      }
      const float* g = p.grad.f32();
      float* m = m_[k].f32();
      float* v = v_[k].f32();
      const int64_t n = p.value.num_elements();
      for (int64_t i = 0; i < n; ++i) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        w[i] -= alpha * m[i] / (std::sqrt(v[i]) + eps);
      }
    }
    return absl::OkStatus();
  }

 protected:
  const char* kind() const override { return "adam"; }
  std::vector<std::pair<const char*, std::vector<Tensor>*>> Slots() override {
    return {{"m", &m_}, {"v", &v_}};
  }

 private:
  float beta_1_, beta_2_, epsilon_, weight_decay_;
  bool lazy_;
  std::vector<Tensor> m_, v_;
};

// Keras' SGD: velocity = momentum * velocity - lr * g; w += velocity
// (Nesterov: w += momentum * velocity - lr * g).
class Sgd : public Optimizer {
 public:
  Sgd(float lr, float momentum, bool nesterov)
      : momentum_(momentum), nesterov_(nesterov) {
    learning_rate_ = lr;
  }

  absl::Status Update(std::vector<Parameter>& params, float lr,
                      int64_t step) override {
    if (momentum_ > 0 && velocity_.empty()) {
      for (const Parameter& p : params) {
        velocity_.emplace_back(DType::kFloat32, p.value.shape());
      }
    }
    for (size_t k = 0; k < params.size(); ++k) {
      Parameter& p = params[k];
      if (!p.trainable) continue;
      float* w = p.value.f32();
      const float* g = p.grad.f32();
      const int64_t n = p.value.num_elements();
      if (momentum_ == 0) {
        if (p.grad_is_sparse) {  // Only the touched rows can change.
          const int64_t width = n / p.value.dim(0);
          for (int32_t r : DistinctTouchedRows(p)) {
            float* row = w + int64_t{r} * width;
            const float* grow = g + int64_t{r} * width;
            for (int64_t j = 0; j < width; ++j) row[j] -= lr * grow[j];
          }
          continue;
        }
        for (int64_t i = 0; i < n; ++i) w[i] -= lr * g[i];
        continue;
      }
      float* vel = velocity_[k].f32();
      for (int64_t i = 0; i < n; ++i) {
        vel[i] = momentum_ * vel[i] - lr * g[i];
        w[i] += nesterov_ ? momentum_ * vel[i] - lr * g[i] : vel[i];
      }
    }
    return absl::OkStatus();
  }

 protected:
  const char* kind() const override { return "sgd"; }
  std::vector<std::pair<const char*, std::vector<Tensor>*>> Slots() override {
    return {{"velocity", &velocity_}};
  }

 private:
  float momentum_;
  bool nesterov_;
  std::vector<Tensor> velocity_;
};

}  // namespace

absl::Status Optimizer::Apply(std::vector<Parameter>& params) {
  ClipGradients(params);
  const float lr = ScheduledRate(iterations_);
  ++iterations_;
  return Update(params, lr, iterations_);
}

float Optimizer::ScheduledRate(int64_t t) const {
  const OptimizerDef::Schedule& s = schedule_;
  const double base = learning_rate_;
  if (t < s.warmup_steps()) {
    return static_cast<float>(base * static_cast<double>(t + 1) /
                              static_cast<double>(s.warmup_steps()));
  }
  const double u = static_cast<double>(t - s.warmup_steps());
  switch (s.decay_case()) {
    case OptimizerDef::Schedule::kCosine: {
      const double steps = static_cast<double>(s.cosine().decay_steps());
      const double alpha = s.cosine().alpha();
      const double cosine =
          0.5 * (1 + std::cos(M_PI * std::min(u, steps) / steps));
      return static_cast<float>(base * ((1 - alpha) * cosine + alpha));
    }
    case OptimizerDef::Schedule::kExponential: {
      const auto& e = s.exponential();
      double p = u / static_cast<double>(e.decay_steps());
      if (e.staircase()) p = std::floor(p);
      return static_cast<float>(base * std::pow(e.decay_rate(), p));
    }
    case OptimizerDef::Schedule::DECAY_NOT_SET:
      break;
  }
  return learning_rate_;
}

const std::vector<int32_t>& Optimizer::DistinctTouchedRows(const Parameter& p) {
  rows_.assign(p.touched_rows.begin(), p.touched_rows.end());
  std::sort(rows_.begin(), rows_.end());
  rows_.erase(std::unique(rows_.begin(), rows_.end()), rows_.end());
  return rows_;
}

void Optimizer::ClipGradients(std::vector<Parameter>& params) {
  if (clipnorm_ <= 0 && global_clipnorm_ <= 0) return;
  // The rows a parameter's gradient holds: all, or its distinct touched
  // rows (the others are zero).
  const auto for_each_row = [&](Parameter& p, auto&& fn) {
    const int64_t n = p.grad.num_elements();
    if (!p.grad_is_sparse || p.value.rank() < 1 || p.value.dim(0) == 0) {
      fn(p.grad.f32(), n);
      return;
    }
    const int64_t width = n / p.value.dim(0);
    for (int32_t r : DistinctTouchedRows(p)) {
      fn(p.grad.f32() + int64_t{r} * width, width);
    }
  };
  const auto squared_norm = [&](Parameter& p) {
    double sum = 0;
    for_each_row(p, [&](const float* g, int64_t n) {
      for (int64_t i = 0; i < n; ++i) sum += double{g[i]} * g[i];
    });
    return sum;
  };
  const auto scale = [&](Parameter& p, float factor) {
    for_each_row(p, [&](float* g, int64_t n) {
      for (int64_t i = 0; i < n; ++i) g[i] *= factor;
    });
  };
  double global = 0;
  for (Parameter& p : params) {
    if (!p.trainable || !p.grad.is_initialized()) continue;
    double sq = squared_norm(p);
    if (clipnorm_ > 0 && sq > double{clipnorm_} * clipnorm_) {
      const float factor = static_cast<float>(clipnorm_ / std::sqrt(sq));
      scale(p, factor);
      sq = squared_norm(p);
    }
    global += sq;
  }
  if (global_clipnorm_ > 0 &&
      global > double{global_clipnorm_} * global_clipnorm_) {
    const float factor =
        static_cast<float>(global_clipnorm_ / std::sqrt(global));
    for (Parameter& p : params) {
      if (p.trainable && p.grad.is_initialized()) scale(p, factor);
    }
  }
}

void Optimizer::SaveState(const std::vector<Parameter>& params,
                          OptimizerState* state) const {
  state->Clear();
  // Slots() only hands out pointers; the state is not changed.
  auto* self = const_cast<Optimizer*>(this);
  state->set_kind(self->kind());
  state->set_learning_rate(learning_rate_);
  state->set_iterations(iterations_);
  for (auto& [suffix, slots] : self->Slots()) {
    for (size_t k = 0; k < slots->size() && k < params.size(); ++k) {
      ToTensorState(absl::StrCat(params[k].name, "/", suffix), (*slots)[k],
                    state->add_slot());
    }
  }
}

absl::Status Optimizer::RestoreState(const OptimizerState& state,
                                     const std::vector<Parameter>& params,
                                     const std::string& where) {
  if (state.kind() != kind()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " was written by the ", state.kind(),
                     " optimizer; the model trains with ", kind()));
  }
  auto sets = Slots();
  const size_t per_set = params.size();
  if (state.slot_size() != 0 &&
      static_cast<size_t>(state.slot_size()) != sets.size() * per_set) {
    return absl::DataLossError(absl::StrCat(
        where, ": the optimizer state holds ", state.slot_size(),
        " slots, the model's ", kind(), " needs ", sets.size() * per_set));
  }
  // Read everything before changing anything.
  std::vector<std::vector<Tensor>> loaded(sets.size());
  if (state.slot_size() != 0) {
    for (size_t s = 0; s < sets.size(); ++s) {
      for (size_t k = 0; k < per_set; ++k) {
        const TensorState& t = state.slot(s * per_set + k);
        const std::string expected =
            absl::StrCat(params[k].name, "/", sets[s].first);
        if (t.name() != expected) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": optimizer slot ", s * per_set + k, " is '",
                           t.name(), "', the model expects '", expected, "'"));
        }
        Tensor value(DType::kFloat32, params[k].value.shape());
        LOOM_RETURN_IF_ERROR(FromTensorState(t, where, &value));
        loaded[s].push_back(std::move(value));
      }
    }
  }
  for (size_t s = 0; s < sets.size(); ++s)
    *sets[s].second = std::move(loaded[s]);
  learning_rate_ = state.learning_rate();
  iterations_ = state.iterations();
  return absl::OkStatus();
}

namespace {

// The clipping and schedule settings: finite and in range, or an error
// naming the field.
absl::Status CheckShared(const OptimizerDef& def) {
  if (!(def.clipnorm() >= 0 && std::isfinite(def.clipnorm())) ||
      !(def.global_clipnorm() >= 0 && std::isfinite(def.global_clipnorm()))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "clipnorm and global_clipnorm must be finite and >= 0 (0: no "
        "clipping), got clipnorm=",
        def.clipnorm(), " global_clipnorm=", def.global_clipnorm()));
  }
  const OptimizerDef::Schedule& s = def.schedule();
  if (s.warmup_steps() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "schedule.warmup_steps must be >= 0, got ", s.warmup_steps()));
  }
  if (s.has_cosine() &&
      (s.cosine().decay_steps() <= 0 ||
       !(s.cosine().alpha() >= 0 && s.cosine().alpha() <= 1))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "schedule.cosine needs decay_steps > 0 and alpha in [0, 1], got "
        "decay_steps=",
        s.cosine().decay_steps(), " alpha=", s.cosine().alpha()));
  }
  if (s.has_exponential() && (s.exponential().decay_steps() <= 0 ||
                              !(s.exponential().decay_rate() > 0 &&
                                s.exponential().decay_rate() <= 1))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "schedule.exponential needs decay_steps > 0 and decay_rate in (0, "
        "1], got decay_steps=",
        s.exponential().decay_steps(),
        " decay_rate=", s.exponential().decay_rate()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Optimizer>> CreateKind(const OptimizerDef& def) {
  switch (def.kind_case()) {
    case OptimizerDef::kAdam:
    case OptimizerDef::KIND_NOT_SET: {
      const auto& a = def.adam();
      const float lr = a.learning_rate() > 0 ? a.learning_rate() : 1e-3f;
      const float b1 = a.beta_1() > 0 ? a.beta_1() : 0.9f;
      const float b2 = a.beta_2() > 0 ? a.beta_2() : 0.999f;
      const float eps = a.epsilon() > 0 ? a.epsilon() : 1e-7f;
      if (b1 >= 1 || b2 >= 1 || a.learning_rate() < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("Adam needs learning_rate >= 0 and betas in [0, 1); "
                         "got learning_rate=",
                         a.learning_rate(), " beta_1=", b1, " beta_2=", b2));
      }
      if (!(a.weight_decay() >= 0 && a.weight_decay() < 1)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "Adam needs weight_decay in [0, 1), got ", a.weight_decay()));
      }
      return std::make_unique<Adam>(lr, b1, b2, eps, a.weight_decay(),
                                    a.lazy());
    }
    case OptimizerDef::kSgd: {
      const auto& s = def.sgd();
      if (s.learning_rate() < 0 || s.momentum() < 0 || s.momentum() >= 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "SGD needs learning_rate >= 0 and momentum in [0, 1); got "
            "learning_rate=",
            s.learning_rate(), " momentum=", s.momentum()));
      }
      return std::make_unique<Sgd>(
          s.learning_rate() > 0 ? s.learning_rate() : 0.01f, s.momentum(),
          s.nesterov());
    }
  }
  return absl::InvalidArgumentError("unknown optimizer");
}

}  // namespace

absl::StatusOr<std::unique_ptr<Optimizer>> CreateOptimizer(
    const OptimizerDef& def) {
  LOOM_RETURN_IF_ERROR(CheckShared(def));
  LOOM_ASSIGN_OR_RETURN(auto optimizer, CreateKind(def));
  optimizer->clipnorm_ = def.clipnorm();
  optimizer->global_clipnorm_ = def.global_clipnorm();
  optimizer->schedule_ = def.schedule();
  return optimizer;
}

}  // namespace loom
