//===- Toolchain.cpp - from the model's object to programs and libraries --===//

#include "compiler/artifact/Toolchain.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Object/Archive.h"
#include "llvm/Object/ArchiveWriter.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/Triple.h"

#include <optional>
#include <vector>

using namespace gemmac;
using llvm::Error;

namespace {

/// The C++ driver, found at run time: $GEMMAC_CXX when set (and then only
/// it), else the first of clang++-22, clang++, c++ and g++ on PATH; for
/// another architecture (`triple`), clang++-22 or clang++, which link for
/// any target given --target. The error names everything that was tried.
llvm::Expected<std::string> findDriver(llvm::StringRef triple) {
  if (const char *env = std::getenv("GEMMAC_CXX")) {
    // findProgramByName returns a name with a slash as it is.
    auto program = llvm::sys::findProgramByName(env);
    if (program && llvm::sys::fs::can_execute(*program))
      return *program;
    return llvm::createStringError(
        "cannot find the C++ driver to link with: tried GEMMAC_CXX=" +
        std::string(env) + " (set GEMMAC_CXX to a C++ compiler driver)");
  }
  std::vector<std::string> drivers = {"clang++-22", "clang++"};
  if (triple.empty())
    drivers.insert(drivers.end(), {"c++", "g++"});
  std::string tried;
  for (size_t i = 0; i < drivers.size(); ++i) {
    if (auto program = llvm::sys::findProgramByName(drivers[i]))
      return *program;
    tried += (i == 0                    ? ""
              : i + 1 == drivers.size() ? " and "
                                        : ", ") +
             drivers[i];
  }
  return llvm::createStringError(
      "cannot find a C++ driver to link " +
      (triple.empty() ? std::string("with") : "for " + triple.str()) +
      ": tried " + tried + " on PATH (install one, or set GEMMAC_CXX)");
}

Error needFile(const std::string &path, llvm::StringRef what,
               llvm::StringRef triple) {
  if (llvm::sys::fs::exists(path))
    return Error::success();
  return llvm::createStringError(
      what + " " + path +
      " not found (give the directory holding gemmac's runtime libraries with "
      "--runtime-dir DIR or GEMMAC_RUNTIME_DIR; compile-model looks in ../lib "
      "beside itself" +
      (triple.empty() ? std::string()
                      : "; the build makes the " + triple.str() +
                            " runtime when clang-22, g++-aarch64-linux-gnu "
                            "and libsimde-dev are installed") +
      ")");
}

/// Runs the driver with `args` (after its name). Its own output is kept
/// aside and quoted (a few lines) only when it fails, after `what`.
/// For another architecture (`triple`), the driver gets --target=TRIPLE
/// first.
Error runDriver(llvm::ArrayRef<std::string> args, llvm::StringRef what,
                llvm::StringRef outputPath, llvm::StringRef triple = "") {
  auto driver = findDriver(triple);
  if (!driver)
    return driver.takeError();
  const std::string targetFlag = "--target=" + triple.str();
  llvm::SmallVector<llvm::StringRef> argv = {*driver};
  if (!triple.empty())
    argv.push_back(targetFlag);
  for (const std::string &a : args)
    argv.push_back(a);
  std::string log = (outputPath + ".log").str();
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, llvm::StringRef(log),
                                                llvm::StringRef(log)};
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(*driver, argv, std::nullopt, redirects, 0,
                                     0, &message);
  std::string output;
  if (auto buffer = llvm::MemoryBuffer::getFile(log)) {
    llvm::SmallVector<llvm::StringRef> lines;
    (*buffer)->getBuffer().split(lines, '\n', 12, false);
    for (size_t i = 0; i < lines.size() && i < 12; ++i)
      output += "\n  " + lines[i].take_front(300).str();
  }
  llvm::sys::fs::remove(log);
  if (rc == 0)
    return Error::success();
  return llvm::createStringError(
      "cannot " + what + " " + outputPath + ": " + *driver +
      (rc < 0 ? " could not run (" + message + ")"
              : " exited with " + std::to_string(rc)) +
      " (set GEMMAC_CXX to another C++ driver, or check that this one "
      "links C++ programs)" +
      (output.empty() ? "" : "; it said:" + output));
}

std::string absoluteDir(const RuntimeDir &runtime) {
  llvm::SmallString<256> dir(runtime.libraries());
  llvm::sys::fs::make_absolute(dir);
  llvm::sys::path::remove_dots(dir, /*remove_dot_dot=*/true);
  return dir.str().str();
}

} // namespace

std::string RuntimeDir::libraries() const {
  if (triple.empty())
    return path;
  return path + "/" + llvm::Triple(triple).getArchName().str() + "-linux-gnu";
}

