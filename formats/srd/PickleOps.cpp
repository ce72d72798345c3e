//===- PickleOps.cpp - the opcodes the restricted unpickler runs ----------===//
//
// Each family of opcodes is one function; one returns nullopt for an opcode
// outside its family, and Machine::step refuses what no family takes.
//
//===----------------------------------------------------------------------===//

#include "formats/srd/PickleMachine.h"

#include <cstring>

using namespace gemmac::srd;
using namespace gemmac::srd::pickle;

/// Protocol, framing, stack and scalar opcodes.
std::optional<Error> Machine::scalarOp(uint8_t op) {
  using K = PickleValue::Kind;
  switch (op) {
  case 0x80: { // PROTO
    auto v = readLE<uint8_t>("PROTO");
    if (!v)
      return v.takeError();
    if (*v < 2 || *v > 5)
      return error("pickle protocol " + llvm::Twine(unsigned(*v)) +
                   " is not supported (2 to 5)");
    return Error::success();
  }
  case 0x95: { // FRAME: a length hint only
    auto v = readLE<uint64_t>("FRAME");
    return v ? Error::success() : v.takeError();
  }
  case '(':
    marks.push_back(stack.size());
    return Error::success();
  case '0': {
    auto v = pop();
    return v ? Error::success() : v.takeError();
  }
  case '1': {
    auto v = popToMark();
    return v ? Error::success() : v.takeError();
  }
  case '2': {
    auto t = top("DUP");
    if (!t)
      return t.takeError();
    stack.push_back(stack.back());
    return Error::success();
  }
  case 'N':
    stack.push_back(make(K::None));
    return Error::success();
  case 0x88:
  case 0x89: {
    auto v = make(K::Bool);
    v->boolean = op == 0x88;
    stack.push_back(v);
    return Error::success();
  }
  case 'J': {
    auto v = readLE<int32_t>("BININT");
    if (!v)
      return v.takeError();
    stack.push_back(makeInt(*v));
    return Error::success();
  }
  case 'K': {
    auto v = readLE<uint8_t>("BININT1");
    if (!v)
      return v.takeError();
    stack.push_back(makeInt(*v));
    return Error::success();
  }
  case 'M': {
    auto v = readLE<uint16_t>("BININT2");
    if (!v)
      return v.takeError();
    stack.push_back(makeInt(*v));
    return Error::success();
  }
  case 0x8a: { // LONG1: little-endian two's complement
    auto n = readLE<uint8_t>("LONG1");
    if (!n)
      return n.takeError();
    if (*n > 8)
      return error("LONG1 of " + llvm::Twine(unsigned(*n)) +
                   " bytes does not fit in 64 bits");
    auto p = take(*n, "LONG1");
    if (!p)
      return p.takeError();
    uint64_t u = 0;
    for (unsigned i = 0; i < *n; ++i)
      u |= uint64_t((*p)[i]) << (8 * i);
    if (*n && *n < 8 && ((*p)[*n - 1] & 0x80))
      u |= ~uint64_t(0) << (8 * *n); // sign-extend
    stack.push_back(makeInt(static_cast<int64_t>(u)));
    return Error::success();
  }
  case 'G': { // BINFLOAT, big-endian
    auto p = take(8, "BINFLOAT");
    if (!p)
      return p.takeError();
    uint64_t u = 0;
    for (int i = 0; i < 8; ++i)
      u = (u << 8) | (*p)[i];
    auto v = make(K::Float);
    std::memcpy(&v->number, &u, 8);
    stack.push_back(v);
    return Error::success();
  }
  default:
    return std::nullopt;
  }
}

/// String and bytes opcodes.
std::optional<Error> Machine::stringOp(uint8_t op) {
  using K = PickleValue::Kind;
  switch (op) {
  case 'X':
  case 0x8c:
  case 0x8d:
  case 'U':
  case 'T':
  case 'C':
  case 'B':
  case 0x8e: {
    uint64_t len;
    if (op == 0x8c || op == 'U' || op == 'C') {
      auto n = readLE<uint8_t>("string length");
      if (!n)
        return n.takeError();
      len = *n;
    } else if (op == 0x8d || op == 0x8e) {
      auto n = readLE<uint64_t>("string length");
      if (!n)
        return n.takeError();
      len = *n;
    } else {
      auto n = readLE<uint32_t>("string length");
      if (!n)
        return n.takeError();
      len = *n;
    }
    auto p = take(len, "string");
    if (!p)
      return p.takeError();
    auto v = make(op == 'C' || op == 'B' || op == 0x8e ? K::Bytes : K::String);
    v->text.assign(reinterpret_cast<const char *>(*p), len);
    stack.push_back(v);
    return Error::success();
  }
  default:
    return std::nullopt;
  }
}

