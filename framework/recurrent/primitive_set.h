// Primitive sets: the oneDNN primitives (and the memories they run on) a
// recurrent kernel's path builds for one problem shape, cached per shape with a
// cap, their buffers in the path's Arena (framework/recurrent/arena.h).
//
// "Primitive set" is the recurrent layers' name for what they build per
// shape; it has nothing to do with the executor's plan of a graph.
#ifndef LOOM_FRAMEWORK_RECURRENT_PRIMITIVE_SET_H_
#define LOOM_FRAMEWORK_RECURRENT_PRIMITIVE_SET_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/recurrent/arena.h"
#include "framework/status_macros.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace loom {
namespace recurrent {

// ---------------------------------------------------------------------------
// oneDNN memory helpers.

// A memory whose buffer is set per call (user tensors move between steps).
inline dnnl::memory Unbound(const dnnl::memory::desc& desc,
                            const dnnl::engine& engine) {
  return dnnl::memory(desc, engine, DNNL_MEMORY_NONE);
}

inline void Bind(dnnl::memory& m, const float* data) {
  m.set_data_handle(const_cast<float*>(data));
}

inline float* Data(const dnnl::memory& m) {
  return static_cast<float*>(m.get_data_handle());
}

inline void ZeroMemory(const dnnl::memory& m) {
  std::memset(m.get_data_handle(), 0, m.get_desc().get_size());
}

// A row-major [rows, cols] f32 matrix, or the transposed view of a
// row-major [cols, rows] one.
inline dnnl::memory::desc MatrixDesc(int64_t rows, int64_t cols,
                                     bool transposed = false) {
  using dnnl::memory;
  return transposed ? memory::desc({rows, cols}, memory::data_type::f32,
                                   memory::dims{1, rows})
                    : memory::desc({rows, cols}, memory::data_type::f32,
                                   memory::dims{cols, 1});
}

// Data(dirs[k].*member) for the directions k < num_directions, nullptr for
// the others (whose memories are empty).
template <typename DirectionBuffers>
std::array<float*, 2> DataOf(const std::array<DirectionBuffers, 2>& dirs,
                             int num_directions,
                             dnnl::memory DirectionBuffers::*member) {
  std::array<float*, 2> data{};
  for (int k = 0; k < num_directions; ++k) data[k] = Data(dirs[k].*member);
  return data;
}

inline dnnl::reorder MakeReorder(const dnnl::engine& engine,
                                 const dnnl::memory::desc& from,
                                 const dnnl::memory::desc& to) {
  return dnnl::reorder(dnnl::reorder::primitive_desc(engine, from, engine, to));
}

// ---------------------------------------------------------------------------
// Buffers of a primitive set in an Arena.

// The memories of one primitive set that live in a path's Arena: each at
// its offset of one BufferLayout, pointed into the arena's block when the
// set is used (again only when the block moved).
class ArenaSlices {
 public:
  // Makes *m an unbound memory of `desc` at the next offset. *m must stay
  // where it is (a member of a heap-allocated primitive set).
  void Add(dnnl::memory* m, const dnnl::memory::desc& desc,
           const dnnl::engine& engine) {
    *m = Unbound(desc, engine);
    slices_.emplace_back(m, layout_.Add(desc.get_size()));
  }

  // The bytes the memories need.
  size_t bytes() const { return layout_.size(); }
  bool bound_to(const char* base) const { return base == bound_; }

  // Points every memory into `base`, at least bytes() long. oneDNN may
  // throw: call inside DnnlCall.
  void BindTo(char* base) {
    if (base == bound_) return;
    for (auto& [m, offset] : slices_) m->set_data_handle(base + offset);
    bound_ = base;
  }

 private:
  BufferLayout layout_;
  std::vector<std::pair<dnnl::memory*, size_t>> slices_;
  const char* bound_ = nullptr;
};

// ---------------------------------------------------------------------------
// The cache.

// Primitive sets are cached per shape, least recently used first out beyond
// this many per engine; a training run sees about 6 shapes (full and last
// partial batch of training, validation and test), so the rest are rebuilt
// (their primitives only: buffers live in the arenas) at most a few times
// per epoch.
inline constexpr size_t kMaxPrimitiveSets = 4;

// Key -> primitive set, at most kMaxPrimitiveSets of them.
template <typename Key, typename Set>
class PrimitiveSetCache {
 public:
  // The set of `key`, made by `make()` (an absl::StatusOr of a
  // std::unique_ptr<Set>) when there is none; then, if the cache is full,
  // the least recently used set is dropped first, so the set returned is
  // never the one removed. Valid until the next call.
  template <typename Make>
  absl::StatusOr<Set*> Get(const Key& key, Make&& make) {
    auto it = sets_.find(key);
    if (it == sets_.end()) {
      LOOM_ASSIGN_OR_RETURN(std::unique_ptr<Set> created, make());
      EvictIfFull();
      it = sets_.emplace(key, Entry{std::move(created), 0}).first;
    }
    it->second.last_use = ++clock_;
    return it->second.set.get();
  }

  size_t size() const { return sets_.size(); }

 private:
  struct Entry {
    std::unique_ptr<Set> set;
    uint64_t last_use = 0;
  };

  void EvictIfFull() {
    if (sets_.size() < kMaxPrimitiveSets) return;
    auto oldest = sets_.begin();
    for (auto it = sets_.begin(); it != sets_.end(); ++it) {
      if (it->second.last_use < oldest->second.last_use) oldest = it;
    }
    sets_.erase(oldest);
  }

  absl::flat_hash_map<Key, Entry> sets_;
  uint64_t clock_ = 0;
};

}  // namespace recurrent
}  // namespace loom

#endif  // LOOM_FRAMEWORK_RECURRENT_PRIMITIVE_SET_H_
