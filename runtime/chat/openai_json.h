// Parsed Gemma 4 output as OpenAI's chat JSON: an assistant message, and
// the `delta` objects of a streamed answer.
#pragma once

#include "runtime/chat/gemma4_output.h"

#include <nlohmann/json.hpp>

namespace gemmac::chat {

/// {"role": "assistant", "content": ..., "reasoning_content": ... (when
/// there was a thought), "tool_calls": [...] (when there were calls)}.
/// `content` is null when the answer is only tool calls, as OpenAI sends it.
nlohmann::json messageJson(const Message &m);

/// One tool call as OpenAI writes it; `index` is its place in the message.
nlohmann::json toolCallJson(const ToolCall &c, size_t index);

/// A delta as a streamed chunk's `delta`: {"content": ...},
/// {"reasoning_content": ...} or {"tool_calls": [call with index]}.
nlohmann::json deltaJson(const Delta &d, size_t toolIndex);

/// dump() that never aborts on invalid UTF-8 (the runtime has no
/// exceptions): bad bytes become U+FFFD.
std::string dumpJson(const nlohmann::json &j);

} // namespace gemmac::chat
