//===- Unpickler.cpp - a restricted unpickler for PyTorch checkpoints -----===//

#include "formats/srd/Unpickler.h"
#include "formats/srd/PickleMachine.h"

#include <cstring>

using namespace gemmac::srd;
using namespace gemmac::srd::pickle;

const char *PickleValue::kindName() const {
  switch (kind) {
  case Kind::None:
    return "None";
  case Kind::Bool:
    return "bool";
  case Kind::Int:
    return "int";
  case Kind::Float:
    return "float";
  case Kind::String:
    return "str";
  case Kind::Bytes:
    return "bytes";
  case Kind::Tuple:
    return "tuple";
  case Kind::List:
    return "list";
  case Kind::Dict:
    return "dict";
  case Kind::Global:
    return "global";
  case Kind::StorageRef:
    return "storage";
  case Kind::Tensor:
    return "tensor";
  }
  return "?";
}

const PickleValue *PickleValue::get(StringRef key) const {
  for (auto &[k, v] : entries)
    if (k->kind == Kind::String && k->text == key)
      return v.get();
  return nullptr;
}

const char *pickle::refusedOpcodeName(uint8_t op) {
  switch (op) {
  case 'i':
    return "INST";
  case 'o':
    return "OBJ";
  case 0x81:
    return "NEWOBJ";
  case 0x92:
    return "NEWOBJ_EX";
  case 0x82:
  case 0x83:
  case 0x84:
    return "EXT";
  case 'P':
    return "PERSID";
  case 'I':
    return "INT";
  case 'L':
    return "LONG";
  case 'F':
    return "FLOAT";
  case 'S':
    return "STRING";
  case 'V':
    return "UNICODE";
  case 'g':
    return "GET";
  case 'p':
    return "PUT";
  case 0x8f:
    return "EMPTY_SET";
  case 0x90:
    return "ADDITEMS";
  case 0x91:
    return "FROZENSET";
  case 0x96:
    return "BYTEARRAY8";
  case 0x97:
    return "NEXT_BUFFER";
  case 0x98:
    return "READONLY_BUFFER";
  default:
    return nullptr;
  }
}

bool pickle::isStorageType(StringRef name) {
  static const char *types[] = {
      "FloatStorage", "HalfStorage", "BFloat16Storage", "DoubleStorage",
      "ByteStorage",  "CharStorage", "ShortStorage",    "IntStorage",
      "LongStorage",  "BoolStorage"};
  for (const char *t : types)
    if (name == t)
      return true;
  return false;
}

Error Machine::step(uint8_t op) {
  for (auto family :
       {&Machine::scalarOp, &Machine::stringOp, &Machine::containerOp,
        &Machine::memoOp, &Machine::callOp})
    if (std::optional<Error> done = (this->*family)(op))
      return std::move(*done);
  if (const char *n = refusedOpcodeName(op))
    return error(llvm::Twine("refused opcode ") + n +
                 llvm::formatv(" (0x{0:x-2})", unsigned(op)).str() +
                 ": not needed by a dict of tensors");
  return error(
      llvm::formatv("unknown or refused opcode 0x{0:x-2}", unsigned(op)).str());
}

Expected<PickleRef> Machine::run() {
  while (true) {
    if (pos >= d.size())
      return fileError(name, pos, "truncated pickle: no STOP opcode");
    opAt = pos;
    uint8_t op = d[pos++];
    if (op == '.') {
      if (stack.size() != 1 || !marks.empty())
        return error("STOP with " + llvm::Twine(stack.size()) +
                     " values on the stack (expected one)");
      return stack.back();
    }
    if (Error e = step(op))
      return std::move(e);
  }
}

Expected<PickleRef> gemmac::srd::unpickle(llvm::ArrayRef<uint8_t> data,
                                          StringRef name) {
  return Machine(data, name).run();
}
