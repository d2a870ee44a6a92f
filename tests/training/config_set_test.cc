#include "framework/training/config_set.h"

#include <cmath>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "framework/training/evaluate_job.h"
#include "framework/training/predict_job.h"
#include "framework/training/train_job.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace loom {
namespace {

using ::testing::HasSubstr;

ModelDef Config() {
  ModelDef def;
  const char* text = R"pb(
    name: "m"
    dataset { num_words: 100 max_len: 20 }
    training {
      optimizer { adam { learning_rate: 0.001 } }
      epochs: 3
      callback { early_stopping { monitor: "val_loss" patience: 2 } }
      callback { reduce_lr_on_plateau { factor: 0.5 } }
    }
  )pb";
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &def));
  return def;
}

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST(ConfigSetTest, TheIndexPastTheEndAddsAnElement) {
  ModelDef def = Config();
  ASSERT_TRUE(
      SetConfigValue("training.callback[2].average_weights.start_epoch=3", &def)
          .ok());
  ASSERT_EQ(def.training().callback_size(), 3);
  EXPECT_EQ(def.training().callback(2).average_weights().start_epoch(), 3);
  // The element added is then set like the others.
  ASSERT_TRUE(
      SetConfigValue("training.callback[2].average_weights.start_epoch=4", &def)
          .ok());
  EXPECT_EQ(def.training().callback_size(), 3);
  EXPECT_EQ(def.training().callback(2).average_weights().start_epoch(), 4);
}

TEST(ConfigSetTest, SetsScalarsOfEveryType) {
  ModelDef def = Config();
  ASSERT_TRUE(SetConfigValue("dataset.keep_punctuation=true", &def).ok());
  ASSERT_TRUE(SetConfigValue("dataset.padding=POST", &def).ok());
  ASSERT_TRUE(SetConfigValue("dataset.shuffle_seed=7", &def).ok());
  ASSERT_TRUE(SetConfigValue("training.epochs=9", &def).ok());
  ASSERT_TRUE(SetConfigValue("training.optimizer.adam.beta_1=0.8", &def).ok());
  ASSERT_TRUE(
      SetConfigValue("training.callback[0].early_stopping.monitor=val_accuracy",
                     &def)
          .ok());
  ASSERT_TRUE(SetConfigValue(
                  "training.callback[1].reduce_lr_on_plateau.min_lr=1e-5", &def)
                  .ok());
  EXPECT_TRUE(def.dataset().keep_punctuation());
  EXPECT_EQ(def.dataset().padding(), TextDatasetDef::POST);
  EXPECT_EQ(def.dataset().shuffle_seed(), 7);
  EXPECT_EQ(def.dataset().num_words(), 100);  // Untouched.
  EXPECT_EQ(def.training().epochs(), 9);
  EXPECT_FLOAT_EQ(def.training().optimizer().adam().beta_1(), 0.8f);
  EXPECT_FLOAT_EQ(def.training().optimizer().adam().learning_rate(), 0.001f);
  EXPECT_EQ(def.training().callback(0).early_stopping().monitor(),
            "val_accuracy");
  EXPECT_EQ(def.training().callback(0).early_stopping().patience(), 2);
  EXPECT_FLOAT_EQ(def.training().callback(1).reduce_lr_on_plateau().min_lr(),
                  1e-5f);
}

TEST(ConfigSetTest, FieldOfAnotherOneofCaseSwitchesIt) {
  ModelDef def = Config();
  ASSERT_TRUE(SetConfigValue("training.optimizer.sgd.momentum=0.9", &def).ok());
  EXPECT_TRUE(def.training().optimizer().has_sgd());
  EXPECT_FALSE(def.training().optimizer().has_adam());
  EXPECT_FLOAT_EQ(def.training().optimizer().sgd().momentum(), 0.9f);
}

