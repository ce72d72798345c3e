#include "runtime/chat/chat_template.h"

namespace gemmac::chat {

bool ChatTemplate::load(std::string_view source, std::string bosText,
                        std::string eosText, std::string *error) {
  if (source.empty()) {
    *error = "the model has no chat template (tokenizer.chat_template)";
    return false;
  }
  template_ = jinja::parseTemplate(source, error);
  bos_ = std::move(bosText);
  eos_ = std::move(eosText);
  return template_ != nullptr;
}

bool ChatTemplate::render(const jinja::Value &messages, const RenderOptions &options,
                          std::string *out, std::string *error) const {
  jinja::Value context = jinja::Value::dict();
  context.set("messages", messages);
  context.set("tools", options.tools);
  context.set("documents", jinja::Value::none());
  context.set("add_generation_prompt", options.addGenerationPrompt);
  context.set("bos_token", bos_);
  context.set("eos_token", eos_);
  for (const auto &[key, value] : options.kwargs.entries())
    context.set(key, value);
  out->clear();
  return jinja::renderTemplate(*template_, context, out, error);
}

bool messagesFromJson(std::string_view json, jinja::Value *messages, std::string *error) {
  if (!jinja::valueFromJson(json, messages, error))
    return false;
  if (!messages->isList()) {
    *error = "messages must be a JSON array";
    return false;
  }
  for (size_t i = 0; i < messages->items().size(); ++i) {
    const jinja::Value &m = messages->items()[i];
    const jinja::Value *role = m.isDict() ? m.find("role") : nullptr;
    if (!role || !role->isString()) {
      *error = "messages[" + std::to_string(i) + "] needs a string \"role\"";
      return false;
    }
  }
  return true;
}

} // namespace gemmac::chat