Error gemmac::linkProgram(llvm::ArrayRef<std::string> objects,
                          const RuntimeDir &runtime, llvm::StringRef outputPath) {
  for (auto [path, what] : {std::pair{runtime.runtimeArchive(), "runtime library"},
                            std::pair{runtime.cliArchive(), "runtime CLI library"}})
    if (Error e = needFile(path, what, runtime.triple))
      return e;
  // The program holds and exports the whole C API, which `serve`'s
  // libgemmac_serve.so (opened at run time, like the GPU drivers) calls; the
  // library is found beside the program, then in the runtime directory.
  std::vector<std::string> args = {"-o", outputPath.str()};
  args.insert(args.end(), objects.begin(), objects.end());
  for (std::string a :
       {std::string("-Wl,--whole-archive"), runtime.cliArchive(),
        runtime.runtimeArchive(), std::string("-Wl,--no-whole-archive"),
        std::string("-Wl,--export-dynamic-symbol=gemmac_*"),
        "-Wl,-rpath,$ORIGIN:" + absoluteDir(runtime), std::string("-static-libstdc++"),
        std::string("-static-libgcc"), std::string("-pthread"), std::string("-lm"),
        std::string("-ldl")})
    args.push_back(a);
#ifdef GEMMAC_PROGRAM_SANITIZE
  // A sanitizer build's runtime archive is instrumented: so is the program.
  args.push_back("-fsanitize=address,undefined");
#endif
  return runDriver(args, "link the program", outputPath, runtime.triple);
}

Error gemmac::linkSharedLibrary(llvm::ArrayRef<std::string> objects,
                                llvm::StringRef name, const RuntimeDir &runtime,
                                llvm::StringRef outputPath) {
  if (Error e =
          needFile(runtime.runtimeShared(), "runtime library", runtime.triple))
    return e;
  const std::string dir = absoluteDir(runtime);
  std::vector<std::string> args = {"-shared", "-o", outputPath.str(),
                                   "-Wl,-soname,lib" + name.str() + ".so"};
  args.insert(args.end(), objects.begin(), objects.end());
  for (std::string a :
       {"-L" + dir, std::string("-lgemmac_runtime"),
        "-Wl,-rpath,$ORIGIN:" + dir, std::string("-lm"),
        std::string("-Wl,--as-needed")})
    args.push_back(a);
#ifndef GEMMAC_PROGRAM_SANITIZE
  // Every symbol the model calls must be in the runtime (an instrumented
  // model leaves the sanitizers' to the application).
  args.push_back("-Wl,--no-undefined");
#endif
  return runDriver(args, "link the shared library", outputPath, runtime.triple);
}

Error gemmac::writeStaticLibrary(llvm::ArrayRef<std::string> objects,
                                 llvm::ArrayRef<std::string> memberNames,
                                 llvm::StringRef outputPath) {
  std::vector<llvm::NewArchiveMember> members;
  for (size_t i = 0; i < objects.size(); ++i) {
    auto member = llvm::NewArchiveMember::getFile(objects[i], /*Deterministic=*/true);
    if (!member)
      return llvm::createStringError(objects[i] + ": " +
                                     llvm::toString(member.takeError()));
    member->MemberName = memberNames[i];
    members.push_back(std::move(*member));
  }
  if (Error e = llvm::writeArchive(outputPath, members,
                                   llvm::SymtabWritingMode::NormalSymtab,
                                   llvm::object::Archive::K_GNU,
                                   /*Deterministic=*/true, /*Thin=*/false))
    return llvm::createStringError("cannot write " + outputPath + ": " +
                                   llvm::toString(std::move(e)));
  return Error::success();
}

Error gemmac::assembleWeights(llvm::StringRef weightsPath,
                              llvm::StringRef symbol,
                              llvm::StringRef objectPath,
                              llvm::StringRef triple) {
  llvm::SmallString<256> absolute(weightsPath);
  llvm::sys::fs::make_absolute(absolute);
  std::string quoted;
  for (char c : absolute) {
    if (c == '"' || c == '\\')
      quoted += '\\';
    quoted += c;
  }
  std::string source = (objectPath + ".s").str();
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(source, ec);
    if (ec)
      return llvm::createStringError(source + ": " + ec.message());
    // "l": SHF_X86_64_LARGE, placed after the program's other data (x86
    // only; AArch64's code reaches 4 GiB either way).
    const bool x86 =
        triple.empty()
            ? llvm::Triple(llvm::sys::getDefaultTargetTriple()).isX86()
            : llvm::Triple(triple).isX86();
    os << "  .section .lrodata.gemmac_weights,\"" << (x86 ? "al" : "a")
       << "\",@progbits\n"
       << "  .p2align 12\n"
       << "  .globl " << symbol << "\n"
       << "  .hidden " << symbol << "\n"
       << symbol << ":\n"
       << "  .incbin \"" << quoted << "\"\n"
       << "  .size " << symbol << ", . - " << symbol << "\n"
       << "  .section .note.GNU-stack,\"\",@progbits\n";
  }
  Error e = runDriver({"-c", "-x", "assembler", source, "-o", objectPath.str()},
                      "assemble the embedded weights into", objectPath, triple);
  llvm::sys::fs::remove(source);
  return e;
}