TEST(ConfigSetTest, ErrorsNameTheAssignmentAndTheProblem) {
  ModelDef def = Config();
  const ModelDef before = def;
  absl::Status s = SetConfigValue("dataset.max_lenght=5", &def);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s), HasSubstr("--set 'dataset.max_lenght=5'"));
  EXPECT_THAT(Message(s), HasSubstr("no field 'max_lenght'"));
  EXPECT_THAT(Message(s), HasSubstr("max_len"));  // Lists the fields.

  s = SetConfigValue("training.epochs=many", &def);
  EXPECT_THAT(Message(s), HasSubstr("'epochs' takes an integer, got 'many'"));
  s = SetConfigValue("dataset.keep_punctuation=maybe", &def);
  EXPECT_THAT(Message(s), HasSubstr("true or false"));
  s = SetConfigValue("dataset.padding=MIDDLE", &def);
  EXPECT_THAT(Message(s), HasSubstr("one of PRE, POST"));
  s = SetConfigValue("training.callback[5].early_stopping.patience=1", &def);
  EXPECT_THAT(Message(s), HasSubstr("has 2 element(s); no [5] to set "
                                    "(callback[2] adds one)"));
  EXPECT_EQ(def.training().callback_size(), 2);  // Nothing added.
  s = SetConfigValue("training.callback.early_stopping.patience=1", &def);
  EXPECT_THAT(Message(s), HasSubstr("is a list"));
  s = SetConfigValue("training.epochs[0]=1", &def);
  EXPECT_THAT(Message(s), HasSubstr("not a list"));
  s = SetConfigValue("training.optimizer=adam", &def);
  EXPECT_THAT(Message(s), HasSubstr("is a message"));
  s = SetConfigValue("training.optimizer.sgd.nesterov=perhaps", &def);
  EXPECT_THAT(Message(s), HasSubstr("true or false"));
  s = SetConfigValue("training.epochs.more=1", &def);
  EXPECT_THAT(Message(s), HasSubstr("must end there"));
  s = SetConfigValue("graph.node[0].op=Relu", &def);
  EXPECT_THAT(Message(s), HasSubstr("edit the .pbtxt"));
  s = SetConfigValue("epochs=3", &def);
  EXPECT_THAT(Message(s), HasSubstr("starts with 'dataset.' or 'training.'"));
  s = SetConfigValue("training.epochs", &def);
  EXPECT_THAT(Message(s), HasSubstr("expected path=value"));
  // Nothing was changed by the failed assignments (the optimizer is
  // still Adam although a failed path went through sgd).
  EXPECT_EQ(def.DebugString(), before.DebugString());
}

TEST(ConfigSetTest, ApplyOverridesRunsSetsBeforeTheNamedFlags) {
  ModelDef def = Config();
  ConfigOverrides o;
  o.set = {"training.epochs=7", "dataset.max_len=50"};
  o.epochs = 4;  // The named flag wins.
  ASSERT_TRUE(ApplyOverrides(o, &def).ok());
  EXPECT_EQ(def.training().epochs(), 4);
  EXPECT_EQ(def.dataset().max_len(), 50);
  o.set = {"training.nothing=1"};
  EXPECT_THAT(Message(ApplyOverrides(o, &def)), HasSubstr("no field"));
}

