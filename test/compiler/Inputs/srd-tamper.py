"""Changes one byte of a file for the SRD tamper tests.

  srd-tamper.py FILE WHERE MASK    XORs the byte at WHERE with MASK
  srd-tamper.py --residuals FILE   prints the residuals field of a weights file
  srd-tamper.py --rows WEIGHTS QUANT_IR BASE BAKED NAME
                                   says, per row of F32 weight NAME in a
                                   compiled weights file, whether it holds
                                   BASE's row or BAKED's (W'); QUANT_IR is
                                   compile-model --compile-to=quant output

WHERE is an offset, TEXT+N (N bytes after the first occurrence of TEXT),
u64@P+N (N bytes after the little-endian u64 stored at offset P) or
srd4:B+N (byte N of SRD block B of a .srd4 sidecar).
"""
import struct
import sys

if sys.argv[1] == "--residuals":
    with open(sys.argv[2], "rb") as f:
        header = f.read(512)
    # artifact_format.h: residuals[64] follows the compiler field.
    print(header[448:512].rstrip(b"\0").decode())
    sys.exit(0)

if sys.argv[1] == "--rows":
    import re
    weights, ir, base, baked, name = sys.argv[2:7]
    m = re.search(r"@%s : !gemma.weight<f32, \[(\d+), (\d+)\]> \{.*blob_offset = (\d+).*source_offset = (\d+)"
                  % re.escape(name), open(ir).read())
    rows, cols, blob, src = map(int, m.groups())
    row_bytes = cols * 4
    out = open(weights, "rb").read()[4096 + blob:4096 + blob + rows * row_bytes]
    b = open(base, "rb").read()[src:src + rows * row_bytes]
    w = open(baked, "rb").read()[src:src + rows * row_bytes]
    runs = []
    for r in range(rows):
        got = out[r * row_bytes:(r + 1) * row_bytes]
        kind = ("W'" if got == w[r * row_bytes:(r + 1) * row_bytes] else
                "base" if got == b[r * row_bytes:(r + 1) * row_bytes] else "other")
        if runs and runs[-1][0] == kind:
            runs[-1][2] = r + 1
        else:
            runs.append([kind, r, r + 1])
    print(" ".join("[%d, %d) %s" % (a, e, k) for k, a, e in runs))
    sys.exit(0)

path, where, mask = sys.argv[1], sys.argv[2], int(sys.argv[3], 0)
data = bytearray(open(path, "rb").read())
if where.startswith("srd4:"):
    block, _, extra = where[5:].partition("+")
    header = struct.unpack_from("<I", data, 8)[0]
    offset = 12 + header + int(block) * 104 + int(extra or 0)
elif where.startswith("u64@"):
    at, _, extra = where[4:].partition("+")
    offset = struct.unpack_from("<Q", data, int(at))[0] + int(extra or 0)
elif "+" in where and not where.isdigit():
    text, _, extra = where.rpartition("+")
    offset = data.index(text.encode()) + int(extra)
else:
    offset = int(where)
data[offset] ^= mask
open(path, "wb").write(data)
