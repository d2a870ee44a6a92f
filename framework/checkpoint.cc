#include "framework/checkpoint.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "framework/file_util.h"
#include "framework/status_macros.h"

namespace loom {
namespace {

constexpr char kMagic[8] = {'L', 'O', 'O', 'M', 'C', 'K', 'P', 'T'};
constexpr uint32_t kVersion = 1;

template <typename T>
void Put(std::string* out, T value) {
  out->append(reinterpret_cast<const char*>(&value), sizeof(T));
}

class Reader {
 public:
  Reader(const std::string& data, size_t end, const std::string& path)
      : data_(data), end_(end), path_(path) {}
  template <typename T>
  absl::Status Get(T* value, const char* what) {
    return GetBytes(value, sizeof(T), what);
  }
  absl::Status GetBytes(void* out, size_t n, const char* what) {
    if (pos_ + n > end_) {
      return absl::DataLossError(absl::StrCat(
          "checkpoint ", path_, " is truncated (while reading ", what, ")"));
    }
    std::memcpy(out, data_.data() + pos_, n);
    pos_ += n;
    return absl::OkStatus();
  }
  size_t pos() const { return pos_; }

 private:
  const std::string& data_;
  size_t end_;
  const std::string& path_;
  size_t pos_ = 0;
};

}  // namespace

uint64_t Fnv1a64(const char* data, size_t n, uint64_t seed) {
  uint64_t h = seed;
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(data[i]);
    h *= 1099511628211ull;
  }
  return h;
}

absl::Status SaveCheckpoint(const std::vector<Parameter>& parameters,
                            const std::string& path) {
  std::string out(kMagic, sizeof(kMagic));
  Put<uint32_t>(&out, kVersion);
  Put<uint32_t>(&out, parameters.size());
  for (const Parameter& p : parameters) {
    Put<uint32_t>(&out, p.name.size());
    out += p.name;
    Put<uint32_t>(&out, p.value.rank());
    for (int64_t d : p.value.shape()) Put<int64_t>(&out, d);
    out.append(static_cast<const char*>(p.value.raw()), p.value.num_bytes());
  }
  Put<uint64_t>(&out, Fnv1a64(out.data(), out.size()));
  return WriteFileAtomically(path, out);
}

absl::StatusOr<std::vector<NamedTensor>> ReadCheckpoint(
    const std::string& path) {
  LOOM_ASSIGN_OR_RETURN(auto data, ReadFile(path));
  const std::string& d = data;
  if (d.size() < sizeof(kMagic) + 8 + 8 ||
      std::memcmp(d.data(), kMagic, sizeof(kMagic)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a Loom checkpoint"));
  }
  uint64_t stored;
  std::memcpy(&stored, d.data() + d.size() - 8, 8);
  if (stored != Fnv1a64(d.data(), d.size() - 8)) {
    return absl::DataLossError(absl::StrCat(
        "checkpoint ", path, " is corrupt or truncated (checksum mismatch)"));
  }
  const size_t end = d.size() - 8;
  Reader r(d, end, path);
  char magic[sizeof(kMagic)];
  uint32_t version, count;
  LOOM_RETURN_IF_ERROR(r.GetBytes(magic, sizeof(magic), "magic"));
  LOOM_RETURN_IF_ERROR(r.Get(&version, "version"));
  if (version != kVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint ", path, " has version ", version,
                     "; this Loom reads version ", kVersion));
  }
  LOOM_RETURN_IF_ERROR(r.Get(&count, "count"));
  std::vector<NamedTensor> out;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t name_len, rank;
    LOOM_RETURN_IF_ERROR(r.Get(&name_len, "name length"));
    if (name_len > 4096) {
      return absl::DataLossError(
          absl::StrCat("checkpoint ", path, ": bad name length"));
    }
    std::string name(name_len, '\0');
    LOOM_RETURN_IF_ERROR(r.GetBytes(name.data(), name_len, "name"));
    LOOM_RETURN_IF_ERROR(r.Get(&rank, "rank"));
    if (rank > 8) {
      return absl::DataLossError(
          absl::StrCat("checkpoint ", path, ": bad rank for '", name, "'"));
    }
    Shape shape(rank);
    // The values must fit in what is left of the file: no dimension, nor
    // their product, may ask for more (checked before allocating).
    const uint64_t left = end - r.pos();
    uint64_t elements = 1;
    for (auto& dim : shape) {
      LOOM_RETURN_IF_ERROR(r.Get(&dim, "shape"));
      if (dim < 0 || (dim > 0 && elements > left / 4 / dim)) {
        return absl::DataLossError(absl::StrCat(
            "checkpoint ", path, ": parameter '", name,
            "' has a bad shape or more values than the file holds"));
      }
      elements *= dim;
    }
    Tensor t(DType::kFloat32, shape);
    LOOM_RETURN_IF_ERROR(r.GetBytes(t.raw(), t.num_bytes(), "values"));
    out.push_back({std::move(name), std::move(t)});
  }
  if (r.pos() != end) {
    return absl::DataLossError(absl::StrCat("checkpoint ", path, " has ",
                                            end - r.pos(),
                                            " bytes after its last parameter"));
  }
  return out;
}

