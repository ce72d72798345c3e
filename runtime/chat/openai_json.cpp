#include "runtime/chat/openai_json.h"

namespace gemmac::chat {

using nlohmann::json;

json toolCallJson(const ToolCall &c, size_t index) {
  return json{{"index", index},
              {"id", c.id},
              {"type", "function"},
              {"function", json{{"name", c.name}, {"arguments", c.argumentsJson}}}};
}

json messageJson(const Message &m) {
  json j = json::object();
  j["role"] = "assistant";
  j["content"] = m.content.empty() && !m.toolCalls.empty() ? json(nullptr) : json(m.content);
  if (!m.reasoning.empty())
    j["reasoning_content"] = m.reasoning;
  if (!m.toolCalls.empty()) {
    json calls = json::array();
    for (size_t i = 0; i < m.toolCalls.size(); ++i) {
      json c = toolCallJson(m.toolCalls[i], i);
      c.erase("index"); // a message's calls carry no index, a delta's do
      calls.push_back(std::move(c));
    }
    j["tool_calls"] = std::move(calls);
  }
  return j;
}

json deltaJson(const Delta &d, size_t toolIndex) {
  switch (d.kind) {
  case Delta::Content:
    return json{{"content", d.text}};
  case Delta::Reasoning:
    return json{{"reasoning_content", d.text}};
  case Delta::ToolCallDone:
    break;
  }
  return json{{"tool_calls", json::array({toolCallJson(d.call, toolIndex)})}};
}

std::string dumpJson(const json &j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

} // namespace gemmac::chat
