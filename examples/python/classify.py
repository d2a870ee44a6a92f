#!/usr/bin/env python3
"""Classifies texts with a trained Loom model, through the C API with ctypes
(standard library only).

    python3 classify.py runs/<run>/model "A wonderful film." "Dreadful."

libloom.so is found through $LOOM_LIBRARY, else `pkg-config --variable=libdir
loom`, else the system's library path. Prints, for each text, the predicted
class and every class' probability.
"""
import ctypes
import os
import subprocess
import sys

API_VERSION = 1  # LOOM_API_VERSION in loom.h


def find_library():
    if os.environ.get("LOOM_LIBRARY"):
        return os.environ["LOOM_LIBRARY"]
    try:
        libdir = subprocess.run(["pkg-config", "--variable=libdir", "loom"],
                                capture_output=True, text=True,
                                check=True).stdout.strip()
        return os.path.join(libdir, "libloom.so")
    except (OSError, subprocess.CalledProcessError):
        return "libloom.so"


def load():
    # RTLD_GLOBAL: op plugins that the library loads resolve Loom's symbols
    # against it.
    lib = ctypes.CDLL(find_library(), mode=ctypes.RTLD_GLOBAL)
    status = ctypes.c_void_p
    lib.loom_api_version.restype = ctypes.c_uint32
    lib.loom_status_message.restype = ctypes.c_char_p
    lib.loom_status_message.argtypes = [status]
    lib.loom_status_free.argtypes = [status]
    lib.loom_model_load.restype = status
    lib.loom_model_load.argtypes = [
        ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t,
        ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.loom_model_free.argtypes = [ctypes.c_void_p]
    lib.loom_model_num_classes.restype = status
    lib.loom_model_num_classes.argtypes = [
        ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t)]
    lib.loom_model_class_name.restype = status
    lib.loom_model_class_name.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_char_p)]
    lib.loom_predict_texts.restype = status
    lib.loom_predict_texts.argtypes = [
        ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t,
        ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_int32)]
    return lib


def check(lib, status):
    if status:
        message = lib.loom_status_message(status).decode()
        lib.loom_status_free(status)
        raise SystemExit("classify.py: " + message)


def main(argv):
    if len(argv) < 3:
        raise SystemExit("usage: classify.py MODEL_DIR TEXT...")
    lib = load()
    if lib.loom_api_version() != API_VERSION:
        raise SystemExit("classify.py: libloom API %d, expected %d" %
                         (lib.loom_api_version(), API_VERSION))
    model = ctypes.c_void_p()
    check(lib, lib.loom_model_load(argv[1].encode(), None, 0, None,
                                   ctypes.byref(model)))
    try:
        k = ctypes.c_size_t()
        check(lib, lib.loom_model_num_classes(model, ctypes.byref(k)))
        names = []
        for c in range(k.value):
            name = ctypes.c_char_p()
            check(lib, lib.loom_model_class_name(model, c, ctypes.byref(name)))
            names.append(name.value.decode())
        texts = [t.encode() for t in argv[2:]]
        n = len(texts)
        probabilities = (ctypes.c_float * (n * k.value))()
        labels = (ctypes.c_int32 * n)()
        check(lib, lib.loom_predict_texts(
            model, (ctypes.c_char_p * n)(*texts), n, probabilities, labels))
        for i in range(n):
            row = probabilities[i * k.value:(i + 1) * k.value]
            print("\t".join([names[labels[i]]] + ["%.9g" % p for p in row]))
    finally:
        lib.loom_model_free(model)


if __name__ == "__main__":
    main(sys.argv)
