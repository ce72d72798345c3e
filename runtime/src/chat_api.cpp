// The C API's chat functions: the model's template applied to OpenAI
// messages, and Gemma 4 answers parsed into OpenAI messages, whole or
// streamed. Strings cross the API as JSON and are freed with gemmac_free.

#include "runtime/chat/chat_template.h"
#include "runtime/chat/openai_json.h"
#include "runtime/src/model.h"

#include <cstdlib>
#include <cstring>

using namespace gemmac;

struct gemmac_chat_parser {
  explicit gemmac_chat_parser(std::string prefix) : parser(std::move(prefix)) {}
  chat::Gemma4StreamParser parser;
  size_t toolCalls = 0;
};

namespace {
char *copyOut(const std::string &s) {
  char *p = static_cast<char *>(std::malloc(s.size() + 1));
  if (!p) {
    rt::setError("out of memory");
    return nullptr;
  }
  std::memcpy(p, s.data(), s.size());
  p[s.size()] = 0;
  return p;
}

char *deltasOut(gemmac_chat_parser *p, const std::vector<chat::Delta> &deltas) {
  nlohmann::json out = nlohmann::json::array();
  for (const chat::Delta &d : deltas)
    out.push_back(chat::deltaJson(d, d.kind == chat::Delta::ToolCallDone ? p->toolCalls++ : 0));
  return copyOut(chat::dumpJson(out));
}
} // namespace

extern "C" void gemmac_free(void *p) { std::free(p); }

extern "C" char *gemmac_chat_apply_template(const gemmac_model *m, const char *messagesJson,
                                            const char *optionsJson) {
  std::string err;
  chat::ChatTemplate t;
  const rt::Tokenizer &tok = m->tokenizer;
  if (!t.load(tok.chatTemplate(), tok.piece(tok.bos(), true), tok.piece(tok.eos(), true), &err)) {
    rt::setError(err);
    return nullptr;
  }
  jinja::Value messages, options = jinja::Value::dict();
  if (!messagesJson || !chat::messagesFromJson(messagesJson, &messages, &err)) {
    rt::setError("messages: " + (messagesJson ? err : std::string("NULL")));
    return nullptr;
  }
  if (optionsJson && !jinja::valueFromJson(optionsJson, &options, &err)) {
    rt::setError("options: " + err);
    return nullptr;
  }
  if (!options.isDict()) {
    rt::setError("options must be a JSON object");
    return nullptr;
  }
  chat::RenderOptions ro;
  for (const auto &[key, value] : options.entries()) {
    if (key == "add_generation_prompt")
      ro.addGenerationPrompt = value.truthy();
    else if (key == "tools")
      ro.tools = value;
    else if (key == "chat_template_kwargs" && value.isDict())
      for (const auto &[k, v] : value.entries())
        ro.kwargs.set(k, v);
    else
      ro.kwargs.set(key, value);
  }
  std::string out;
  if (!t.render(messages, ro, &out, &err)) {
    rt::setError(err);
    return nullptr;
  }
  return copyOut(out);
}

extern "C" char *gemmac_chat_parse_output(const char *text, size_t len) {
  if (!text && len) {
    rt::setError("text is NULL");
    return nullptr;
  }
  return copyOut(chat::dumpJson(
      chat::messageJson(chat::parseGemma4Output(std::string_view(text ? text : "", len)))));
}

extern "C" gemmac_chat_parser *gemmac_chat_parser_new(const char *idPrefix) {
  return new gemmac_chat_parser(idPrefix ? idPrefix : "call_");
}

extern "C" char *gemmac_chat_parser_feed(gemmac_chat_parser *p, const char *piece, size_t len) {
  return deltasOut(p, p->parser.feed(std::string_view(piece ? piece : "", piece ? len : 0)));
}

extern "C" char *gemmac_chat_parser_finish(gemmac_chat_parser *p) {
  return deltasOut(p, p->parser.finish());
}

extern "C" void gemmac_chat_parser_free(gemmac_chat_parser *p) { delete p; }
