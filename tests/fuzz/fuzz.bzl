"""loom_fuzz_test: a libFuzzer target that is also a regular test."""

def loom_fuzz_test(name, srcs, deps = [], copts = [], corpus = None):
    """A fuzz target and its seed corpus, tests/fuzz/corpus/<corpus>/.

    Without --config=fuzz (gcc, any other config) the target links
    :replay_main and the test runs every seed once, so `bazel test //...`
    replays the corpora, and --config=asan / --config=ubsan replay them under
    the sanitizers. With --config=fuzz (clang-14) it links libFuzzer's main()
    instead; tests/fuzz/run_fuzzers.sh runs it for a bounded time.

    Args:
      name: the target, e.g. "model_fuzzer".
      srcs: its sources, defining LLVMFuzzerTestOneInput.
      deps: what they use.
      copts: extra compiler options.
      corpus: the corpus folder's name under corpus/; `name` if unset.
    """
    corpus = corpus or name
    native.filegroup(
        name = name + "_corpus",
        srcs = native.glob(["corpus/%s/*" % corpus]),
    )
    native.cc_test(
        name = name,
        size = "small",
        srcs = srcs,
        copts = copts,
        # The seed files themselves: both mains run each file once.
        args = ["$(locations :%s_corpus)" % name],
        data = [":%s_corpus" % name],
        linkopts = select({
            ":fuzzing": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        tags = ["fuzz_target"],
        deps = deps + [":fuzz_util"] + select({
            ":fuzzing": [],
            "//conditions:default": [":replay_main"],
        }),
    )
