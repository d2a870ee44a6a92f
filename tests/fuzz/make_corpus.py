#!/usr/bin/env python3
"""Writes the binary seeds of tests/fuzz/corpus/ (checkpoints, archives).

  python3 tests/fuzz/make_corpus.py

Seeds are tiny and made here, never taken from the IMDb data set. The other
seeds (model files, vocabularies, texts, CSV/TSV/JSON Lines) are plain files
written by hand. Regression seeds (inputs that once crashed a target) are
kept as they were found and are not written by this script.
"""
import gzip
import io
import os
import struct
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def fnv1a(data):
    h = 1469598103934665603
    for b in data:
        h ^= b
        h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def checkpoint(params, version=1):
    """framework/checkpoint.h's layout."""
    out = b"LOOMCKPT" + struct.pack("<II", version, len(params))
    for name, shape, values in params:
        out += struct.pack("<I", len(name)) + name.encode()
        out += struct.pack("<I", len(shape))
        out += b"".join(struct.pack("<q", d) for d in shape)
        out += b"".join(struct.pack("<f", v) for v in values)
    return out + struct.pack("<Q", fnv1a(out))


KERNEL = ("dense/kernel", [2, 3], [0.5, -1.0, 2.0, 0.25, 0.0, 3.5])
BIAS = ("dense/bias", [3], [0.1, 0.2, 0.3])

write("checkpoint_fuzzer", "valid.ckpt", checkpoint([KERNEL, BIAS]))
write("checkpoint_fuzzer", "truncated.ckpt", checkpoint([KERNEL, BIAS])[:40])
write("checkpoint_fuzzer", "wrong_shape.ckpt",
      checkpoint([("dense/kernel", [3, 2], KERNEL[2]), BIAS]))
write("checkpoint_fuzzer", "wrong_name.ckpt",
      checkpoint([KERNEL, ("dense/b", [3], BIAS[2])]))
write("checkpoint_fuzzer", "one_parameter.ckpt", checkpoint([KERNEL]))
write("checkpoint_fuzzer", "version2.ckpt", checkpoint([KERNEL, BIAS], 2))

REVIEWS = [
    ("train/pos/1_9.txt", b"A wonderful film.<br /><br />Loved it!"),
    ("train/pos/3_7.txt", "Très bien, película buena \u2014 \u597d".encode()),
    ("train/neg/2_1.txt", b"Boring. I didn't like it at all."),
    ("test/pos/4_10.txt", b"Great acting, great story."),
    ("test/neg/5_3.txt", b"Not good, not bad: just dull."),
    ("test/neg/6_2.txt", b"bad \xff\xfe bytes"),
]


def tar_bytes(entries, root="aclImdb/", fmt=tarfile.USTAR_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for path, data in entries:
            info = tarfile.TarInfo(root + path)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def cpio_newc(entries, root="aclImdb/"):
    """SVR4 "newc" cpio: hex sizes and no checksum, easy to mutate."""
    out = b""

    def pad(n):
        return b"\0" * ((4 - n % 4) % 4)

    for i, (path, data) in enumerate(entries + [("TRAILER!!!", b"")]):
        name = (path if path == "TRAILER!!!" else root + path).encode() + b"\0"
        mode = 0 if path == "TRAILER!!!" else 0o100644
        fields = [i + 1, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name), 0]
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        out += header + name + pad(len(header) + len(name))
        out += data + pad(len(data))
    return out


plain = tar_bytes(REVIEWS)
write("imdb_archive_fuzzer", "small.tar", plain)
write("imdb_archive_fuzzer", "small.tar.gz", gzip.compress(plain, mtime=0))
write("imdb_archive_fuzzer", "rooted_at_split.tar", tar_bytes(REVIEWS, root=""))
write("imdb_archive_fuzzer", "pax.tar",
      tar_bytes(REVIEWS[:5], fmt=tarfile.PAX_FORMAT))
write("imdb_archive_fuzzer", "small.cpio", cpio_newc(REVIEWS))
write("imdb_archive_fuzzer", "bad_name.cpio",
      cpio_newc(REVIEWS[:4] + [("test/neg/x_11.txt", b"no")]))
write("imdb_archive_fuzzer", "missing_split.cpio", cpio_newc(REVIEWS[:3]))


def claims_64_gib():
    """Issue 13's crash: a tiny tar.gz whose one entry says it has 64 GiB."""
    info = tarfile.TarInfo("aclImdb/train/pos/1_9.txt")
    info.size = 64 << 30
    info.mtime = 0
    header = info.tobuf(format=tarfile.GNU_FORMAT)  # base-256 size field
    return gzip.compress(header + b"\0" * 1024, mtime=0)


write("imdb_archive_fuzzer", "regression_claims_64gib.tar.gz", claims_64_gib())
