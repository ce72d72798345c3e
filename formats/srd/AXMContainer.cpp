//===- AXMContainer.cpp - Orivael .axm containers: verify, then read ------===//
//
// Decisions where quant-formats.md §5 leaves a detail open follow upstream's
// axiom_axm.py, as noted at each place: the signed payloads are rebuilt
// field by field with upstream's defaults (unknown keys are not signed
// upstream either), JSONL files are split on '\n' and stripped, manifest keys
// are POSIX paths relative to weights/.
//
//===----------------------------------------------------------------------===//

#include "formats/srd/AXMContainer.h"
#include "support/PyJSON.h"
#include "formats/srd/RealPack.h"
#include "formats/srd/SRD4File.h"
#include "support/BinaryReader.h"
#include "formats/srd/SRDSupport.h"
#include "formats/srd/TorchCheckpoint.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <set>

using namespace gemmac::srd;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

std::string AXMFinding::str() const {
  std::string s = file + ": " + check + ": " + detail;
  if (!tensors.empty()) {
    s += " [tensors: ";
    for (size_t i = 0; i < tensors.size(); ++i)
      s += (i ? ", " : "") + tensors[i];
    s += "]";
  }
  return s;
}

Error AXMVerification::toError(StringRef container) const {
  if (ok())
    return Error::success();
  std::string msg = container.str() + ": verification failed";
  if (wrongKey)
    msg += llvm::formatv("\n  wrong key: none of the {0} MACs verifies with "
                         "this master key{1}",
                         macsChecked,
                         findings.empty()
                             ? ", yet every file matches its recorded SHA-256: "
                               "the content is intact and the key is not the "
                               "one the container was signed with"
                             : "; independently of the key, these files "
                               "differ from their recorded SHA-256:")
               .str();
  for (const AXMFinding &f : findings)
    msg += "\n  " + f.str();
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

Expected<std::unique_ptr<AXMContainer>> AXMContainer::open(StringRef path) {
  auto tree = FileTree::open(path);
  if (!tree)
    return tree.takeError();
  return std::make_unique<AXMContainer>(std::move(*tree));
}

namespace {

/// Python's truth value of a JSON value (bool(x)).
bool truthy(const PyJSON &v) {
  switch (v.kind()) {
  case PyJSON::Kind::Null:
    return false;
  case PyJSON::Kind::Bool:
    return v.asBool();
  case PyJSON::Kind::Int:
    return v.text() != "0";
  case PyJSON::Kind::Float:
    return v.asFloat() != 0;
  case PyJSON::Kind::String:
    return !v.text().empty();
  case PyJSON::Kind::Array:
    return !v.items().empty();
  case PyJSON::Kind::Object:
    return !v.members().empty();
  }
  return false;
}

/// `list(data.get(key) or ())`: a JSON array, or [] for a falsy value.
std::optional<PyJSON> listOrEmpty(const PyJSON &data, StringRef key) {
  const PyJSON *v = data.get(key);
  if (!v || !truthy(*v))
    return PyJSON::array();
  if (v->kind() == PyJSON::Kind::Array)
    return *v;
  if (v->kind() == PyJSON::Kind::String) { // list("ab") == ["a", "b"]
    std::vector<PyJSON> chars;
    for (char c : v->text())
      chars.push_back(PyJSON::string(std::string(1, c)));
    return PyJSON::array(std::move(chars));
  }
  return std::nullopt;
}

/// `int(x)` for an int, float or decimal string.
std::optional<PyJSON> pyInt(const PyJSON &v) {
  if (v.kind() == PyJSON::Kind::Int)
    return v;
  if (v.kind() == PyJSON::Kind::Bool)
    return PyJSON::integer(v.asBool());
  if (v.kind() == PyJSON::Kind::Float && std::isfinite(v.asFloat()) &&
      std::fabs(v.asFloat()) < 9e18)
    return PyJSON::integer(static_cast<int64_t>(v.asFloat()));
  if (v.kind() == PyJSON::Kind::String) {
    StringRef s = StringRef(v.text()).trim();
    int64_t i;
    if (!s.getAsInteger(10, i))
      return PyJSON::integer(i);
  }
  return std::nullopt;
}

std::vector<StringRef> splitLines(StringRef text) {
  llvm::SmallVector<StringRef, 16> raw;
  text.split(raw, '\n');
  std::vector<StringRef> lines;
  for (StringRef l : raw)
    lines.push_back(l.trim());
  return lines;
}

class Verifier {
public:
  Verifier(const FileTree &tree, const AxiomKeys &keys, AXMVerification &out)
      : tree(tree), keys(keys), out(out) {}

  void run() {
    checkHeader();
    checkDelegates();
    checkTrajectories();
    checkVertices();
    checkLedger();
    checkManifest();
    out.wrongKey = out.macsChecked > 0 && out.macsValid == 0;
    // With a wrong key every MAC fails; those failures say nothing about
    // the content and are summarised as the wrong key.
    if (!out.wrongKey)
      for (auto &f : macFindings)
        out.findings.push_back(std::move(f));
    for (auto &f : contentFindings)
      out.findings.push_back(std::move(f));
  }

private:
  const FileTree &tree;
  const AxiomKeys &keys;
  AXMVerification &out;
  std::vector<AXMFinding> macFindings, contentFindings;
  std::set<std::string> delegateNames;
  bool manifestAltered = false; // weights/manifest.json fails its ledger hash

  void content(StringRef rel, StringRef check, const llvm::Twine &detail,
               std::vector<std::string> tensors = {}) {
    contentFindings.push_back(
        {tree.displayName(rel), check.str(), detail.str(), std::move(tensors)});
  }

  std::optional<std::string> readText(StringRef rel) {
    auto buf = tree.read(rel, /*checkCRC=*/false);
    if (!buf) {
      content(rel, "read", llvm::toString(buf.takeError()));
      return std::nullopt;
    }
    return (*buf)->getBuffer().str();
  }

  std::optional<PyJSON> parseJSON(StringRef rel, StringRef text,
                                  const llvm::Twine &where = "") {
    auto v = PyJSON::parse(text);
    if (!v) {
      content(rel, "JSON",
              where + "not valid JSON: " + llvm::toString(v.takeError()));
      return std::nullopt;
    }
    return std::move(*v);
  }

  /// fn(where, record) for each non-empty line of JSON-lines `text` (file
  /// `rel`) that parses; `where` ("line N: ") prefixes its messages.
  void forEachJSONLine(
      StringRef rel, StringRef text,
      llvm::function_ref<void(const std::string &, const PyJSON &)> fn) {
    auto lines = splitLines(text);
    for (size_t i = 0; i < lines.size(); ++i) {
      if (lines[i].empty())
        continue;
      auto where = llvm::formatv("line {0}: ", i + 1).str();
      if (auto data = parseJSON(rel, lines[i], where))
        fn(where, *data);
    }
  }

  /// The parsed JSON of file `rel`, or nothing after recording why not.
  std::optional<PyJSON> readJSON(StringRef rel) {
    auto text = readText(rel);
    if (!text)
      return std::nullopt;
    return parseJSON(rel, *text);
  }

  /// readJSON, and the top-level value must be of `kind`.
  std::optional<PyJSON> readJSONOf(StringRef rel, PyJSON::Kind kind,
                                   StringRef kindName) {
    auto data = readJSON(rel);
    if (data && data->kind() != kind) {
      content(rel, "structure", ("not a JSON " + kindName).str());
      return std::nullopt;
    }
    return data;
  }

  /// Checks HMAC(key, canonical(payload)) against the record's "signature".
  bool mac(const Digest &key, const PyJSON &payload, const PyJSON &record,
           StringRef rel, StringRef check, const llvm::Twine &what) {
    ++out.macsChecked;
    std::string expected = toHex(hmacSha256(key, bytesOf(payload.canonical())));
    const PyJSON *sig = record.get("signature");
    bool ok = sig && sig->kind() == PyJSON::Kind::String &&
              constantTimeEqual(bytesOf(expected), bytesOf(sig->text()));
    if (ok) {
      ++out.macsValid;
      return true;
    }
    macFindings.push_back({tree.displayName(rel),
                           check.str(),
                           (what + (sig ? " does not match its signed fields"
                                        : " has no \"signature\""))
                               .str(),
                           {}});
    return false;
  }

  void checkHeader() {
    const char *rel = "header.json";
    if (!tree.contains(rel)) {
      content(rel, "presence", "missing: the container has no signed header");
      return;
    }
    auto data = readJSONOf(rel, PyJSON::Kind::Object, "object");
    if (!data)
      return;
    // Upstream's AXMHeader._payload(): these six fields, with its defaults.
    PyJSON payload = PyJSON::object();
    for (const char *key : {"format_version", "core_logic", "quant_map"}) {
      const PyJSON *v = data->get(key);
      if (!v) {
        content(rel, "structure", llvm::Twine("missing key \"") + key + "\"");
        return;
      }
      payload.set(key, *v);
    }
    auto qm = payload.get("quant_map")->kind();
    if (qm != PyJSON::Kind::String && qm != PyJSON::Kind::Object) {
      content(rel, "structure",
              "\"quant_map\" is neither a string nor an object");
      return;
    }
    auto delegates = listOrEmpty(*data, "delegates");
    if (!delegates) {
      content(rel, "structure", "\"delegates\" is not a list");
      return;
    }
    payload.set("delegates", *delegates);
    const PyJSON *sp = data->get("safety_proofs");
    payload.set("safety_proofs", PyJSON::boolean(sp ? truthy(*sp) : true));
    const PyJSON *hw = data->get("hardware_map");
    payload.set("hardware_map", hw ? *hw : PyJSON::string("compile_on_load"));
    mac(keys.container, payload, *data, rel, "header MAC",
        "the header signature");
    if (const PyJSON *sig = data->get("signature");
        sig && sig->kind() == PyJSON::Kind::String)
      out.fingerprint =
          toHex(hmacSha256(keys.container, bytesOf(sig->text()))).substr(0, 8);
  }

  void checkDelegates() {
    for (const std::string &f : tree.files()) {
      StringRef rel = f;
      if (!rel.starts_with("delegates/") || !rel.ends_with("/skill.json") ||
          rel.count('/') != 2)
        continue;
      std::string name = rel.drop_front(10).drop_back(11).str();
      delegateNames.insert(name);
      auto data = readJSON(rel);
      if (!data)
        continue;
      // Upstream's SkillDelegate._payload(): budgets and backend chain only
      // when they differ from the defaults (512, 256, ["local"]).
      PyJSON payload = PyJSON::object();
      const PyJSON *n = data->get("name");
      const PyJSON *w = data->get("when_condition");
      if (data->kind() != PyJSON::Kind::Object || !n || !w) {
        content(rel, "structure", "missing \"name\" or \"when_condition\"");
        continue;
      }
      payload.set("name", *n).set("when_condition", *w);
      auto intents = listOrEmpty(*data, "intent_classes");
      if (!intents) {
        content(rel, "structure", "\"intent_classes\" is not a list");
        continue;
      }
      payload.set("intent_classes", *intents);
      const PyJSON *wm = data->get("weight_manifest");
      payload.set("weight_manifest", wm ? *wm : PyJSON::string(""));
      bool bad = false;
      for (auto [key, def] :
           {std::pair<const char *, const char *>{"prompt_budget", "512"},
            {"output_budget", "256"}}) {
        if (const PyJSON *v = data->get(key)) {
          auto i = pyInt(*v);
          if (!i) {
            content(rel, "structure",
                    llvm::Twine("\"") + key + "\" is not an integer");
            bad = true;
          } else if (i->text() != def) {
            payload.set(key, *i);
          }
        }
      }
      if (bad)
        continue;
      auto chain = listOrEmpty(*data, "backend_chain");
      if (chain && !chain->items().empty() &&
          !(chain->items().size() == 1 &&
            chain->items()[0].kind() == PyJSON::Kind::String &&
            chain->items()[0].text() == "local"))
        payload.set("backend_chain", *chain);
      mac(keys.delegate, payload, *data, rel, "delegate MAC",
          "delegate " + name + "'s signature");
    }
  }

  void checkTrajectories() {
    for (const std::string &f : tree.files()) {
      StringRef rel = f;
      if (!rel.starts_with("trajectories/") || !rel.ends_with(".jsonl") ||
          rel.count('/') != 1)
        continue;
      auto text = readText(rel);
      if (!text)
        continue;
      forEachJSONLine(rel, *text, [&](const std::string &where,
                                      const PyJSON &data) {
        const PyJSON *id = data.get("id"), *tp = data.get("task_pattern");
        auto seq = listOrEmpty(data, "action_sequence");
        if (!id || !tp || !seq) {
          content(rel, "structure",
                  where + "missing \"id\" or \"task_pattern\"");
          return;
        }
        PyJSON payload = PyJSON::object();
        payload.set("id", *id)
            .set("task_pattern", *tp)
            .set("action_sequence", *seq);
        mac(keys.proof, payload, data, rel, "trajectory MAC",
            where + "the record's signature");
      });
    }
  }

  void checkVertices() {
    const char *rel = "vertices.json";
    if (!tree.contains(rel))
      return;
    auto data = readJSONOf(rel, PyJSON::Kind::Array, "array");
    if (!data)
      return;
    for (size_t i = 0; i < data->items().size(); ++i) {
      const PyJSON &e = data->items()[i];
      const PyJSON *sc = e.get("semantic_class"), *vc = e.get("vertex_cluster");
      auto where = llvm::formatv("entry {0}: ", i).str();
      if (!sc || !vc) {
        content(rel, "structure",
                where + "missing \"semantic_class\" or "
                        "\"vertex_cluster\"");
        continue;
      }
      PyJSON payload = PyJSON::object();
      payload.set("semantic_class", *sc).set("vertex_cluster", *vc);
      mac(keys.proof, payload, e, rel, "vertex MAC", where + "the signature");
    }
  }

  /// The file a ledger subject covers, or "" for an unknown subject.
  std::string subjectFile(StringRef subject) {
    if (subject == "header")
      return "header.json";
    if (subject == "core")
      return "core/core.json";
    if (subject == "vertices")
      return "vertices.json";
    if (subject == "weights_manifest")
      return "weights/manifest.json";
    if (subject.starts_with("delegate:")) {
      StringRef name = subject.drop_front(9);
      if (!ZipArchive::unsafeNameReason(name).empty() || name.contains('/'))
        return "";
      return ("delegates/" + name + "/skill.json").str();
    }
    return "";
  }

  void checkLedger() {
    const char *rel = "proofs/ledger.jsonl";
    if (!tree.contains(rel)) {
      content(rel, "presence",
              "missing: nothing vouches for core.json or the weight manifest");
      return;
    }
    auto text = readText(rel);
    if (!text)
      return;
    llvm::StringSet<> covered;
    forEachJSONLine(rel, *text, [&](const std::string &where,
                                    const PyJSON &data) {
      const PyJSON *subject = data.get("subject"), *claim = data.get("claim"),
                   *sha = data.get("file_sha");
      if (!subject || !claim || !sha ||
          subject->kind() != PyJSON::Kind::String) {
        content(rel, "structure",
                where + "missing \"subject\", \"claim\" or \"file_sha\"");
        return;
      }
      PyJSON payload = PyJSON::object();
      payload.set("subject", *subject)
          .set("claim", *claim)
          .set("file_sha", *sha);
      mac(keys.proof, payload, data, rel, "ledger MAC",
          where + "the entry for \"" + subject->text() + "\"");

      std::string file = subjectFile(subject->text());
      if (file.empty()) {
        content(rel, "structure",
                where + "unknown subject \"" + subject->text() + "\"");
        return;
      }
      covered.insert(file);
      if (!tree.contains(file)) {
        content(file, "ledger SHA-256",
                "missing, though the ledger (" +
                    where.substr(0, where.size() - 2) + ") covers it");
        return;
      }
      auto bytes = readText(file);
      if (!bytes)
        return;
      std::string actual = toHex(sha256(bytesOf(*bytes)));
      if (sha->kind() != PyJSON::Kind::String || sha->text() != actual) {
        manifestAltered |= file == "weights/manifest.json";
        content(file, "ledger SHA-256",
                "its SHA-256 " + actual + " differs from the ledger's " +
                    (sha->kind() == PyJSON::Kind::String
                         ? sha->text()
                         : std::string("(none)")) +
                    ": the file was changed after signing");
      }
    });
    // Subjects upstream always writes: without them a file is unprotected.
    std::vector<std::string> required = {"header.json", "core/core.json"};
    if (tree.contains("weights/manifest.json"))
      required.push_back("weights/manifest.json");
    if (tree.contains("vertices.json"))
      required.push_back("vertices.json");
    for (const std::string &d : delegateNames)
      required.push_back("delegates/" + d + "/skill.json");
    for (const std::string &file : required)
      if (!covered.contains(file))
        content(file, "ledger coverage",
                "no ledger entry covers this file, so nothing vouches for it");
  }

  void checkManifest() {
    bool hasWeights = false;
    for (const std::string &f : tree.files())
      hasWeights |= StringRef(f).starts_with("weights/");
    if (!hasWeights)
      return;
    const char *rel = "weights/manifest.json";
    if (!tree.contains(rel)) {
      content(rel, "presence", "missing: the weight files are not covered");
      return;
    }
    auto data = readJSONOf(rel, PyJSON::Kind::Object, "object");
    if (!data)
      return;
    llvm::StringSet<> listed;
    for (auto &[path, hash] : data->members()) {
      std::string why = ZipArchive::unsafeNameReason(path);
      if (!why.empty()) {
        content(rel, "structure",
                "entry \"" + path + "\" escapes weights/: " + why);
        continue;
      }
      std::string file = "weights/" + path;
      listed.insert(file);
      if (!tree.contains(file)) {
        content(file, "manifest",
                "listed in weights/manifest.json but missing");
        continue;
      }
      auto buf = tree.read(file, /*checkCRC=*/false);
      if (!buf) {
        content(file, "read", llvm::toString(buf.takeError()));
        continue;
      }
      llvm::ArrayRef<uint8_t> bytes(
          reinterpret_cast<const uint8_t *>((*buf)->getBufferStart()),
          (*buf)->getBufferSize());
      std::string actual = toHex(sha256(bytes));
      if (hash.kind() == PyJSON::Kind::String && hash.text() == actual)
        continue;
      std::vector<std::string> tensors;
      std::string where = locateDamage(file, std::move(*buf), tensors);
      content(file, "manifest SHA-256",
              "its SHA-256 " + actual + " differs from the manifest's " +
                  (hash.kind() == PyJSON::Kind::String
                       ? hash.text()
                       : std::string("(none)")) +
                  "; " + where +
                  (manifestAltered ? " (the manifest itself was changed, so "
                                     "its entries cannot be trusted either)"
                                   : ""),
              std::move(tensors));
    }
    for (const std::string &f : tree.files())
      if (StringRef(f).starts_with("weights/") && f != rel &&
          !listed.contains(f))
        content(f, "unlisted file",
                "not listed in weights/manifest.json: files the signer did not "
                "see are refused");
  }

  /// Narrows a changed weight file down to tensors, honestly: a PyTorch
  /// checkpoint carries a CRC-32 per storage, which names the changed
  /// tensors exactly; a .srd4 carries no per-tensor digest, so only blocks
  /// that break SRD's invariants can be named.
  std::string locateDamage(StringRef file,
                           std::unique_ptr<llvm::MemoryBuffer> buf,
                           std::vector<std::string> &tensors) {
    std::string name = tree.displayName(file);
    if (file.ends_with(".pt")) {
      auto ckpt = TorchCheckpoint::parse(std::move(buf), name);
      if (!ckpt)
        return "its ZIP or pickle structure is damaged (" +
               llvm::toString(ckpt.takeError()) + ")";
      tensors = (*ckpt)->changedTensors();
      if (tensors.empty())
        return "every storage still matches its CRC-32, so the change lies in "
               "the checkpoint's ZIP metadata, not in tensor data";
      return "the storages that no longer match their CRC-32 hold the tensors "
             "listed";
    }
    if (file.ends_with(".srd4")) {
      auto srd = SRD4File::parse(std::move(buf), name);
      if (!srd)
        return "and it no longer parses (" + llvm::toString(srd.takeError()) +
               ")";
      auto anomalies = scanBlockInvariants(**srd);
      if (anomalies.empty())
        return "the change could not be narrowed to a tensor: every block "
               "still satisfies SRD's invariants and a .srd4 carries no "
               "per-tensor digest (the sealed container does)";
      std::string detail = "blocks that break SRD's invariants:";
      std::set<std::string> names;
      for (const BlockAnomaly &a : anomalies) {
        const auto &t = (*srd)->tensors()[a.tensor];
        detail +=
            llvm::formatv(" {0} row {1} group {2} (offset {3}: {4});", t.name,
                          a.row, a.group,
                          (*srd)->blockOffset(a.tensor, a.row, a.group), a.what)
                .str();
        if (names.insert(t.name).second)
          tensors.push_back(t.name);
      }
      return detail + " other changes that keep the invariants cannot be "
                      "located without the original";
    }
    return "this file holds no tensors";
  }
};

} // namespace

AXMVerification AXMContainer::verify(const AxiomKeys &keys) const {
  AXMVerification out;
  Verifier(*tree_, keys, out).run();
  return out;
}

Expected<std::unique_ptr<ResidualSource>> AXMContainer::residuals() const {
  std::vector<std::string> srd4;
  for (const std::string &f : tree_->files())
    if (StringRef(f).starts_with("weights/") && StringRef(f).ends_with(".srd4"))
      srd4.push_back(f);
  bool realPack = tree_->contains("weights/srd_index.json");
  if (srd4.size() + (realPack ? 1 : 0) > 1)
    return fileError(path(), std::nullopt,
                     "weights/ holds more than one set of residuals (" +
                         llvm::Twine(srd4.size()) + " .srd4 files" +
                         (realPack ? " and a real-pack trio" : "") +
                         "): which one to fold is ambiguous");
  if (realPack) {
    auto r = RealPackResiduals::load(*tree_, "weights");
    if (!r)
      return r.takeError();
    return std::unique_ptr<ResidualSource>(std::move(*r));
  }
  if (srd4.empty())
    return fileError(path(), std::nullopt,
                     "weights/ holds no residuals (no .srd4 file and no "
                     "srd_index.json)");
  auto buf = tree_->read(srd4[0]);
  if (!buf)
    return buf.takeError();
  auto f = SRD4File::parse(std::move(*buf), tree_->displayName(srd4[0]));
  if (!f)
    return f.takeError();
  return std::unique_ptr<ResidualSource>(std::move(*f));
}

Expected<std::unique_ptr<ResidualSource>>
AXMContainer::verifiedResiduals(const AxiomKeys &keys,
                                std::string *fingerprint) const {
  AXMVerification v = verify(keys);
  if (Error e = v.toError(path()))
    return std::move(e);
  if (fingerprint)
    *fingerprint = v.fingerprint;
  return residuals();
}
