// libFuzzer harness for the chat-template engine: the input is a template,
// optionally followed by a NUL byte and a JSON context (messages, tools...);
// without one, or when it does not parse, a small fixed context is used.
// Parse and render must fail cleanly (no crash, hang or sanitizer report) on
// any bytes. The context bytes also go through the JSON reader and writers.
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
  std::string_view source = input, contextJson = input;
  if (size_t nul = input.find('\0'); nul != std::string_view::npos) {
    source = input.substr(0, nul);
    contextJson = input.substr(nul + 1);
  }
  std::string error, out;
  Value json;
  bool haveContext = valueFromJson(contextJson, &json, &error);
  if (haveContext) {
    std::string text;
    valueToJson(json, &text, &error);
    pyRepr(json, &text, &error);
  }
  std::unique_ptr<Template> t = parseTemplate(source, &error);
  if (t)
    renderTemplate(*t, haveContext && source.size() != input.size() ? json
                                                                    : fixedContext(),
                   &out, &error);
  return 0;
}
