#include "framework/plugin.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "framework/status_macros.h"

namespace loom {
namespace {

// Whether [offset, offset + size) lies within a file of `file_size` bytes.
bool Within(uint64_t offset, uint64_t size, uint64_t file_size) {
  return offset <= file_size && size <= file_size - offset;
}

template <typename Ehdr, typename Phdr, typename Shdr>
absl::Status CheckElfLayout(int fd, const std::string& path,
                            uint64_t file_size) {
  const auto truncated = [&](absl::string_view what, uint64_t end) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot load plugin ", path, ": the file is truncated or damaged: ",
        what, " ends at byte ", end, ", but the file has ", file_size,
        " bytes (rebuild or copy the plugin again)"));
  };
  Ehdr eh;
  if (file_size < sizeof(eh) ||
      ::pread(fd, &eh, sizeof(eh), 0) != static_cast<ssize_t>(sizeof(eh))) {
    return truncated("the ELF header", sizeof(eh));
  }
  if (eh.e_phnum > 0) {
    if (eh.e_phentsize != sizeof(Phdr)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot load plugin ", path,
          ": damaged ELF file (program header size ", eh.e_phentsize, ")"));
    }
    const uint64_t table = uint64_t{eh.e_phnum} * sizeof(Phdr);
    if (!Within(eh.e_phoff, table, file_size)) {
      return truncated("its program header table", eh.e_phoff + table);
    }
    std::vector<Phdr> headers(eh.e_phnum);
    if (::pread(fd, headers.data(), table, eh.e_phoff) !=
        static_cast<ssize_t>(table)) {
      return truncated("its program header table", eh.e_phoff + table);
    }
    // The segments dlopen() maps: a page past the end of the file would
    // raise SIGBUS inside the dynamic loader.
    for (size_t i = 0; i < headers.size(); ++i) {
      const Phdr& ph = headers[i];
      if (ph.p_filesz > 0 && !Within(ph.p_offset, ph.p_filesz, file_size)) {
        return truncated(absl::StrCat("segment ", i),
                         uint64_t{ph.p_offset} + ph.p_filesz);
      }
    }
  }
  if (eh.e_shoff != 0 && eh.e_shnum > 0) {
    const uint64_t table = uint64_t{eh.e_shnum} * sizeof(Shdr);
    if (!Within(eh.e_shoff, table, file_size)) {
      return truncated("its section header table", eh.e_shoff + table);
    }
  }
  return absl::OkStatus();
}

// Checks a shared object's ELF headers against the file's size before
// dlopen() maps it. Files that are not ELF (or not this machine's byte
// order) pass: dlopen() refuses them with its own message.
absl::Status CheckElfFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return absl::OkStatus();  // dlopen() says why.
  struct stat st;
  absl::Status status;
  unsigned char ident[EI_NIDENT] = {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    status = absl::InvalidArgumentError(
        absl::StrCat("cannot load plugin ", path, ": not a regular file"));
  } else if (::pread(fd, ident, sizeof(ident), 0) ==
                 static_cast<ssize_t>(sizeof(ident)) &&
             std::memcmp(ident, ELFMAG, SELFMAG) == 0) {
    const bool native =
        ident[EI_DATA] ==
        (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB);
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    if (native && ident[EI_CLASS] == ELFCLASS64) {
      status =
          CheckElfLayout<Elf64_Ehdr, Elf64_Phdr, Elf64_Shdr>(fd, path, size);
    } else if (native && ident[EI_CLASS] == ELFCLASS32) {
      status =
          CheckElfLayout<Elf32_Ehdr, Elf32_Phdr, Elf32_Shdr>(fd, path, size);
    }
  }
  ::close(fd);
  return status;
}

}  // namespace

absl::Status RegisterPlugin(const LoomPluginInfo& info,
                            const std::string& source, OpRegistry* registry) {
  if (info.abi_version != kLoomPluginAbiVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "plugin ", source, " was built for Loom plugin ABI version ",
        info.abi_version, ", but this Loom has ABI version ",
        kLoomPluginAbiVersion, "; rebuild the plugin against this Loom"));
  }
  if (info.register_ops == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("plugin ", source, " has no registration function"));
  }
  absl::flat_hash_set<std::string> before;
  for (const OpDef* def : registry->List()) before.insert(def->signature.name);
  registry->set_current_source(source);
  absl::Status status = info.register_ops(registry);
  registry->set_current_source("builtin");
  if (!status.ok()) {
    // All or nothing: remove the ops this plugin registered before failing.
    std::vector<std::string> added;
    for (const OpDef* def : registry->List()) {
      if (!before.contains(def->signature.name)) {
        added.push_back(def->signature.name);
      }
    }
    for (const std::string& name : added) registry->Remove(name);
    return absl::Status(
        status.code(),
        absl::StrCat(
            "plugin ", source, ": ", status.message(),
            added.empty() ? "" : " (none of its ops were registered)"));
  }
  return absl::OkStatus();
}

absl::Status LoadPlugin(const std::string& path, OpRegistry* registry) {
  // dlopen() looks a name without a '/' up on the system library path only,
  // never in the current folder, where a user who types --plugin=libx.so
  // means it: a file of that name there is loaded as ./libx.so.
  const bool bare = !path.empty() && path.find('/') == std::string::npos;
  std::string to_open = path;
  std::error_code error;
  if (bare && std::filesystem::is_regular_file(path, error)) {
    to_open = absl::StrCat("./", path);
  }
  if (to_open.find('/') != std::string::npos) {
    LOOM_RETURN_IF_ERROR(CheckElfFile(to_open));
  }
  void* handle = dlopen(to_open.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    std::string hint;
    if (bare && to_open == path) {
      const std::filesystem::path cwd = std::filesystem::current_path(error);
      hint = absl::StrCat(
          " (a name without a '/' is looked for in the current folder, ",
          error ? std::string("which cannot be read") : cwd.string(),
          ", then on the system library path: LD_LIBRARY_PATH, "
          "/etc/ld.so.cache, /lib, /usr/lib; give the plugin's path, e.g. "
          "--plugin=path/to/",
          path, ")");
    }
    return absl::NotFoundError(absl::StrCat("cannot load plugin ", path, ": ",
                                            why ? why : "unknown error", hint));
  }
  using EntryFn = const LoomPluginInfo* (*)();
  auto entry = reinterpret_cast<EntryFn>(dlsym(handle, "loom_plugin_entry"));
  if (entry == nullptr) {
    dlclose(handle);
    return absl::InvalidArgumentError(
        absl::StrCat(to_open,
                     " is not a Loom plugin: it has no "
                     "'loom_plugin_entry' symbol (define one with "
                     "LOOM_PLUGIN)"));
  }
  const LoomPluginInfo* info = entry();
  if (info == nullptr) {
    dlclose(handle);
    return absl::InvalidArgumentError(
        absl::StrCat("plugin ", to_open, ": loom_plugin_entry returned null"));
  }
  absl::Status status = RegisterPlugin(*info, to_open, registry);
  // A failed plugin left nothing registered: it is safe to unload.
  if (!status.ok()) dlclose(handle);
  return status;
}

}  // namespace loom
