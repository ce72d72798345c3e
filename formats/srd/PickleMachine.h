//===- PickleMachine.h - the restricted unpickler's stack machine ---------===//
//
// Private to the unpickler (Unpickler.cpp, PickleOps.cpp): the machine's
// state and the checks its opcodes share. Unpickler.h says what it accepts.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "formats/srd/SRDSupport.h"
#include "formats/srd/Unpickler.h"
#include "support/BinaryReader.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/FormatVariadic.h"

#include <optional>
#include <unordered_map>

namespace gemmac::srd::pickle {

using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

constexpr int kMaxDepth = 256;

/// Names of the opcodes this reader refuses, for the error message.
const char *refusedOpcodeName(uint8_t op);
/// torch.<T>Storage types a checkpoint may name.
bool isStorageType(StringRef name);

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
  // Not a DenseMap: memo indices come from the file, and DenseMap reserves
  // two keys (~0u and ~0u - 1) whose entries it never finds or frees.
  std::unordered_map<uint32_t, PickleRef> memo;
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
    // Only a container nested nowhere may change (checkMutable), so the one
    // cycle left to refuse is a container put inside itself (memo GET, then
    // APPEND): shared ownership would never free it.
    if (child.get() == parent)
      return error("a container put inside itself: not something a "
                   "checkpoint does");
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
  // Opcode families (PickleOps.cpp): nullopt when `op` is not theirs.
  std::optional<Error> scalarOp(uint8_t op);
  std::optional<Error> stringOp(uint8_t op);
  std::optional<Error> containerOp(uint8_t op);
  std::optional<Error> memoOp(uint8_t op);
  std::optional<Error> callOp(uint8_t op);
};

} // namespace gemmac::srd::pickle
