#include "framework/training/config_set.h"

#include <string>

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
  EXPECT_THAT(Message(s), HasSubstr("has 2 element(s); no [5]"));
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

}  // namespace
}  // namespace loom
