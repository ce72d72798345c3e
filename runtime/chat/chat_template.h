// A checkpoint's chat template, rendered as Hugging Face's apply_chat_template
// renders it: messages, tools, add_generation_prompt, the special tokens and
// the caller's template arguments (enable_thinking, ...).
#pragma once

#include "runtime/chat/jinja.h"

#include <memory>
#include <string>

namespace gemmac::chat {

struct RenderOptions {
  bool addGenerationPrompt = true;
  jinja::Value tools = jinja::Value::none();  // a list, or None
  jinja::Value kwargs = jinja::Value::dict(); // more template variables
};

class ChatTemplate {
public:
  /// False with `error` ("chat template line N: ...") when the template
  /// cannot be parsed; an empty source is an error too.
  bool load(std::string_view source, std::string bosText, std::string eosText,
            std::string *error);
  bool render(const jinja::Value &messages, const RenderOptions &options,
              std::string *out, std::string *error) const;
  const std::string &bosText() const { return bos_; }

private:
  std::unique_ptr<jinja::Template> template_;
  std::string bos_, eos_;
};

/// Messages as OpenAI writes them (JSON) to template values; false with
/// `error` naming the message and field when one is not an object with a
/// string role.
bool messagesFromJson(std::string_view json, jinja::Value *messages, std::string *error);

} // namespace gemmac::chat
