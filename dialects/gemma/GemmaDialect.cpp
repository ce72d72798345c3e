//===- GemmaDialect.cpp - dialect registration, types, attributes ---------===//

#include "dialects/gemma/GemmaDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

using namespace mlir;
using namespace gemmac::gemma;

#include "dialects/gemma/GemmaDialect.cpp.inc"
#include "dialects/gemma/GemmaEnums.cpp.inc"

#define GET_TYPEDEF_CLASSES
#include "dialects/gemma/GemmaTypes.cpp.inc"

// `sliding` or `global` for a layer's kind.
static ParseResult parseLayerKind(AsmParser &parser, bool &sliding) {
  StringRef kind;
  if (parser.parseKeyword(&kind))
    return failure();
  if (kind != "sliding" && kind != "global")
    return parser.emitError(parser.getCurrentLocation(),
                            "expected 'sliding' or 'global'");
  sliding = kind == "sliding";
  return success();
}
static void printLayerKind(AsmPrinter &printer, bool sliding) {
  printer << (sliding ? "sliding" : "global");
}

#define GET_ATTRDEF_CLASSES
#include "dialects/gemma/GemmaAttrs.cpp.inc"

void GemmaDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/gemma/GemmaOps.cpp.inc"
      >();
  addTypes<
#define GET_TYPEDEF_LIST
#include "dialects/gemma/GemmaTypes.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/gemma/GemmaAttrs.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// WeightType
//===----------------------------------------------------------------------===//

LogicalResult WeightType::verify(function_ref<InFlightDiagnostic()> emitError,
                                 WeightFormat format, ArrayRef<int64_t> shape) {
  if (shape.empty() || shape.size() > 3)
    return emitError() << "weight must be 1-D, 2-D or 3-D (experts), got rank "
                       << shape.size();
  for (int64_t d : shape)
    if (d <= 0)
      return emitError() << "weight dimensions must be positive";
  int64_t block = formatBlockElems(format);
  if (shape.back() % block != 0)
    return emitError() << "weight row of " << shape.back()
                       << " elements is not a whole number of "
                       << stringifyWeightFormat(format) << " blocks of "
                       << block;
  return success();
}

int64_t WeightType::getNumElements() const {
  int64_t n = 1;
  for (int64_t d : getShape())
    n *= d;
  return n;
}

int64_t WeightType::getStorageBytes() const {
  return getNumElements() / formatBlockElems(getFormat()) *
         formatBlockBytes(getFormat());
}

//===----------------------------------------------------------------------===//
// RopeAttr: #gemma.rope<theta = 1.0e+04, rotated_pairs = 128, freq_dim = 256>
//===----------------------------------------------------------------------===//

Attribute RopeAttr::parse(AsmParser &parser, Type) {
  double theta = 0;
  int64_t pairs = 0, freqDim = 0;
  if (parser.parseLess() || parser.parseKeyword("theta") ||
      parser.parseEqual() || parser.parseFloat(theta) || parser.parseComma() ||
      parser.parseKeyword("rotated_pairs") || parser.parseEqual() ||
      parser.parseInteger(pairs) || parser.parseComma() ||
      parser.parseKeyword("freq_dim") || parser.parseEqual() ||
      parser.parseInteger(freqDim) || parser.parseGreater())
    return {};
  if (theta <= 0 || pairs < 0 || freqDim <= 0 || freqDim % 2 != 0 ||
      2 * pairs > freqDim) {
    parser.emitError(parser.getNameLoc(),
                     "rope needs theta > 0, an even freq_dim > 0 and "
                     "0 <= rotated_pairs <= freq_dim / 2");
    return {};
  }
  return RopeAttr::get(parser.getContext(), llvm::APFloat(theta), pairs,
                      freqDim);
}

void RopeAttr::print(AsmPrinter &printer) const {
  printer << "<theta = ";
  printer.printFloat(getTheta());
  printer << ", rotated_pairs = " << getRotatedPairs()
          << ", freq_dim = " << getFreqDim() << ">";
}

mlir::func::FuncOp gemmac::gemma::lookupEntry(mlir::ModuleOp module) {
  for (auto fn : module.getOps<mlir::func::FuncOp>())
    if (fn->hasAttr(attr::kEntry))
      return fn;
  return {};
}

mlir::func::FuncOp gemmac::gemma::lookupDraft(mlir::ModuleOp module) {
  for (auto fn : module.getOps<mlir::func::FuncOp>())
    if (fn->hasAttr(attr::kDraft))
      return fn;
  return {};
}

//===----------------------------------------------------------------------===//
// Discardable attributes
//===----------------------------------------------------------------------===//

GemmaDialect *gemmac::gemma::gemmaDialect(MLIRContext *context) {
  return context->getOrLoadDialect<GemmaDialect>();
}

Type gemmac::gemma::kvCacheType(ModuleOp module) {
  auto helper = gemmaDialect(module.getContext())->getKvCacheTypeAttrHelper();
  if (TypeAttr t = helper.getAttr(module))
    return t.getValue();
  return Float16Type::get(module.getContext());
}

