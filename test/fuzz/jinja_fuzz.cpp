// libFuzzer harness for the chat-template engine: the input is a template,
// parsed and rendered with a small fixed context; parse and render must
// fail cleanly (no crash, hang or sanitizer report) on any bytes. The same
// bytes also go through the JSON reader.
#include "runtime/chat/jinja.h"

#include <cstddef>
#include <cstdint>
#include <string>

using namespace gemmac::jinja;

static const Value &fixedContext() {
  static const Value context = [] {
    Value v;
    std::string error;
    valueFromJson(R"({"bos_token": "<bos>", "add_generation_prompt": true,
      "enable_thinking": false, "n": 3, "f": 0.5, "s": " text\n",
      "messages": [{"role": "system", "content": "sys"},
                   {"role": "user", "content": [{"type": "text", "text": "hi"}]},
                   {"role": "assistant", "content": null, "tool_calls": [
                     {"id": "c1", "function": {"name": "f", "arguments": {"a": [1, 2.5, null]}}}]},
                   {"role": "tool", "tool_call_id": "c1", "content": "ok"}],
      "tools": [{"type": "function", "function": {"name": "f", "description": "d",
        "parameters": {"type": "object", "properties": {"a": {"type": "array",
          "items": {"type": "number"}}}, "required": ["a"]}}}]})",
                  &v, &error);
    return v;
  }();
  return context;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view input(reinterpret_cast<const char *>(data), size);
  std::string error, out;
  Value json;
  if (valueFromJson(input, &json, &error)) {
    std::string text;
    valueToJson(json, &text, &error);
    pyRepr(json, &text, &error);
  }
  std::unique_ptr<Template> t = parseTemplate(input, &error);
  if (t)
    renderTemplate(*t, fixedContext(), &out, &error);
  return 0;
}
