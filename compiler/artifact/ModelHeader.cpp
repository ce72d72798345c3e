//===- ModelHeader.cpp - NAME.h of a model library ------------------------===//

#include "compiler/artifact/ModelHeader.h"
#include "abi/version.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/raw_ostream.h"

using namespace gemmac;

llvm::Error gemmac::writeModelHeader(llvm::StringRef path,
                                     const ModelHeaderFacts &f) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (ec)
    return llvm::createStringError(path + ": " + ec.message());
  const std::string guard = "GEMMAC_MODEL_" + llvm::StringRef(f.name).upper() + "_H";
  // A checkpoint name is the user's: it goes into a comment, so "*/" in it
  // must not end the comment.
  std::string source = f.source;
  for (size_t at; (at = source.find("*/")) != std::string::npos;)
    source.replace(at, 2, "* /");
  os << "/* " << f.name << ".h - a Gemma 4 model compiled by gemmac "
     << abi::kGemmacVersion << " (compile-model --emit lib)\n"
     << " * from " << source << " for " << f.target << ".\n"
     << " *\n"
     << " *   gemmac_model *m = gemmac_model_open_program(" << f.name
     << "_program(), NULL, NULL);\n"
     << " *\n"
     << (f.embeddedWeights
             ? " * The weights are embedded in the library.\n"
             : " * The weights are read from " + f.weightsName +
                   ", beside the shared library or the program\n"
                   " * the static library is linked into (or pass its path).\n")
     << " * Link with libgemmac_runtime (pkg-config gemmac, or CMake gemmac::runtime).\n"
     << " */\n"
     << "#ifndef " << guard << "\n#define " << guard << "\n\n"
     << "#include <gemmac.h>\n\n"
     << "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
     << "/* The model's program table, for gemmac_model_open_program. */\n"
     << "GEMMAC_API const gemmac_program *" << f.name << "_program(void);\n\n"
     << "#define " << llvm::StringRef(f.name).upper() << "_GEMMAC_VERSION \""
     << abi::kGemmacVersion << "\"\n"
     << "#define " << llvm::StringRef(f.name).upper() << "_WEIGHTS_FILE \""
     << (f.embeddedWeights ? "" : f.weightsName) << "\"\n\n"
     << "#ifdef __cplusplus\n}\n#endif\n\n#endif /* " << guard << " */\n";
  os.close();
  if (os.has_error())
    return llvm::createStringError(path + ": " + os.error().message());
  return llvm::Error::success();
}
