# lit configuration for gemmac: IR tests (gemmac-opt), importer and driver
# tests (compile-model), all checked with FileCheck.
import os
import lit.formats

config.name = "gemmac"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.gemmac_obj_root, "test")
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py.in", "unit", "parity"]

config.environment["PATH"] = os.pathsep.join(
    [config.gemmac_tools_dir, config.llvm_tools_dir, config.environment.get("PATH", os.environ["PATH"])])
for name in ["HOME", "TMPDIR"]:
    if name in os.environ:
        config.environment[name] = os.environ[name]
# The master key the SRD test data is signed with (gemmac-gen-model --srd,
# gemmac-srd-gen); compile-model reads it from the environment.
# Malformed copies of a Hugging Face checkpoint (tools/hf-mutate.py).
config.substitutions.append(("%hf-mutate", "/usr/bin/python3 " + os.path.join(
    os.path.dirname(config.test_source_root), "tools", "hf-mutate.py")))
config.substitutions.append(("%srdkey", "env AXIOM_MASTER_KEY=gemmac-test-master-key"))
# The sanitizer build (GEMMAC_SANITIZE): tests that need an uninstrumented
# toolchain say `UNSUPPORTED: sanitize`.
if config.gemmac_sanitize in ("ON", "1", "TRUE", "YES"):
    config.available_features.add("sanitize")