// Issue 13: values the model file or --set give are checked once, after
// every override, instead of silently becoming defaults (batch_size -1 was
// 32, epochs -1 was 1) or training on NaN.
TEST(ConfigSetTest, BadValuesFromSetAreRefusedAfterAllOverrides) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"training.batch_size=-1",
       "training.batch_size is -1: it must be positive"},
      // Given on the command line, a 0 the model file reads as a default
      // is refused, as the named flags refuse it.
      {"training.batch_size=0",
       "training.batch_size is 0: it must be positive"},
      {"dataset.max_len=0", "dataset.max_len is 0: it must be positive"},
      {"dataset.num_words=0", "dataset.num_words is 0: it must be > 3"},
      {"training.optimizer.adam.learning_rate=0",
       "training.optimizer.adam.learning_rate is 0: a learning rate must be "
       "a finite number in (0, 10]"},
      {"training.epochs=-1", "training.epochs is -1: it must be >= 0"},
      {"training.optimizer.adam.learning_rate=nan",
       "training.optimizer.adam.learning_rate is nan: a learning rate must "
       "be a finite number in (0, 10]"},
      {"training.optimizer.adam.learning_rate=inf",
       "training.optimizer.adam.learning_rate is inf"},
      {"training.optimizer.adam.learning_rate=1e30",
       "training.optimizer.adam.learning_rate is 1e+30"},
      {"training.optimizer.sgd.learning_rate=-1",
       "training.optimizer.sgd.learning_rate is -1"},
      {"training.optimizer.adam.beta_1=nan",
       "training.optimizer.adam.beta_1 is nan: it must be in [0, 1)"},
      {"training.validation_split=nan",
       "training.validation_split is nan: it must be in [0, 1)"},
      {"training.callback[0].early_stopping.min_delta=nan",
       "training.callback[0].early_stopping.min_delta is nan: it must be a "
       "finite number"},
      {"training.callback[0].early_stopping.patience=-2",
       "training.callback[0].early_stopping.patience is -2"},
      {"training.callback[1].reduce_lr_on_plateau.factor=nan",
       "training.callback[1].reduce_lr_on_plateau.factor is nan: it must be "
       "in [0, 1)"},
      {"training.callback[1].reduce_lr_on_plateau.min_lr=inf",
       "training.callback[1].reduce_lr_on_plateau.min_lr is inf"},
      {"dataset.max_len=100000000",
       "dataset.max_len is 100000000: no review is that long"},
      {"dataset.max_len=-5", "dataset.max_len is -5: it must be positive"},
      {"dataset.num_words=2", "dataset.num_words is 2: it must be > 3"},
      {"dataset.train_limit=-1", "dataset.train_limit is -1"},
      {"dataset.test_split=nan", "dataset.test_split is nan"},
      {"training.optimizer.clipnorm=-1",
       "training.optimizer.clipnorm is -1: it must be a finite number >= 0"},
      {"training.optimizer.global_clipnorm=inf",
       "training.optimizer.global_clipnorm is inf"},
      {"training.optimizer.adam.weight_decay=1",
       "training.optimizer.adam.weight_decay is 1: it must be in [0, 1)"},
      {"training.optimizer.schedule.cosine.decay_steps=0",
       "training.optimizer.schedule.cosine.decay_steps is 0: it must be > 0"},
      {"training.optimizer.schedule.exponential.decay_steps=10,training."
       "optimizer.schedule.exponential.decay_rate=2",
       "training.optimizer.schedule.exponential.decay_rate is 2"},
      // The configuration's callback[1] is a ReduceLROnPlateau.
      {"training.optimizer.schedule.warmup_steps=100",
       "training.callback[1].reduce_lr_on_plateau cannot be combined with "
       "training.optimizer.schedule"},
  };
  for (const auto& [assignment, expected] : cases) {
    ModelDef def = Config();
    ConfigOverrides o;
    o.set = absl::StrSplit(assignment, ',');  // As --set splits them.
    EXPECT_THAT(Message(ApplyOverrides(o, &def)), HasSubstr(expected))
        << assignment;
  }
  // A named flag that fixes the value wins: the check runs after it.
  ModelDef def = Config();
  ConfigOverrides o;
  o.set = {"training.batch_size=-1"};
  o.batch_size = 16;
  ASSERT_TRUE(ApplyOverrides(o, &def).ok());
  EXPECT_EQ(def.training().batch_size(), 16);
  // Unset values keep their defaults.
  def = Config();
  ASSERT_TRUE(ApplyOverrides(ConfigOverrides(), &def).ok());
  EXPECT_EQ(def.training().batch_size(), 32);
}

