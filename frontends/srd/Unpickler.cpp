//===- Unpickler.cpp - a restricted unpickler for PyTorch checkpoints -----===//

#include "frontends/srd/Unpickler.h"
#include "frontends/srd/SRDError.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/FormatVariadic.h"

#include <cstring>

using namespace gemmac::srd;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

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

namespace {

/// Names of the opcodes this reader refuses, for the error message.
const char *refusedOpcodeName(uint8_t op) {
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

/// torch.<T>Storage types a checkpoint may name.
bool isStorageType(StringRef name) {
  static const char *types[] = {
      "FloatStorage", "HalfStorage", "BFloat16Storage", "DoubleStorage",
      "ByteStorage",  "CharStorage", "ShortStorage",    "IntStorage",
      "LongStorage",  "BoolStorage"};
  for (const char *t : types)
    if (name == t)
      return true;
  return false;
}

constexpr int kMaxDepth = 256;

class Machine {
public:
  Machine(llvm::ArrayRef<uint8_t> data, StringRef name) : d(data), name(name) {}

  Expected<PickleRef> run();

private:
  llvm::ArrayRef<uint8_t> d;
  StringRef name;
  size_t pos = 0;
  size_t opAt = 0; // offset of the opcode being run
  std::vector<PickleRef> stack;
  std::vector<size_t> marks;
  llvm::DenseMap<uint32_t, PickleRef> memo;
  // Containers already nested in another: a checkpoint never mutates those,
  // and refusing it keeps `depth` exact (it bounds recursive destruction).
  llvm::DenseMap<const PickleValue *, int> depth;
  llvm::DenseMap<const PickleValue *, bool> nested;

  Error error(const llvm::Twine &msg) const {
    return fileError(name, opAt, msg);
  }

  Expected<const uint8_t *> take(size_t n, const char *what) {
    if (n > d.size() - pos)
      return fileError(name, pos,
                       llvm::Twine("truncated pickle: ") + what + " needs " +
                           llvm::Twine(n) + " bytes, " +
                           llvm::Twine(d.size() - pos) + " remain");
    const uint8_t *p = d.data() + pos;
    pos += n;
    return p;
  }

  template <typename T> Expected<T> readLE(const char *what) {
    auto p = take(sizeof(T), what);
    if (!p)
      return p.takeError();
    T v;
    std::memcpy(&v, *p, sizeof(T));
    return v;
  }

  Expected<PickleRef> pop() {
    if (stack.empty() || (!marks.empty() && stack.size() <= marks.back()))
      return error("pickle stack underflow");
    PickleRef v = std::move(stack.back());
    stack.pop_back();
    return v;
  }

  Expected<std::vector<PickleRef>> popToMark() {
    if (marks.empty())
      return error("no MARK on the pickle stack");
    size_t m = marks.back();
    marks.pop_back();
    std::vector<PickleRef> items(std::make_move_iterator(stack.begin() + m),
                                 std::make_move_iterator(stack.end()));
    stack.resize(m);
    return items;
  }

  Expected<PickleValue *> top(const char *what) {
    if (stack.empty() || (!marks.empty() && stack.size() <= marks.back()))
      return error(llvm::Twine(what) + " with an empty stack");
    return stack.back().get();
  }

  int depthOf(const PickleRef &v) {
    auto it = depth.find(v.get());
    return it == depth.end() ? 1 : it->second;
  }

  /// Records that `child` now lives inside `parent`.
  Error nest(PickleValue *parent, const PickleRef &child) {
    int dp = depthOf(child) + 1;
    if (dp > kMaxDepth)
      return error("containers nested deeper than 256 levels");
    int &cur = depth[parent];
    cur = std::max(std::max(cur, 1), dp);
    nested[child.get()] = true;
    return Error::success();
  }

  Error checkMutable(PickleValue *target, const char *op) {
    if (nested.lookup(target))
      return error(llvm::Twine(op) +
                   " changes a container already nested in another: not "
                   "something a checkpoint does");
    return Error::success();
  }

  // Every value stays alive until the run ends, so the pointer-keyed maps
  // above never see an address reused.
  std::vector<PickleRef> arena;

  PickleRef make(PickleValue::Kind k) {
    auto v = std::make_shared<PickleValue>();
    v->kind = k;
    arena.push_back(v);
    return v;
  }

  PickleRef makeInt(int64_t i) {
    auto v = make(PickleValue::Kind::Int);
    v->integer = i;
    return v;
  }

  Expected<PickleRef> makeTuple(std::vector<PickleRef> items) {
    auto t = make(PickleValue::Kind::Tuple);
    for (auto &i : items)
      if (Error e = nest(t.get(), i))
        return std::move(e);
    t->items = std::move(items);
    return t;
  }

  Error setItems(PickleValue *dict, std::vector<PickleRef> kv) {
    if (dict->kind != PickleValue::Kind::Dict)
      return error(llvm::Twine("SETITEM(S) on a ") + dict->kindName() +
                   ", not a dict");
    if (Error e = checkMutable(dict, "SETITEM(S)"))
      return e;
    if (kv.size() % 2)
      return error("SETITEMS with an odd number of items");
    for (size_t i = 0; i < kv.size(); i += 2) {
      const PickleRef &k = kv[i];
      if (k->kind != PickleValue::Kind::String &&
          k->kind != PickleValue::Kind::Int)
        return error(llvm::Twine("dict key of type ") + k->kindName() +
                     ": only str and int keys are accepted");
      if (Error e = nest(dict, kv[i + 1]))
        return e;
      bool replaced = false;
      for (auto &entry : dict->entries)
        if (entry.first->kind == k->kind && entry.first->text == k->text &&
            entry.first->integer == k->integer) {
          entry.second = kv[i + 1];
          replaced = true;
        }
      if (!replaced)
        dict->entries.emplace_back(k, kv[i + 1]);
    }
    return Error::success();
  }

  Expected<PickleRef> global(StringRef module, StringRef attr) {
    std::string full = (module + "." + attr).str();
    bool ok = (module == "torch._utils" && attr == "_rebuild_tensor_v2") ||
              (module == "collections" && attr == "OrderedDict") ||
              (module == "torch" && isStorageType(attr));
    if (!ok)
      return error(
          "refused global " + full +
          ": a checkpoint may only name torch._utils._rebuild_tensor_v2, "
          "collections.OrderedDict and torch.*Storage (loading it "
          "would run code)");
    auto g = make(PickleValue::Kind::Global);
    g->text = full;
    return g;
  }

  Expected<std::vector<int64_t>> intTuple(const PickleRef &v,
                                          const char *what) {
    if (v->kind != PickleValue::Kind::Tuple)
      return error(llvm::Twine("_rebuild_tensor_v2: ") + what +
                   " is not a tuple");
    std::vector<int64_t> out;
    for (auto &i : v->items) {
      if (i->kind != PickleValue::Kind::Int || i->integer < 0)
        return error(llvm::Twine("_rebuild_tensor_v2: ") + what +
                     " holds a non-integer or negative entry");
      out.push_back(i->integer);
    }
    return out;
  }

  Expected<PickleRef> reduce(const PickleRef &fn, const PickleRef &args) {
    if (fn->kind != PickleValue::Kind::Global)
      return error(llvm::Twine("REDUCE on a ") + fn->kindName() +
                   ", not a callable");
    if (args->kind != PickleValue::Kind::Tuple)
      return error("REDUCE arguments are not a tuple");
    const auto &a = args->items;
    if (fn->text == "collections.OrderedDict") {
      if (!a.empty())
        return error("collections.OrderedDict called with arguments");
      auto dict = make(PickleValue::Kind::Dict);
      dict->fromOrderedDict = true;
      return dict;
    }
    if (fn->text == "torch._utils._rebuild_tensor_v2") {
      if (a.size() != 6 && a.size() != 7)
        return error("_rebuild_tensor_v2 takes 6 or 7 arguments, got " +
                     llvm::Twine(a.size()));
      if (a[0]->kind != PickleValue::Kind::StorageRef)
        return error("_rebuild_tensor_v2: first argument is not a storage");
      if (a[1]->kind != PickleValue::Kind::Int || a[1]->integer < 0)
        return error("_rebuild_tensor_v2: storage offset is not a "
                     "non-negative int");
      auto shape = intTuple(a[2], "size");
      if (!shape)
        return shape.takeError();
      auto strides = intTuple(a[3], "stride");
      if (!strides)
        return strides.takeError();
      if (shape->size() != strides->size())
        return error("_rebuild_tensor_v2: size and stride differ in length");
      auto t = make(PickleValue::Kind::Tensor);
      t->tensor = a[0]->tensor;
      t->tensor.storageOffset = a[1]->integer;
      t->tensor.shape = std::move(*shape);
      t->tensor.strides = std::move(*strides);
      return t;
    }
    return error("refused call of " + fn->text);
  }

  Expected<PickleRef> persistentLoad(const PickleRef &pid) {
    // ('storage', torch.<T>Storage, key, location, numel)
    if (pid->kind != PickleValue::Kind::Tuple || pid->items.size() != 5)
      return error("persistent id is not a 5-tuple ('storage', type, key, "
                   "location, numel)");
    const auto &it = pid->items;
    if (it[0]->kind != PickleValue::Kind::String || it[0]->text != "storage")
      return error("persistent id does not start with 'storage'");
    if (it[1]->kind != PickleValue::Kind::Global ||
        !StringRef(it[1]->text).starts_with("torch.") ||
        !isStorageType(StringRef(it[1]->text).drop_front(6)))
      return error("persistent id names no torch storage type");
    if (it[2]->kind != PickleValue::Kind::String ||
        it[3]->kind != PickleValue::Kind::String ||
        it[4]->kind != PickleValue::Kind::Int || it[4]->integer < 0)
      return error("persistent id: key, location or numel has the wrong type");
    // The key names a file under data/: digits only, so it cannot walk out.
    if (it[2]->text.empty() ||
        it[2]->text.find_first_not_of("0123456789") != std::string::npos)
      return error("persistent id: storage key \"" + it[2]->text +
                   "\" is not a number");
    auto s = make(PickleValue::Kind::StorageRef);
    s->tensor.storageType = StringRef(it[1]->text).drop_front(6).str();
    s->tensor.storageKey = it[2]->text;
    s->tensor.location = it[3]->text;
    s->tensor.storageNumel = it[4]->integer;
    return s;
  }

  Error push(Expected<PickleRef> v) {
    if (!v)
      return v.takeError();
    stack.push_back(std::move(*v));
    return Error::success();
  }

  Error step(uint8_t op);
};

Error Machine::step(uint8_t op) {
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
    break;
  }
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

} // namespace

Expected<PickleRef> gemmac::srd::unpickle(llvm::ArrayRef<uint8_t> data,
                                          StringRef name) {
  return Machine(data, name).run();
}
