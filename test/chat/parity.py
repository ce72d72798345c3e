#!/usr/bin/python3
"""Renders templates with gemmac-jinja-render and python3-jinja2 and compares bytes.

  parity.py RENDER --corpus conversations.json TEMPLATE...
      every template x every conversation ({"id", "context"}) in the corpus
  parity.py RENDER --corpus conversations.json --ids ID,ID --allow-unsupported NAME,NAME TEMPLATE...
      only the listed conversations; templates named in --allow-unsupported
      may fail in ours where python3-jinja2 renders (a known unsupported
      construct; reported, not counted as a mismatch)
  parity.py RENDER --template-dir DIR
      DIR/*.jinja with DIR/NAME.json (or DIR/context.json) as the context;
      DIR/fail/*.jinja must fail in both, and our error must contain the
      text after "expect-error:" in the template's first line (with
      "expect-unsupported:" only ours must fail: jinja2 has the feature).

A case matches when both render the same bytes, or both fail. Mismatches
print the case and a diff; the exit status is 1 when any case mismatches.
"""
import difflib
import glob
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import render_jinja2  # noqa: E402
except ImportError as e:
    print("FAIL: %s lacks jinja2 (Debian: apt install python3-jinja2): %s" % (sys.executable, e))
    sys.exit(1)


def ours(render_bin, template_path, context):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump(context, f, ensure_ascii=False)
        ctx_path = f.name
    try:
        p = subprocess.run([render_bin, template_path, ctx_path], capture_output=True, timeout=60)
    finally:
        os.unlink(ctx_path)
    if p.returncode != 0:
        return False, p.stderr.decode("utf-8", "replace").strip()
    return True, p.stdout.decode("utf-8", "replace")


def compare(label, render_bin, template_path, context, allow_unsupported=False):
    with open(template_path, encoding="utf-8", newline="") as f:
        source = f.read()
    ref_ok, ref = render_jinja2.render(source, context)
    got_ok, got = ours(render_bin, template_path, context)
    if ref_ok and got_ok and ref == got:
        return True
    if not ref_ok and not got_ok:
        print("both fail (ok) %s:\n  python3-jinja2: %s\n  gemmac:         %s" % (label, ref, got))
        return True
    if allow_unsupported and ref_ok and not got_ok:
        print("known unsupported %s: %s" % (label, got))
        return True
    print("MISMATCH %s" % label)
    if ref_ok and got_ok:
        for line in difflib.unified_diff(ref.splitlines(True), got.splitlines(True),
                                         "python3-jinja2", "gemmac", n=2):
            sys.stdout.write(line if line.endswith("\n") else line + "\n")
    else:
        print("  python3-jinja2: %s" % (("ok: %r" % ref[:300]) if ref_ok else "error: " + ref))
        print("  gemmac:         %s" % (("ok: %r" % got[:300]) if got_ok else got))
    return False


def run_corpus(render_bin, corpus_path, templates, ids=None, allow=()):
    with open(corpus_path, encoding="utf-8") as f:
        corpus = json.load(f)
    if ids:
        corpus = [c for c in corpus if c["id"] in ids]
    total = bad = 0
    for template in templates:
        for case in corpus:
            total += 1
            label = "%s x %s" % (os.path.basename(template), case["id"])
            bad += not compare(label, render_bin, template, case["context"],
                               os.path.basename(template) in allow)
    print("%d/%d template x conversation renders match python3-jinja2" % (total - bad, total))
    return bad == 0


def run_dir(render_bin, directory):
    total = bad = 0
    default_ctx = os.path.join(directory, "context.json")
    for template in sorted(glob.glob(os.path.join(directory, "*.jinja"))):
        ctx_path = template[:-len(".jinja")] + ".json"
        with open(ctx_path if os.path.exists(ctx_path) else default_ctx, encoding="utf-8") as f:
            context = json.load(f)
        total += 1
        bad += not compare(os.path.basename(template), render_bin, template, context)
    with open(default_ctx, encoding="utf-8") as f:
        context = json.load(f)
    for template in sorted(glob.glob(os.path.join(directory, "fail", "*.jinja"))):
        total += 1
        name = "fail/" + os.path.basename(template)
        with open(template, encoding="utf-8", newline="") as f:
            source = f.read()
        first = source.split("\n", 1)[0]
        # expect-unsupported: a construct jinja2 has and we refuse clearly.
        unsupported = "expect-unsupported:" in first
        marker = "expect-unsupported:" if unsupported else "expect-error:"
        expected = first.split(marker, 1)[1].split("#}")[0].strip() if marker in first else ""
        ref_ok, ref = render_jinja2.render(source, context)
        got_ok, got = ours(render_bin, template, context)
        if (ref_ok and not unsupported) or got_ok or not expected or expected not in got:
            bad += 1
            print("MISMATCH %s: expected both to fail, ours with %r" % (name, expected))
            print("  python3-jinja2: %s" % (("ok: %r" % ref[:200]) if ref_ok else "error: " + ref))
            print("  gemmac:         %s" % (("ok: %r" % got[:200]) if got_ok else got))
    print("%d/%d templates match python3-jinja2" % (total - bad, total))
    return bad == 0


def main():
    args = sys.argv[1:]
    if len(args) >= 3 and args[1] == "--corpus":
        rest, ids, allow = args[3:], None, ()
        while rest and rest[0] in ("--ids", "--allow-unsupported"):
            if rest[0] == "--ids":
                ids = set(rest[1].split(","))
            else:
                allow = set(rest[1].split(","))
            rest = rest[2:]
        return 0 if run_corpus(args[0], args[2], rest, ids, allow) else 1
    if len(args) == 3 and args[1] == "--template-dir":
        return 0 if run_dir(args[0], args[2]) else 1
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