// The named flags are shortcuts for --set paths: the same values, the same
// checks, errors naming the flag.
TEST(ConfigSetTest, NamedFlagsAreShortcutsForSetPaths) {
  ConfigOverrides named;
  named.epochs = 0;  // Given: no epoch (the file's 0 would mean 1).
  named.batch_size = 16;
  named.learning_rate = 0.0031234567f;
  named.validation_split = 0.25f;
  named.seed = -5;
  named.max_len = 50;
  named.num_words = 400;
  named.train_limit = 0;
  named.test_limit = 7;
  named.patience = 4;
  ConfigOverrides set;
  set.set = {"training.epochs=0",
             "training.batch_size=16",
             "training.optimizer.adam.learning_rate=0.0031234567",
             "training.validation_split=0.25",
             "training.seed=-5",
             "dataset.max_len=50",
             "dataset.num_words=400",
             "dataset.train_limit=0",
             "dataset.test_limit=7",
             "training.callback[0].early_stopping.patience=4"};
  ModelDef a = Config();
  ModelDef b = Config();
  ASSERT_TRUE(ApplyOverrides(named, &a).ok());
  ASSERT_TRUE(ApplyOverrides(set, &b).ok());
  EXPECT_EQ(a.DebugString(), b.DebugString());
  EXPECT_EQ(a.training().epochs(), 0);
  EXPECT_EQ(a.training().optimizer().adam().learning_rate(), 0.0031234567f);
  EXPECT_EQ(a.training().seed(), -5);
  EXPECT_EQ(a.training().callback(0).early_stopping().patience(), 4);
  // ReduceLROnPlateau's patience is not EarlyStopping's.
  EXPECT_EQ(a.training().callback(1).reduce_lr_on_plateau().patience(), 0);
  EXPECT_FALSE(a.training().callback(1).has_early_stopping());

  // The learning rate of the optimizer in use; Adam when none is set.
  ModelDef sgd = Config();
  sgd.mutable_training()->mutable_optimizer()->mutable_sgd();
  ConfigOverrides lr;
  lr.learning_rate = 0.5f;
  ASSERT_TRUE(ApplyOverrides(lr, &sgd).ok());
  EXPECT_EQ(sgd.training().optimizer().sgd().learning_rate(), 0.5f);
  ModelDef none = Config();
  none.mutable_training()->clear_optimizer();
  ASSERT_TRUE(ApplyOverrides(lr, &none).ok());
  EXPECT_EQ(none.training().optimizer().adam().learning_rate(), 0.5f);

  // Every EarlyStopping callback; none if there is none.
  ModelDef two = Config();
  *two.mutable_training()->add_callback() = two.training().callback(0);
  ConfigOverrides patience;
  patience.patience = 6;
  ASSERT_TRUE(ApplyOverrides(patience, &two).ok());
  EXPECT_EQ(two.training().callback(0).early_stopping().patience(), 6);
  EXPECT_EQ(two.training().callback(2).early_stopping().patience(), 6);
  ModelDef plain = Config();
  plain.mutable_training()->clear_callback();
  ASSERT_TRUE(ApplyOverrides(patience, &plain).ok());
  EXPECT_EQ(plain.training().callback_size(), 0);
  // ... and a bad value is an error all the same.
  patience.patience = -1;
  EXPECT_EQ(Message(ApplyOverrides(patience, &plain)),
            "--patience is -1: it must be >= 0 (0 or unset: 0 epochs)");
  EXPECT_EQ(plain.training().callback_size(), 0);

  // Errors name the flag.
  const auto error = [](ConfigOverrides o) {
    ModelDef def = Config();
    return Message(ApplyOverrides(o, &def));
  };
  ConfigOverrides bad;
  bad.batch_size = 0;
  EXPECT_EQ(error(bad), "--batch_size is 0: it must be positive");
  bad = ConfigOverrides();
  bad.epochs = -1;
  EXPECT_EQ(error(bad), "--epochs is -1: it must be >= 0");
  bad = ConfigOverrides();
  bad.num_words = 3;
  EXPECT_THAT(error(bad), HasSubstr("--num_words is 3: it must be > 3"));
  bad = ConfigOverrides();
  bad.max_len = 0;
  EXPECT_EQ(error(bad), "--max_len is 0: it must be positive");
  bad = ConfigOverrides();
  bad.train_limit = -1;
  EXPECT_EQ(error(bad),
            "--train_limit is -1: it must be >= 0 (0 or unset: all)");
  bad = ConfigOverrides();
  bad.patience = -2;
  EXPECT_THAT(error(bad), HasSubstr("--patience is -2: it must be >= 0"));

  // One table: every flag names a path SetConfigValue takes.
  for (const SettingFlag& flag : SettingFlags()) {
    ModelDef def = Config();
    EXPECT_TRUE(SetConfigValue(absl::StrCat(flag.path, "=1"), &def).ok())
        << flag.name;
  }
}

