// Help texts of the flags several tools define alike. Each tool still
// defines its flags in its own file, so that --help lists them.
#ifndef LOOM_TOOLS_FLAG_HELP_H_
#define LOOM_TOOLS_FLAG_HELP_H_

namespace loom::tools {

inline constexpr char kPluginHelp[] =
    "Op plugin shared objects to load, comma-separated.";
inline constexpr char kPluginPathHelp[] =
    "Directories, colon-separated, searched (with their subfolders) for the "
    "plugins a model declares by file name (required_plugin) and --plugin "
    "does not give; searched before the directories of the LOOM_PLUGIN_PATH "
    "environment variable and the plugins shipped with this tool.";
inline constexpr char kThreadsHelp[] =
    "Threads for oneDNN kernels (0: all cores).";

}  // namespace loom::tools

#endif  // LOOM_TOOLS_FLAG_HELP_H_
