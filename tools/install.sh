#!/usr/bin/env bash
# Installs Loom's inference library for programs built outside Bazel:
#
#   tools/install.sh --prefix=DIR
#
# puts DIR/lib/libloom.so.0.1.0 (soname libloom.so.0, with the libloom.so.0
# and libloom.so links), DIR/include/loom/{loom.h,loom.hpp} (the C API and
# its header-only C++ wrapper, nothing else of the framework),
# DIR/lib/loom/plugins/ (the op plugins shipped with Loom, which the library
# searches for the plugins a model declares) and DIR/lib/pkgconfig/loom.pc,
# so that
#   cc app.c $(pkg-config --cflags --libs loom)
# builds with PKG_CONFIG_PATH=DIR/lib/pkgconfig. The library links
# Debian's oneDNN, Abseil, Protocol Buffers, libarchive, libcsv and
# utf8proc, which tools/setup.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    --prefix) prefix="${2:?--prefix needs a folder}"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [[ -z "$prefix" ]]; then
  echo "install.sh: --prefix=DIR is required" >&2
  exit 2
fi
mkdir -p "$prefix"
prefix="$(cd "$prefix" && pwd)"
version=0.1.0

bazel build //capi:libloom.so //plugins:shipped
bin="$(bazel info bazel-bin 2>/dev/null)"

install -d "$prefix/lib/pkgconfig" "$prefix/include/loom" \
  "$prefix/lib/loom/plugins"
install -m 0755 "$bin/capi/libloom.so" "$prefix/lib/libloom.so.$version"
ln -sfn "libloom.so.$version" "$prefix/lib/libloom.so.0"
ln -sfn "libloom.so.0" "$prefix/lib/libloom.so"
install -m 0644 capi/loom.h capi/loom.hpp "$prefix/include/loom/"
for label in $(bazel query 'labels(srcs, //plugins:shipped)' 2>/dev/null); do
  path="${label#//}"   # //plugins/gru:libloom_gru.so -> plugins/gru/...
  install -m 0755 "$bin/${path/://}" "$prefix/lib/loom/plugins/"
done
cat > "$prefix/lib/pkgconfig/loom.pc.tmp" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: loom
Description: Loom inference library (C API and C++ wrapper)
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -Wl,-rpath,\${libdir} -lloom
PC
mv "$prefix/lib/pkgconfig/loom.pc.tmp" "$prefix/lib/pkgconfig/loom.pc"
echo "install: Loom $version in $prefix (lib/libloom.so, include/loom/, lib/pkgconfig/loom.pc)"