// [*] and a oneof's name in --set paths.
TEST(ConfigSetTest, SetPathsReachEveryElementAndTheSelectedCase) {
  ModelDef def = Config();
  std::vector<std::string> paths;
  ASSERT_TRUE(SetConfigValue("training.callback[*].reduce_lr_on_plateau.factor"
                             "=0.25",
                             &def, &paths)
                  .ok());
  EXPECT_THAT(paths, ::testing::ElementsAre(
                         "training.callback[1].reduce_lr_on_plateau.factor"));
  EXPECT_FLOAT_EQ(def.training().callback(1).reduce_lr_on_plateau().factor(),
                  0.25f);
  EXPECT_TRUE(def.training().callback(0).has_early_stopping());
  paths.clear();
  ASSERT_TRUE(
      SetConfigValue("training.optimizer.kind.beta_1=0.8", &def, &paths).ok());
  EXPECT_THAT(paths, ::testing::ElementsAre("training.optimizer.adam.beta_1"));
  EXPECT_THAT(Message(SetConfigValue("training.epochs[*]=1", &def)),
              HasSubstr("'epochs' is not a list; drop the [*]"));
  EXPECT_THAT(Message(SetConfigValue("training.callback[x].a=1", &def)),
              HasSubstr("is not field[index] or field[*]"));
}

TEST(ConfigSetTest, BadValuesInTheModelFileAreRefused) {
  ModelDef def = Config();
  def.mutable_training()->set_batch_size(-1);
  EXPECT_THAT(Message(ApplyOverrides(ConfigOverrides(), &def)),
              HasSubstr("training.batch_size is -1"));
  def = Config();
  def.mutable_training()->mutable_optimizer()->mutable_adam()->set_epsilon(
      std::nanf(""));
  EXPECT_THAT(Message(CheckModelSettings(def)),
              HasSubstr("training.optimizer.adam.epsilon is nan"));
}

TEST(ConfigSetTest, BucketByLengthIsSetAndChecked) {
  ModelDef def = Config();
  ASSERT_TRUE(
      SetConfigValue("training.bucket_by_length.buckets=10", &def).ok());
  EXPECT_EQ(def.training().bucket_by_length().buckets(), 10);
  EXPECT_TRUE(CheckModelSettings(def).ok()) << CheckModelSettings(def);
  def = Config();
  ASSERT_TRUE(
      SetConfigValue("training.bucket_by_length.boundary[0]=50", &def).ok());
  ASSERT_TRUE(
      SetConfigValue("training.bucket_by_length.boundary[1]=100", &def).ok());
  EXPECT_EQ(def.training().bucket_by_length().boundary_size(), 2);
  EXPECT_EQ(def.training().bucket_by_length().boundary(1), 100);
  EXPECT_TRUE(CheckModelSettings(def).ok());
  def.mutable_training()->mutable_bucket_by_length()->set_boundary(1, 40);
  EXPECT_THAT(Message(CheckModelSettings(def)),
              HasSubstr("training.bucket_by_length.boundary[1] is 40: the "
                        "boundaries must be positive and increasing"));
  def.mutable_training()->mutable_bucket_by_length()->set_buckets(3);
  EXPECT_THAT(Message(CheckModelSettings(def)), HasSubstr("both are set"));
  def = Config();
  def.mutable_training()->mutable_bucket_by_length();
  EXPECT_THAT(Message(CheckModelSettings(def)), HasSubstr("neither is set"));
  def.mutable_training()->mutable_bucket_by_length()->set_buckets(0);
  ASSERT_TRUE(
      SetConfigValue("training.bucket_by_length.buckets=2000", &def).ok());
  EXPECT_THAT(Message(CheckModelSettings(def)),
              HasSubstr("training.bucket_by_length.buckets is 2000"));
  def = Config();
  def.mutable_training()->mutable_bucket_by_length()->set_buckets(4);
  def.set_no_length_trimming(true);
  EXPECT_THAT(Message(CheckModelSettings(def)),
              HasSubstr("no_length_trimming: true turns off"));
}

TEST(ConfigSetTest, FlagsRefuseNanAndAbsurdValues) {
  const auto error = [](ConfigOverrides o) {
    ModelDef def = Config();
    return Message(ApplyOverrides(o, &def));
  };
  ConfigOverrides o;
  o.validation_split = std::nanf("");  // SIGSEGV in SplitValidation.
  EXPECT_THAT(error(o),
              HasSubstr("--validation_split is nan: it must be in [0, 1)"));
  for (float lr : {std::nanf(""), HUGE_VALF, 1e30f, 0.0f, -1.0f}) {
    o = ConfigOverrides();
    o.learning_rate = lr;
    EXPECT_THAT(error(o),
                HasSubstr(absl::StrCat("--learning_rate is ", lr,
                                       ": a learning rate must be a finite "
                                       "number in (0, 10]")))
        << lr;
  }
  o = ConfigOverrides();
  o.learning_rate = 10;
  EXPECT_EQ(error(o), "");
}