absl::Status LoadCheckpoint(const std::string& path,
                            std::vector<Parameter>* parameters) {
  LOOM_ASSIGN_OR_RETURN(std::vector<NamedTensor> loaded, ReadCheckpoint(path));
  if (loaded.size() != parameters->size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint ", path, " holds ", loaded.size(),
                     " parameters, the model has ", parameters->size()));
  }
  // Check everything before changing any parameter.
  std::vector<Tensor> values;
  for (size_t i = 0; i < loaded.size(); ++i) {
    const Parameter& p = (*parameters)[i];
    if (loaded[i].name != p.name) {
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint ", path, ": parameter ", i, " is '",
                       loaded[i].name, "', the model expects '", p.name, "'"));
    }
    if (loaded[i].value.shape() != p.value.shape()) {
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint ", path, ": parameter '", p.name,
                       "' has shape ", ShapeToString(loaded[i].value.shape()),
                       ", the model expects ", ShapeToString(p.value.shape())));
    }
    values.push_back(std::move(loaded[i].value));
  }
  RestoreParameters(values, parameters);
  return absl::OkStatus();
}

std::vector<Tensor> SnapshotParameters(const std::vector<Parameter>& params) {
  std::vector<Tensor> out;
  out.reserve(params.size());
  for (const Parameter& p : params) out.push_back(p.value.Clone());
  return out;
}

void RestoreParameters(const std::vector<Tensor>& snapshot,
                       std::vector<Parameter>* params) {
  // Copy into the existing buffers: the executor shares them.
  for (size_t i = 0; i < snapshot.size(); ++i) {
    std::memcpy((*params)[i].value.raw(), snapshot[i].raw(),
                snapshot[i].num_bytes());
  }
}

void ToTensorState(const std::string& name, const Tensor& tensor,
                   TensorState* out) {
  out->set_name(name);
  out->clear_shape();
  for (int64_t d : tensor.shape()) out->add_shape(d);
  out->set_data(static_cast<const char*>(tensor.raw()), tensor.num_bytes());
}

absl::Status FromTensorState(const TensorState& state, const std::string& where,
                             Tensor* out) {
  Shape shape(state.shape().begin(), state.shape().end());
  int64_t elements = 1;
  for (int64_t d : shape) {
    if (d < 0 || (d > 0 && elements > INT64_MAX / 4 / d)) {
      return absl::DataLossError(
          absl::StrCat(where, ": tensor '", state.name(), "' has a bad shape"));
    }
    elements *= d;
  }
  if (out->is_initialized() && shape != out->shape()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": tensor '", state.name(), "' has shape ", ShapeToString(shape),
        ", the model expects ", ShapeToString(out->shape())));
  }
  if (static_cast<int64_t>(state.data().size()) !=
      elements * static_cast<int64_t>(sizeof(float))) {
    return absl::DataLossError(
        absl::StrCat(where, ": tensor '", state.name(), "' holds ",
                     state.data().size(), " bytes for ", elements, " values"));
  }
  if (!out->is_initialized()) *out = Tensor(DType::kFloat32, shape);
  if (out->dtype() != DType::kFloat32) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": tensor '", state.name(), "' is not float32 in the model"));
  }
  std::memcpy(out->raw(), state.data().data(), state.data().size());
  return absl::OkStatus();
}

}  // namespace loom
