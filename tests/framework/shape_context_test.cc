// ShapeContext's checks for shape functions: ExpectRank, ExpectRankAtLeast,
// ExpectDim and ExpectSameDim, on their own (unknown dimensions, negative
// dimension indices, left-out inputs) and inside a graph, where the error
// names the node.
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "framework/graph.h"
#include "framework/op.h"
#include "framework/registry.h"
#include "framework/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loom::testing {
namespace {

using ::testing::HasSubstr;

// A ShapeContext over `shapes` (float; nullptr entries for left-out
// inputs), with no attributes.
class ShapeContextTest : public ::testing::Test {
 protected:
  ShapeContext& Context(const std::vector<const Shape*>& shapes) {
    infos_.clear();
    infos_.reserve(shapes.size());
    std::vector<const ValueInfo*> inputs;
    for (const Shape* s : shapes) {
      if (s == nullptr) {
        inputs.push_back(nullptr);
        continue;
      }
      infos_.push_back({DType::kFloat32, *s});
      inputs.push_back(&infos_.back());
    }
    ctx_ = std::make_unique<ShapeContext>(name_, attrs_, inputs, 1);
    return *ctx_;
  }

  const std::string name_ = "node";
  AttrMap attrs_;
  std::vector<ValueInfo> infos_;
  std::unique_ptr<ShapeContext> ctx_;
};

TEST_F(ShapeContextTest, RankAtLeast) {
  const Shape matrix = {4, 5};
  const Shape unknown_batch = {-1, 7, 3};
  ShapeContext& ctx = Context({&matrix, &unknown_batch, nullptr});
  EXPECT_TRUE(ctx.ExpectRankAtLeast(0, 0).ok());
  EXPECT_TRUE(ctx.ExpectRankAtLeast(0, 2).ok());
  EXPECT_TRUE(ctx.ExpectRankAtLeast(1, 3).ok());
  absl::Status s = ctx.ExpectRankAtLeast(0, 3);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(s.message()),
            "input 0 must have rank 3 or more, got shape [4, 5]");
  // A left-out optional input passes, as with ExpectRank.
  EXPECT_TRUE(ctx.ExpectRankAtLeast(2, 5).ok());
  EXPECT_TRUE(ctx.ExpectRank(2, 5).ok());
}

TEST_F(ShapeContextTest, DimEquals) {
  const Shape x = {-1, 7, 3};
  ShapeContext& ctx = Context({&x, nullptr});
  EXPECT_TRUE(ctx.ExpectDim(0, 1, 7).ok());
  EXPECT_TRUE(ctx.ExpectDim(0, 2, 3).ok());
  EXPECT_TRUE(ctx.ExpectDim(0, -1, 3).ok());  // The last.
  EXPECT_TRUE(ctx.ExpectDim(0, -3, 8).ok());  // Unknown: agrees with any.
  EXPECT_TRUE(ctx.ExpectDim(0, 0, 8).ok());
  EXPECT_TRUE(ctx.ExpectDim(0, 1, -1).ok());  // Any size: only the rank.
  EXPECT_TRUE(ctx.ExpectDim(1, 4, 2).ok());   // Left out.

  absl::Status s = ctx.ExpectDim(0, -1, 4);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(s.message()),
            "input 0 must have size 4 in dimension -1, got shape [?, 7, 3]");
  s = ctx.ExpectDim(0, 1, 6);
  EXPECT_EQ(std::string(s.message()),
            "input 0 must have size 6 in dimension 1, got shape [?, 7, 3]");
  // A dimension the input does not have, either way round.
  s = ctx.ExpectDim(0, 3, 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(s.message()),
            "input 0 has no dimension 3, got shape [?, 7, 3]");
  s = ctx.ExpectDim(0, -4, -1);
  EXPECT_EQ(std::string(s.message()),
            "input 0 has no dimension -4, got shape [?, 7, 3]");
}

TEST_F(ShapeContextTest, DimOfScalar) {
  const Shape scalar = {};
  ShapeContext& ctx = Context({&scalar});
  EXPECT_EQ(std::string(ctx.ExpectDim(0, -1, 1).message()),
            "input 0 has no dimension -1, got shape []");
}

