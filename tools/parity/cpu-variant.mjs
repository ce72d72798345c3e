// Which of node-llama-cpp's CPU builds a parity case runs, and whether this
// CPU can run it: the /proc/cpuinfo flags each llama.cpp CPU build needs
// beyond AVX2 (ggml/src/CMakeLists.txt, GGML_CPU_ALL_VARIANTS).
import fs from "node:fs";
import path from "node:path";

export const variantFlags = {
    haswell: [],
    zen4: ["avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw", "avx512vbmi",
           "avx512_vnni", "avx512_bf16"],
};

/// The bins directory of a node-llama-cpp install (llamaDir: the folder
/// holding its node_modules; default the repository's).
export const binsOf = (llamaDir) =>
    path.join(llamaDir ?? ".", "node_modules/@node-llama-cpp/linux-x64/bins/linux-x64");

/// Exits 77 (CTest's skip) when this CPU lacks the build's features, 2 for an
/// unknown build, 1 when llamaDir's install lacks its library.
export function requireCpuVariant(tool, variant, llamaDir) {
    if (!variantFlags[variant]) {
        console.error(`${tool}: --cpu-variant ${variant}: one of ${Object.keys(variantFlags).join(", ")}`);
        process.exit(2);
    }
    const flags = new Set((fs.readFileSync("/proc/cpuinfo", "utf8").match(/^flags\s*:(.*)$/m)?.[1] ?? "")
        .trim().split(/\s+/));
    const missing = variantFlags[variant].filter((f) => !flags.has(f));
    if (missing.length) {
        console.log(`SKIP: llama.cpp's ${variant} build needs ${missing.join(", ")}, which this CPU lacks`);
        process.exit(77);
    }
    const lib = path.join(binsOf(llamaDir), `libggml-cpu-${variant}.so`);
    if (llamaDir && !fs.existsSync(lib)) {
        console.error(`${tool}: ${lib} is missing (tools/setup-debian.sh installs it)`);
        process.exit(1);
    }
}
