//===- ProgramTable.cpp - one exported entry point per compiled model -----===//

#include "compiler/artifact/ProgramTable.h"
#include "abi/model_abi.h"
#include "abi/program_table.h"
#include "abi/version.h"

#include "llvm/IR/Constants.h"
#include "llvm/IR/DerivedTypes.h"
#include "llvm/IR/Function.h"
#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/IRBuilder.h"

#include <cctype>
#include <cstddef>

using namespace gemmac;
using llvm::Constant;

bool gemmac::isValidModelName(llvm::StringRef name) {
  if (name.empty() || name.size() > 64 ||
      !(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_'))
    return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_'))
      return false;
  return true;
}

namespace {

Constant *cString(llvm::Module &m, llvm::StringRef s, llvm::StringRef name) {
  auto *init = llvm::ConstantDataArray::getString(m.getContext(), s);
  auto *g = new llvm::GlobalVariable(m, init->getType(), /*isConstant=*/true,
                                     llvm::GlobalValue::PrivateLinkage, init,
                                     name);
  g->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
  return g;
}

/// The exported function returning the table.
void defineEntry(llvm::Module &m, llvm::GlobalVariable *table,
                 llvm::StringRef name) {
  auto *ptr = llvm::PointerType::getUnqual(m.getContext());
  auto *fn = llvm::Function::Create(llvm::FunctionType::get(ptr, false),
                                    llvm::GlobalValue::ExternalLinkage, name, m);
  fn->setVisibility(llvm::GlobalValue::DefaultVisibility);
  fn->setDSOLocal(false);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(m.getContext(), "", fn));
  b.CreateRet(table);
}

} // namespace

llvm::Error gemmac::addProgramTable(llvm::Module &m, const ProgramTableSpec &spec) {
  if (!spec.name.empty() && !isValidModelName(spec.name))
    return llvm::createStringError("invalid model name '" + spec.name + "'");
  llvm::LLVMContext &ctx = m.getContext();
  auto *ptr = llvm::PointerType::getUnqual(ctx);
  auto *i64 = llvm::Type::getInt64Ty(ctx);
  auto *i32 = llvm::Type::getInt32Ty(ctx);
  Constant *null = llvm::ConstantPointerNull::get(ptr);

  // What the lowering defined: CPU models the three functions, GPU models
  // the image; both the meta.
  llvm::GlobalVariable *meta = m.getGlobalVariable(abi::kModelMetaSymbol);
  if (!meta || meta->isDeclaration())
    return llvm::createStringError(std::string("the model defines no ") +
                                   abi::kModelMetaSymbol);
  auto definedFn = [&](const char *symbol) -> Constant * {
    llvm::Function *f = m.getFunction(symbol);
    return f && !f->isDeclaration() ? f : null;
  };
  Constant *forward = definedFn(abi::kForwardSymbol);
  Constant *draft = definedFn(abi::kDraftSymbol);
  Constant *kvBytes = definedFn(abi::kKVBytesSymbol);
  Constant *arenaBytes = definedFn(abi::kArenaBytesSymbol);
  Constant *gpuImage = null;
  int64_t gpuImageBytes = 0;
  if (llvm::GlobalVariable *image = m.getGlobalVariable(abi::kGpuProgramSymbol);
      image && !image->isDeclaration()) {
    gpuImage = image;
    auto *bytes = m.getGlobalVariable(abi::kGpuProgramBytesSymbol);
    auto *value = bytes && bytes->hasInitializer()
                      ? llvm::dyn_cast<llvm::ConstantInt>(bytes->getInitializer())
                      : nullptr;
    if (!value)
      return llvm::createStringError(std::string("the GPU model defines no ") +
                                     abi::kGpuProgramBytesSymbol);
    gpuImageBytes = value->getSExtValue();
  }
  if (gpuImage == null && (forward == null || kvBytes == null || arenaBytes == null))
    return llvm::createStringError(
        "the model defines neither its forward functions nor a GPU image");

  // Nothing the model defines is visible outside its object but the entry.
  for (llvm::Function &f : m)
    if (!f.isDeclaration())
      f.setLinkage(llvm::GlobalValue::InternalLinkage);
  for (llvm::GlobalVariable &g : m.globals())
    if (!g.isDeclaration())
      g.setLinkage(llvm::GlobalValue::InternalLinkage);

  Constant *embedded = null;
  if (!spec.embeddedWeightsSymbol.empty()) {
    auto *blob = new llvm::GlobalVariable(
        m, llvm::ArrayType::get(llvm::Type::getInt8Ty(ctx), 0), true,
        llvm::GlobalValue::ExternalLinkage, nullptr, spec.embeddedWeightsSymbol);
    blob->setVisibility(llvm::GlobalValue::HiddenVisibility);
    embedded = blob;
  }
  auto optionalString = [&](const std::string &s, llvm::StringRef name) {
    return s.empty() ? null : cString(m, s, name);
  };

  // The layout of gemmac_program (abi/program_table.h), field by field.
  llvm::Type *fields[] = {i64, i32, i32, ptr, ptr, ptr, ptr, ptr, ptr,
                          ptr, i64, i64, i64, ptr, ptr, ptr, ptr};
  auto *tableType = llvm::StructType::create(ctx, fields, "gemmac_program");
  static_assert(sizeof(gemmac_program) == 128 &&
                    offsetof(gemmac_program, draft) == 120,
                "the table's LLVM type follows abi/program_table.h");
  Constant *values[] = {
      llvm::ConstantInt::get(i64, GEMMAC_PROGRAM_MAGIC),
      llvm::ConstantInt::get(i32, GEMMAC_PROGRAM_ABI),
      llvm::ConstantInt::get(i32, sizeof(gemmac_program)),
      cString(m, abi::kGemmacVersion, "gemmac.compiler_version"),
      cString(m, spec.name, "gemmac.name"),
      meta,
      forward,
      kvBytes,
      arenaBytes,
      gpuImage,
      llvm::ConstantInt::get(i64, gpuImageBytes),
      llvm::ConstantInt::get(i64, spec.weightsChecksum),
      llvm::ConstantInt::get(i64, spec.weightsFileBytes),
      embedded,
      optionalString(spec.weightsName, "gemmac.weights_name"),
      optionalString(spec.weightsPath, "gemmac.weights_path"),
      draft};
  auto *table = new llvm::GlobalVariable(
      m, tableType, /*isConstant=*/true, llvm::GlobalValue::InternalLinkage,
      llvm::ConstantStruct::get(tableType, values), "gemmac.program");
  table->setAlignment(llvm::Align(8));

  if (spec.name.empty())
    defineEntry(m, table, abi::kBuiltinProgramSymbol);
  else
    defineEntry(m, table, spec.name + abi::kProgramSuffix);
  return llvm::Error::success();
}
