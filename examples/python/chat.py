"""Chat with a compiled model: python3 chat.py DIR/libNAME.so (one message a line)."""
import sys

import gemmac

model = gemmac.Model(sys.argv[1])
messages = [{"role": "system", "content": "You are a helpful assistant."}]
for line in sys.stdin:
    messages.append({"role": "user", "content": line.strip()})
    while True:
        try:
            stream = model.create_chat_completion(messages, max_tokens=256, stream=True)
            break
        except ValueError:  # longer than the context: forget the oldest exchange
            if len(messages) <= 2:
                raise
            del messages[1:3]
    answer = ""
    for chunk in stream:
        piece = chunk["choices"][0]["delta"].get("content") or ""
        print(piece, end="", flush=True)
        answer += piece
    print()
    messages.append({"role": "assistant", "content": answer})
