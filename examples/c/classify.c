/* Classifies texts with a trained Loom model, through the C API.
 *
 *   cc classify.c $(pkg-config --cflags --libs loom) -o classify
 *   ./classify runs/<run>/model "A wonderful film." "Dreadful."
 *
 * Prints, for each text, the predicted class and every class' probability. */
#include <loom/loom.h>
#include <stdio.h>
#include <stdlib.h>

/* Prints and frees a failed status; returns 1 if there was one. */
static int Failed(LoomStatus* status) {
  if (status == NULL) return 0;
  fprintf(stderr, "classify: %s\n", loom_status_message(status));
  loom_status_free(status);
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s MODEL_DIR TEXT...\n", argv[0]);
    return 2;
  }
  if (loom_api_version() != LOOM_API_VERSION) {
    fprintf(stderr, "classify: libloom API %u, header %d\n", loom_api_version(),
            LOOM_API_VERSION);
    return 1;
  }
  LoomModel* model = NULL;
  if (Failed(loom_model_load(argv[1], NULL, 0, NULL, &model))) return 1;

  size_t num_classes = 0;
  if (Failed(loom_model_num_classes(model, &num_classes))) return 1;
  const size_t num_texts = (size_t)(argc - 2);
  float* probabilities = malloc(num_texts * num_classes * sizeof(float));
  int32_t* labels = malloc(num_texts * sizeof(int32_t));
  if (probabilities == NULL || labels == NULL) return 1;

  int rc = 0;
  if (Failed(loom_predict_texts(model, (const char* const*)(argv + 2),
                                num_texts, probabilities, labels))) {
    rc = 1;
  }
  for (size_t i = 0; rc == 0 && i < num_texts; ++i) {
    const char* label = NULL;
    if (Failed(loom_model_class_name(model, (size_t)labels[i], &label))) {
      rc = 1;
      break;
    }
    printf("%s", label);
    for (size_t c = 0; c < num_classes; ++c) {
      printf("\t%.9g", probabilities[i * num_classes + c]);
    }
    printf("\n");
  }
  free(labels);
  free(probabilities);
  loom_model_free(model);
  return rc;
}