TEST_F(ShapeContextTest, SameDim) {
  const Shape x = {-1, 7, 3};
  const Shape kernel = {3, 16};
  const Shape other = {5, 16};
  ShapeContext& ctx = Context({&x, &kernel, &other, nullptr});
  EXPECT_TRUE(ctx.ExpectSameDim(0, -1, 1, 0).ok());
  EXPECT_TRUE(ctx.ExpectSameDim(0, 2, 1, -2).ok());
  EXPECT_TRUE(ctx.ExpectSameDim(1, 1, 2, 1).ok());
  EXPECT_TRUE(ctx.ExpectSameDim(0, 0, 2, 0).ok());  // -1 agrees with 5.
  EXPECT_TRUE(ctx.ExpectSameDim(0, 0, 3, 9).ok());  // Left out.
  EXPECT_TRUE(ctx.ExpectSameDim(3, 0, 0, 9).ok());

  absl::Status s = ctx.ExpectSameDim(0, -1, 2, 0);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(s.message()),
            "dimension -1 of input 0 (shape [?, 7, 3]) must equal dimension "
            "0 of input 2 (shape [5, 16])");
  s = ctx.ExpectSameDim(0, 3, 1, 0);
  EXPECT_EQ(std::string(s.message()),
            "input 0 has no dimension 3, got shape [?, 7, 3]");
  s = ctx.ExpectSameDim(0, 0, 1, 2);
  EXPECT_EQ(std::string(s.message()),
            "input 1 has no dimension 2, got shape [3, 16]");
}

// A kernel that is never run: the graphs below fail or stop at shape
// inference.
class NoKernel : public OpKernel {
 public:
  absl::Status Init(const KernelInitContext&) { return absl::OkStatus(); }
  absl::Status Forward(KernelContext&) override {
    return absl::UnimplementedError("not run");
  }
};

// "Project(x, w)": x [..., C] (rank 2 or more) times w [C, U].
OpDef ProjectOp() {
  OpDef def;
  def.signature.name = "Project";
  def.signature.inputs = {{"x", "float [..., C]"}, {"w", "float [C, U]"}};
  def.signature.outputs = {{"y", "float [..., U]"}};
  def.shape_fn = [](ShapeContext& ctx) -> absl::Status {
    LOOM_RETURN_IF_ERROR(ctx.ExpectRankAtLeast(0, 2));
    LOOM_RETURN_IF_ERROR(ctx.ExpectRank(1, 2));
    LOOM_RETURN_IF_ERROR(ctx.ExpectSameDim(0, -1, 1, 0));
    ValueInfo y = *ctx.input(0);
    y.shape.back() = ctx.input(1)->shape[1];
    ctx.set_output(0, y);
    return absl::OkStatus();
  };
  def.kernels.push_back({"reference", MakeKernelFactory<NoKernel>()});
  return def;
}

GraphDef ProjectGraph(const Shape& x, const Shape& w) {
  GraphDef g;
  InputDef* in = g.add_input();
  in->set_name("x");
  in->set_dtype(DT_FLOAT);
  for (int64_t d : x) in->mutable_shape()->add_dim(d);
  ParameterDef* p = g.add_parameter();
  p->set_name("w");
  for (int64_t d : w) p->mutable_shape()->add_dim(d);
  NodeDef* n = g.add_node();
  n->set_name("proj");
  n->set_op("Project");
  n->add_input("x");
  n->add_input("w");
  return g;
}

TEST(ShapeContextGraphTest, ErrorsNameTheNode) {
  OpRegistry registry;
  ASSERT_TRUE(registry.Register(ProjectOp()).ok());
  auto ok = Graph::Build(ProjectGraph({-1, 7, 3}, {3, 16}), registry);
  ASSERT_TRUE(ok.ok()) << ok.status();

  auto low_rank = Graph::Build(ProjectGraph({3}, {3, 16}), registry);
  ASSERT_FALSE(low_rank.ok());
  EXPECT_THAT(low_rank.status().message(), HasSubstr("proj"));
  EXPECT_THAT(low_rank.status().message(),
              HasSubstr("input 0 must have rank 2 or more, got shape [3]"));

  auto mismatch = Graph::Build(ProjectGraph({-1, 7, 4}, {3, 16}), registry);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_THAT(mismatch.status().message(), HasSubstr("proj"));
  EXPECT_THAT(mismatch.status().message(),
              HasSubstr("dimension -1 of input 0 (shape [?, 7, 4]) must "
                        "equal dimension 0 of input 1 (shape [3, 16])"));
}

}  // namespace
}  // namespace loom::testing
