/* Loom's C API: load a model folder written by `tools/train` and classify
 * texts or token ids, from C or any language with a C FFI.
 *
 * Conventions (as ONNX Runtime's C API):
 * - Objects are opaque handles, created by loom_*_load / loom_*_create and
 *   released by the matching loom_*_free (which accept NULL).
 * - Every call that can fail returns a LoomStatus*: NULL for success, else
 *   a status the caller owns and releases with loom_status_free. Its
 *   message says what was wrong and where (the folder, the file, the
 *   argument). Nothing throws or aborts across this boundary.
 * - Buffers: output arrays are the caller's (sizes stated per call);
 *   strings the library returns are the library's, valid as the call says.
 * - Thread safety: one LoomModel may be used by many threads at once.
 * - Check the version first: loom_api_version() must equal
 *   LOOM_API_VERSION, the version this header describes.
 */
#ifndef LOOM_CAPI_LOOM_H_
#define LOOM_CAPI_LOOM_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LOOM_API_VERSION 1

typedef enum LoomStatusCode {
  LOOM_OK = 0,
  LOOM_INVALID_ARGUMENT = 1,
  LOOM_NOT_FOUND = 2,
  LOOM_FAILED_PRECONDITION = 3,
  LOOM_RESOURCE_EXHAUSTED = 4,
  LOOM_DATA_LOSS = 5,
  LOOM_INTERNAL = 6,
} LoomStatusCode;

typedef struct LoomStatus LoomStatus;
typedef struct LoomModel LoomModel;

/* The API version of the library loaded (compare with LOOM_API_VERSION). */
uint32_t loom_api_version(void);
/* The library's version, e.g. "0.1.0"; static storage. */
const char* loom_version_string(void);

LoomStatusCode loom_status_code(const LoomStatus* status);
/* The message; valid until the status is freed. */
const char* loom_status_message(const LoomStatus* status);
void loom_status_free(LoomStatus* status);

/* Loads the model folder `model_dir` (model.pbtxt, weights.ckpt,
 * vocabulary.txt). `plugins` (may be NULL when num_plugins is 0) are op
 * plugin shared objects to load first; the plugins the model declares are
 * also looked up in `plugin_path` (colon-separated folders, may be NULL),
 * then in $LOOM_PLUGIN_PATH, then among the plugins installed beside the
 * library (<libdir>/loom/plugins). On success *out is a new model to release
 * with loom_model_free. */
LoomStatus* loom_model_load(const char* model_dir, const char* const* plugins,
                            size_t num_plugins, const char* plugin_path,
                            LoomModel** out);
void loom_model_free(LoomModel* model);

/* The number of classes, and the name of class `index` (library-owned,
 * valid until the model is freed). */
LoomStatus* loom_model_num_classes(const LoomModel* model, size_t* out);
LoomStatus* loom_model_class_name(const LoomModel* model, size_t index,
                                  const char** out);
/* The sequence length the model reads (longer texts are truncated) and
 * the id limit of its vocabulary (ids are in [0, *out)). */
LoomStatus* loom_model_max_len(const LoomModel* model, int64_t* out);
LoomStatus* loom_model_num_words(const LoomModel* model, int64_t* out);

/* Classifies `num_texts` UTF-8 texts. `probabilities` (caller-owned, at
 * least num_texts * num_classes floats) receives each text's class
 * probabilities, row by row; `labels` (caller-owned, num_texts ints, or
 * NULL) the index of each text's most probable class. */
LoomStatus* loom_predict_texts(const LoomModel* model,
                               const char* const* texts, size_t num_texts,
                               float* probabilities, int32_t* labels);

/* Classifies token ids already encoded as the model expects: `num_rows`
 * rows of `length` ids, row-major; rows of another length than max_len are
 * padded or truncated as the model's settings say. Outputs as above. */
LoomStatus* loom_predict_ids(const LoomModel* model, const int32_t* ids,
                             size_t num_rows, size_t length,
                             float* probabilities, int32_t* labels);

#ifdef __cplusplus
}
#endif

#endif /* LOOM_CAPI_LOOM_H_ */
