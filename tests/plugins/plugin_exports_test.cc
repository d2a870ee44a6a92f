// What a plugin exports (plugins/README.md, "The ABI rules"): built with
// -fvisibility=hidden and the version script of the Swish example, a plugin
// exports loom_plugin_entry and nothing else, even one that instantiates
// std:: templates (the shipped GRU and Conv1D: std::vector<int>,
// shared_ptr, ...), and still loads and registers its ops. The symbols are read from the ELF dynamic symbol
// table, as `nm -D --defined-only` lists them.
#include <elf.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "framework/plugin.h"
#include "framework/registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loom {
namespace {

using ::testing::ElementsAre;

// Paths in the test's runfiles, the top of the tree.
const char kSwish[] = "plugins/examples/swish/libloom_swish.so";
const char kGru[] = "plugins/gru/libloom_gru.so";
const char kConv1d[] = "plugins/conv1d/libloom_conv1d.so";

// The names of the symbols a 64-bit ELF shared object defines and exports:
// the global and weak entries of .dynsym that are not undefined.
std::vector<std::string> ExportedSymbols(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string file = buffer.str();
  std::vector<std::string> names;
  if (file.size() < sizeof(Elf64_Ehdr) ||
      std::memcmp(file.data(), ELFMAG, SELFMAG) != 0 ||
      file[EI_CLASS] != ELFCLASS64) {
    ADD_FAILURE() << path << " is not a 64-bit ELF file";
    return names;
  }
  Elf64_Ehdr header;
  std::memcpy(&header, file.data(), sizeof(header));
  auto section = [&](int i) {
    Elf64_Shdr s;
    std::memcpy(&s, file.data() + header.e_shoff + i * header.e_shentsize,
                sizeof(s));
    return s;
  };
  for (int i = 0; i < header.e_shnum; ++i) {
    const Elf64_Shdr dynsym = section(i);
    if (dynsym.sh_type != SHT_DYNSYM) continue;
    const Elf64_Shdr strtab = section(static_cast<int>(dynsym.sh_link));
    const size_t count = dynsym.sh_size / sizeof(Elf64_Sym);
    for (size_t k = 1; k < count; ++k) {  // Entry 0 is the null symbol.
      Elf64_Sym sym;
      std::memcpy(&sym, file.data() + dynsym.sh_offset + k * sizeof(sym),
                  sizeof(sym));
      const int bind = ELF64_ST_BIND(sym.st_info);
      if (sym.st_shndx == SHN_UNDEF || bind == STB_LOCAL) continue;
      names.emplace_back(file.data() + strtab.sh_offset + sym.st_name);
    }
  }
  return names;
}

TEST(PluginExportsTest, SwishExportsOnlyItsEntryPoint) {
  EXPECT_THAT(ExportedSymbols(kSwish), ElementsAre("loom_plugin_entry"));
}

TEST(PluginExportsTest, ShippedPluginsExportOnlyTheirEntryPoint) {
  for (const char* path : {kGru, kConv1d}) {
    EXPECT_THAT(ExportedSymbols(path), ElementsAre("loom_plugin_entry"))
        << path;
  }
}

TEST(PluginExportsTest, PluginWithVersionScriptStillLoads) {
  for (const char* path : {kSwish, kGru, kConv1d}) {
    OpRegistry registry;
    absl::Status s = LoadPlugin(path, &registry);
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_FALSE(registry.List().empty()) << path;
  }
}

}  // namespace
}  // namespace loom