std::pair<float, float> gemmac::gemma::kvScales(ModuleOp module,
                                                int64_t owner) {
  auto helper = gemmaDialect(module.getContext())->getKvScalesAttrHelper();
  DenseF32ArrayAttr scales = helper.getAttr(module);
  if (!scales || owner < 0 || 2 * owner + 1 >= scales.size())
    return {1.0f, 1.0f};
  return {scales[2 * owner], scales[2 * owner + 1]};
}

int64_t gemmac::gemma::draftMax(ModuleOp module) {
  IntegerAttr n =
      gemmaDialect(module.getContext())->getDraftMaxAttrHelper().getAttr(module);
  return n ? n.getInt() : 0;
}

LogicalResult GemmaDialect::verifyOperationAttribute(Operation *op,
                                                     NamedAttribute attr) {
  StringAttr name = attr.getName();
  if (name == getKvCacheTypeAttrHelper().getName()) {
    auto type = dyn_cast<TypeAttr>(attr.getValue());
    if (!type || !(type.getValue().isF16() || type.getValue().isF32() ||
                   isa<Float8E4M3FNType>(type.getValue())))
      return op->emitOpError()
             << "'" << name.getValue() << "' must be f16, f32 or f8E4M3FN, got "
             << attr.getValue();
    return success();
  }
  if (name == getKvScalesAttrHelper().getName()) {
    auto scales = dyn_cast<DenseF32ArrayAttr>(attr.getValue());
    if (!scales || scales.size() % 2 != 0)
      return op->emitOpError()
             << "'" << name.getValue()
             << "' must be an array of f32 pairs (k, v per layer), got "
             << attr.getValue();
    if (IntegerAttr layers = getNumLayersAttrHelper().getAttr(op))
      if (scales.size() != 2 * layers.getInt())
        return op->emitOpError()
               << "'" << name.getValue() << "' has " << scales.size()
               << " values, the module's " << layers.getInt()
               << " layers need " << 2 * layers.getInt();
    for (int64_t i = 0; i < scales.size(); ++i)
      if (!std::isfinite(scales[i]) || !(scales[i] > 0))
        return op->emitOpError()
               << "'" << name.getValue() << "'[" << i << "] = " << scales[i]
               << " is not a finite positive scale";
    return success();
  }
  if (name == getDraftMaxAttrHelper().getName()) {
    auto n = dyn_cast<IntegerAttr>(attr.getValue());
    if (!n || n.getInt() < 0 || n.getInt() > kMaxDraftTokens)
      return op->emitOpError()
             << "'" << name.getValue() << "' must be an integer in [0, "
             << kMaxDraftTokens << "], got " << attr.getValue();
    return success();
  }
  // The others need the kind of attribute their declaration names.
  auto expect = [&](bool ok, StringRef kind) -> LogicalResult {
    if (ok)
      return success();
    return op->emitOpError() << "'" << name.getValue() << "' must be "
                             << kind << ", got " << attr.getValue();
  };
  Attribute value = attr.getValue();
  if (name == getTargetAttrHelper().getName() ||
      name == getTargetFeaturesAttrHelper().getName() ||
      name == getSourceAttrHelper().getName() ||
      name == getDraftSourceAttrHelper().getName())
    return expect(isa<StringAttr>(value), "a string");
  if (name == getVocabSizeAttrHelper().getName() ||
      name == getHiddenSizeAttrHelper().getName() ||
      name == getNumLayersAttrHelper().getName() ||
      name == getContextLengthAttrHelper().getName() ||
      name == getWeightsBytesAttrHelper().getName() ||
      name == getWeightsFingerprintAttrHelper().getName() ||
      name == getCpuFeaturesAttrHelper().getName())
    return expect(isa<IntegerAttr>(value), "an integer");
  if (name == getLayersAttrHelper().getName() ||
      name == getKvPlanAttrHelper().getName())
    return expect(isa<ArrayAttr>(value), "an array");
  if (name == getKernelsAtStartupAttrHelper().getName())
    return expect(isa<UnitAttr>(value) && isa<ModuleOp>(op),
                  "a unit attribute on the module");
  if (name == getEntryAttrHelper().getName() ||
      name == getDraftAttrHelper().getName())
    return expect(isa<UnitAttr>(value) && isa<func::FuncOp>(op),
                  "a unit attribute on a function");
  if (name == getLayerAttrHelper().getName()) {
    auto layer = dyn_cast<IntegerAttr>(value);
    return expect(layer && layer.getType().isInteger(64) && layer.getInt() >= 0,
                  "a layer index (i64 >= 0)");
  }
  if (name == getKernelAttrHelper().getName()) {
    auto symbol = dyn_cast<FlatSymbolRefAttr>(value);
    if (failed(expect(bool(symbol), "a kernel symbol")))
      return failure();
    // The declaration carries the kernel's signature.
    auto fn = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(op, symbol);
    if (!fn || !fn.isDeclaration())
      return op->emitOpError()
             << "'" << name.getValue() << "' names " << symbol
             << ", which is not a kernel declaration (func.func) in the module";
    return success();
  }
  return success();
}
