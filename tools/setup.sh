#!/usr/bin/env bash
# One-time setup for Loom on Debian 12: installs the Debian packages Loom
# builds with and puts the IMDb data into Loom's data cache. Safe to re-run:
# it skips what is already there and says what it did and what is missing.
#
#   tools/setup.sh [--imdb PATH] [--with-peer]
#
#   --imdb PATH   IMDb as the aclImdb_v1 .tar.gz archive or its unpacked
#                 folder (aclImdb/ or the folder holding it). Without it, the
#                 official archive is downloaded if the cache has none.
#   --with-peer   Also install PyTorch (python3-torch), for the PyTorch peer
#                 benchmark in ../shared/bench.
#
# The cache is $LOOM_CACHE_DIR, by default ~/.cache/loom.
set -euo pipefail

imdb=""
with_peer=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --imdb) imdb="${2:?--imdb needs a path}"; shift 2 ;;
    --imdb=*) imdb="${1#--imdb=}"; shift ;;
    --with-peer) with_peer=1; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

cache="${LOOM_CACHE_DIR:-$HOME/.cache/loom}"
official_url="https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"

packages=(bazel-bootstrap g++ libdnnl-dev libabsl-dev libprotobuf-dev
  protobuf-compiler libarchive-dev libgtest-dev libgmock-dev
  libbenchmark-dev clang-format libutf8proc-dev libcsv-dev
  nlohmann-json3-dev libcpp-httplib-dev pkg-config clang-14 libfuzzer-14-dev
  libopenmpi-dev openmpi-bin chromium chromium-driver)
[[ $with_peer -eq 1 ]] && packages+=(python3-torch python3-numpy)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: packages: all ${#packages[@]} present"
else
  echo "setup: packages: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
  echo "setup: packages: installed ${missing[*]}"
fi

mkdir -p "$cache"
have_data() {
  [[ -d "$cache/aclImdb/train" ]] || [[ -s "$cache/aclImdb_v1.tar.gz" ]] ||
    [[ -s "$cache/aclImdb_v1_labeled.tar.gz" ]]
}

if [[ -n "$imdb" ]]; then
  if [[ -f "$imdb" ]]; then
    dest="$cache/$(basename "$imdb")"
    case "$dest" in *.tar.gz) ;; *) dest="$cache/aclImdb_v1.tar.gz" ;; esac
    if [[ -f "$dest" ]] && cmp -s "$imdb" "$dest"; then
      echo "setup: data: $dest already holds $imdb"
    else
      cp "$imdb" "$dest.tmp.$$" && mv "$dest.tmp.$$" "$dest"
      echo "setup: data: copied $imdb to $dest"
    fi
  elif [[ -d "$imdb" ]]; then
    src="$(cd "$imdb" && pwd)"
    [[ -d "$src/aclImdb" ]] && src="$src/aclImdb"
    if [[ ! -d "$src/train" || ! -d "$src/test" ]]; then
      echo "setup: data: $imdb has no train/ and test/ folders: not IMDb" >&2
      exit 1
    fi
    ln -sfn "$src" "$cache/aclImdb"
    echo "setup: data: linked $cache/aclImdb to $src"
  else
    echo "setup: data: $imdb does not exist" >&2
    exit 1
  fi
elif have_data; then
  echo "setup: data: IMDb already in $cache"
else
  echo "setup: data: downloading the official archive (84 MB)"
  if command -v curl >/dev/null &&
     curl -fsSL --connect-timeout 15 -o "$cache/aclImdb_v1.tar.gz.part" "$official_url"; then
    mv "$cache/aclImdb_v1.tar.gz.part" "$cache/aclImdb_v1.tar.gz"
    echo "setup: data: saved $cache/aclImdb_v1.tar.gz"
  else
    rm -f "$cache/aclImdb_v1.tar.gz.part"
    echo "setup: data: MISSING: no network to fetch IMDb; run again with" \
      "--imdb PATH (the .tar.gz or the unpacked folder). Tests do not need it."
  fi
fi
echo "setup: done"
