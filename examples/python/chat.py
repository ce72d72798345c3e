"""Chat with a compiled model: python3 chat.py DIR/libNAME.so (one message a line)."""
import sys

import gemmac

model = gemmac.Model(sys.argv[1])
messages = [{"role": "system", "content": "You are a helpful assistant."}]
for line in sys.stdin:
    messages.append({"role": "user", "content": line.strip()})
    answer = ""
    for chunk in model.create_chat_completion(messages, max_tokens=256, stream=True):
        answer += chunk["choices"][0]["delta"].get("content") or ""
        print(chunk["choices"][0]["delta"].get("content") or "", end="", flush=True)
    print()
    messages.append({"role": "assistant", "content": answer})