// The data sets feed token ids: a float features_input failed at step 1
// with a shape message that did not name it.
TEST(ConfigSetTest, FeaturesInputMustTakeTokenIds) {
  ModelDef def = Config();
  def.set_features_input("x");
  InputDef* in = def.mutable_graph()->add_input();
  in->set_name("x");
  in->set_dtype(DT_FLOAT);
  EXPECT_THAT(Message(ApplyOverrides(ConfigOverrides(), &def)),
              HasSubstr("features_input 'x' is a graph input of dtype "
                        "DT_FLOAT, but it is fed token ids: make its dtype "
                        "DT_INT32"));
  in->set_dtype(DT_INT32);
  EXPECT_TRUE(ApplyOverrides(ConfigOverrides(), &def).ok());
}

// --num_words resizes the Embedding of the token ids, and only it: an
// Embedding of other ids (the HashedBigrams of the tokens) keeps the rows
// its model file gives. It was resized too, to a table its ids overflow.
TEST(ConfigSetTest, NumWordsResizesOnlyTheEmbeddingOfTheTokens) {
  ModelDef def = Config();
  const char* text = R"pb(
    features_input: "tokens"
    graph {
      input {
        name: "tokens"
        dtype: DT_INT32
        shape { dim: -1 dim: 20 }
      }
      node {
        name: "embedding"
        op: "Embedding"
        input: "tokens"
        attr {
          key: "input_dim"
          value { i: 100 }
        }
        attr {
          key: "output_dim"
          value { i: 8 }
        }
      }
      node {
        name: "bigrams"
        op: "HashedBigrams"
        input: "tokens"
        attr {
          key: "buckets"
          value { i: 999 }
        }
      }
      node {
        name: "bigram_embedding"
        op: "Embedding"
        input: "bigrams"
        attr {
          key: "input_dim"
          value { i: 1000 }
        }
        attr {
          key: "output_dim"
          value { i: 4 }
        }
      }
    }
  )pb";
  ASSERT_TRUE(google::protobuf::TextFormat::MergeFromString(text, &def));
  ConfigOverrides o;
  o.num_words = 400;
  o.max_len = 30;
  ASSERT_TRUE(ApplyOverrides(o, &def).ok());
  EXPECT_EQ(def.graph().input(0).shape().dim(1), 30);
  EXPECT_EQ(def.graph().node(0).attr().at("input_dim").i(), 400);
  EXPECT_EQ(def.graph().node(2).attr().at("input_dim").i(), 1000);
}

// --threads=100000 crashed in FusedLstm::Forward, 1000 made no epoch in a
// minute, -3 was accepted.
TEST(ConfigSetTest, ThreadsAreCheckedAgainstTheCores) {
  EXPECT_TRUE(CheckThreads(0).ok());
  EXPECT_TRUE(CheckThreads(1).ok());
  EXPECT_TRUE(CheckThreads(MaxThreads()).ok());
  EXPECT_THAT(Message(CheckThreads(-3)),
              HasSubstr("--threads must be >= 0 (0: all cores), got -3"));
  for (int threads : {1000, 100000}) {
    EXPECT_THAT(Message(CheckThreads(threads)),
                HasSubstr(absl::StrCat("--threads=", threads, " is more than ",
                                       MaxThreads(), ", 4 per core")));
  }
  TrainJobOptions train;
  train.threads = 100000;
  std::ostringstream out;
  EXPECT_THAT(Message(RunTrainJob(train, out)),
              HasSubstr("--threads=100000 is more than"));
  EvaluateJobOptions evaluate;
  evaluate.threads = -3;
  EXPECT_THAT(Message(RunEvaluateJob(evaluate, out)),
              HasSubstr("--threads must be >= 0"));
  evaluate.threads = 1;
  evaluate.batch_size = -1;  // Was the model's batch size, silently.
  EXPECT_THAT(
      Message(RunEvaluateJob(evaluate, out)),
      HasSubstr("--batch_size must be positive (0: the model's), got -1"));
  PredictJobOptions predict;
  predict.threads = 1000;
  EXPECT_THAT(Message(RunPredictJob(predict, out)),
              HasSubstr("--threads=1000 is more than"));
}

}  // namespace
}  // namespace loom