/// Tuple, list and dict opcodes.
std::optional<Error> Machine::containerOp(uint8_t op) {
  using K = PickleValue::Kind;
  switch (op) {
  case ')':
    stack.push_back(make(K::Tuple));
    return Error::success();
  case 't': {
    auto items = popToMark();
    if (!items)
      return items.takeError();
    return push(makeTuple(std::move(*items)));
  }
  case 0x85:
  case 0x86:
  case 0x87: {
    size_t n = op - 0x84;
    std::vector<PickleRef> items(n);
    for (size_t i = n; i-- > 0;) {
      auto v = pop();
      if (!v)
        return v.takeError();
      items[i] = std::move(*v);
    }
    return push(makeTuple(std::move(items)));
  }
  case ']':
    stack.push_back(make(K::List));
    return Error::success();
  case 'l': {
    auto items = popToMark();
    if (!items)
      return items.takeError();
    auto l = make(K::List);
    for (auto &i : *items)
      if (Error e = nest(l.get(), i))
        return e;
    l->items = std::move(*items);
    stack.push_back(l);
    return Error::success();
  }
  case 'a':
  case 'e': {
    std::vector<PickleRef> items;
    if (op == 'a') {
      auto v = pop();
      if (!v)
        return v.takeError();
      items.push_back(std::move(*v));
    } else {
      auto v = popToMark();
      if (!v)
        return v.takeError();
      items = std::move(*v);
    }
    auto l = top("APPEND");
    if (!l)
      return l.takeError();
    if ((*l)->kind != K::List)
      return error(llvm::Twine("APPEND(S) on a ") + (*l)->kindName() +
                   ", not a list");
    if (Error e = checkMutable(*l, "APPEND(S)"))
      return e;
    for (auto &i : items) {
      if (Error e = nest(*l, i))
        return e;
      (*l)->items.push_back(std::move(i));
    }
    return Error::success();
  }
  case '}':
    stack.push_back(make(K::Dict));
    return Error::success();
  case 'd': {
    auto items = popToMark();
    if (!items)
      return items.takeError();
    auto dict = make(K::Dict);
    if (Error e = setItems(dict.get(), std::move(*items)))
      return e;
    stack.push_back(dict);
    return Error::success();
  }
  case 's':
  case 'u': {
    std::vector<PickleRef> kv;
    if (op == 's') {
      auto v = pop();
      if (!v)
        return v.takeError();
      auto k = pop();
      if (!k)
        return k.takeError();
      kv = {std::move(*k), std::move(*v)};
    } else {
      auto v = popToMark();
      if (!v)
        return v.takeError();
      kv = std::move(*v);
    }
    auto dict = top("SETITEM");
    if (!dict)
      return dict.takeError();
    return setItems(*dict, std::move(kv));
  }
  default:
    return std::nullopt;
  }
}

/// Memo opcodes (GET and PUT).
std::optional<Error> Machine::memoOp(uint8_t op) {
  switch (op) {
  case 'h':
  case 'j': {
    uint32_t idx;
    if (op == 'h') {
      auto v = readLE<uint8_t>("BINGET");
      if (!v)
        return v.takeError();
      idx = *v;
    } else {
      auto v = readLE<uint32_t>("LONG_BINGET");
      if (!v)
        return v.takeError();
      idx = *v;
    }
    auto it = memo.find(idx);
    if (it == memo.end())
      return error("memo entry " + llvm::Twine(idx) + " was never stored");
    stack.push_back(it->second);
    return Error::success();
  }
  case 'q':
  case 'r':
  case 0x94: {
    uint32_t idx;
    if (op == 'q') {
      auto v = readLE<uint8_t>("BINPUT");
      if (!v)
        return v.takeError();
      idx = *v;
    } else if (op == 'r') {
      auto v = readLE<uint32_t>("LONG_BINPUT");
      if (!v)
        return v.takeError();
      idx = *v;
    } else {
      idx = static_cast<uint32_t>(memo.size());
    }
    auto t = top("PUT");
    if (!t)
      return t.takeError();
    memo[idx] = stack.back();
    return Error::success();
  }
  default:
    return std::nullopt;
  }
}

/// Globals, calls and persistent ids: only the allowed few.
std::optional<Error> Machine::callOp(uint8_t op) {
  using K = PickleValue::Kind;
  switch (op) {
  case 'c': { // GLOBAL "module\nname\n"
    auto line = [&]() -> Expected<StringRef> {
      size_t start = pos;
      while (pos < d.size() && d[pos] != '\n')
        ++pos;
      if (pos >= d.size())
        return fileError(name, start, "truncated pickle: GLOBAL name");
      StringRef s(reinterpret_cast<const char *>(d.data() + start),
                  pos - start);
      ++pos;
      return s;
    };
    auto module = line();
    if (!module)
      return module.takeError();
    auto attr = line();
    if (!attr)
      return attr.takeError();
    return push(global(*module, *attr));
  }
  case 0x93: { // STACK_GLOBAL
    auto attr = pop();
    if (!attr)
      return attr.takeError();
    auto module = pop();
    if (!module)
      return module.takeError();
    if ((*module)->kind != K::String || (*attr)->kind != K::String)
      return error("STACK_GLOBAL operands are not strings");
    return push(global((*module)->text, (*attr)->text));
  }
  case 'R': {
    auto args = pop();
    if (!args)
      return args.takeError();
    auto fn = pop();
    if (!fn)
      return fn.takeError();
    return push(reduce(*fn, *args));
  }
  case 'b': { // BUILD: only an OrderedDict's attribute state, ignored
    auto state = pop();
    if (!state)
      return state.takeError();
    auto target = top("BUILD");
    if (!target)
      return target.takeError();
    if ((*target)->kind != K::Dict || !(*target)->fromOrderedDict ||
        ((*state)->kind != K::Dict && (*state)->kind != K::None &&
         (*state)->kind != K::Tuple))
      return error(llvm::Twine("BUILD on a ") + (*target)->kindName() +
                   ": only an OrderedDict's attributes are accepted");
    return Error::success();
  }
  case 'Q': {
    auto pid = pop();
    if (!pid)
      return pid.takeError();
    return push(persistentLoad(*pid));
  }
  default:
    return std::nullopt;
  }
}
