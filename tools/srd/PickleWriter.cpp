//===- PickleWriter.cpp - emits protocol-2 pickle opcodes -----------------===//

#include "tools/srd/PickleWriter.h"

#include <cstring>

using namespace gemmac::srd;

PickleWriter::PickleWriter() { out_ = {0x80, 2}; }

void PickleWriter::none() { out_.push_back('N'); }

void PickleWriter::boolean(bool b) { out_.push_back(b ? 0x88 : 0x89); }

void PickleWriter::integer(int64_t v) {
  if (v >= 0 && v < 256) {
    out_.push_back('K');
    out_.push_back(static_cast<uint8_t>(v));
  } else if (v >= 0 && v < 65536) {
    out_.push_back('M');
    out_.push_back(static_cast<uint8_t>(v));
    out_.push_back(static_cast<uint8_t>(v >> 8));
  } else if (v >= INT32_MIN && v <= INT32_MAX) {
    out_.push_back('J');
    for (int i = 0; i < 4; ++i)
      out_.push_back(static_cast<uint8_t>(uint32_t(v) >> (8 * i)));
  } else {
    out_.push_back(0x8a); // LONG1, 8 bytes two's complement
    out_.push_back(8);
    for (int i = 0; i < 8; ++i)
      out_.push_back(static_cast<uint8_t>(uint64_t(v) >> (8 * i)));
  }
}

void PickleWriter::number(double v) {
  uint64_t u;
  std::memcpy(&u, &v, 8);
  out_.push_back('G');
  for (int i = 7; i >= 0; --i)
    out_.push_back(static_cast<uint8_t>(u >> (8 * i)));
}

void PickleWriter::string(llvm::StringRef s) {
  out_.push_back('X');
  uint32_t n = static_cast<uint32_t>(s.size());
  for (int i = 0; i < 4; ++i)
    out_.push_back(static_cast<uint8_t>(n >> (8 * i)));
  out_.insert(out_.end(), s.begin(), s.end());
}

void PickleWriter::mark() { out_.push_back('('); }
void PickleWriter::emptyTuple() { out_.push_back(')'); }

void PickleWriter::tuple(size_t n) {
  if (n >= 1 && n <= 3)
    out_.push_back(static_cast<uint8_t>(0x84 + n));
  else
    out_.push_back('t');
}

void PickleWriter::emptyDict() { out_.push_back('}'); }
void PickleWriter::setItems() { out_.push_back('u'); }

void PickleWriter::global(llvm::StringRef module, llvm::StringRef name) {
  out_.push_back('c');
  out_.insert(out_.end(), module.begin(), module.end());
  out_.push_back('\n');
  out_.insert(out_.end(), name.begin(), name.end());
  out_.push_back('\n');
}

void PickleWriter::reduce() { out_.push_back('R'); }
void PickleWriter::binPersId() { out_.push_back('Q'); }
void PickleWriter::opcode(uint8_t op) { out_.push_back(op); }

std::vector<uint8_t> PickleWriter::finish() {
  out_.push_back('.');
  return out_;
}
