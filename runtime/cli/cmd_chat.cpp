// OUT chat: a conversation in the terminal or through a pipe, with the
// checkpoint's chat template. The KV cache is kept across turns: a new turn
// evaluates only its own tokens (the end of the last answer's turn, the new
// message and the generation prompt), found by rendering the conversation
// with and without the new message, as llama-cli does.

#include "runtime/chat/chat_template.h"
#include "runtime/chat/gemma4_output.h"
#include "runtime/cli/commands.h"
#include "runtime/cli/generation.h"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <poll.h>
#include <unistd.h>

namespace gemmac::cli {
namespace {

volatile sig_atomic_t gInterrupted = 0;

void onInterrupt(int) { gInterrupted = 1; }

/// SIGINT stops an answer, not the program: no SA_RESTART, so that a read
/// at the prompt returns and the program can end there.
void installInterruptHandler() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = onInterrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
}

/// One line of input without its newline; false at end of input or on
/// Ctrl-C. Polls instead of blocking in read: SIGINT may be delivered to a
/// worker thread, which would not interrupt a blocked read.
bool readLine(std::string &line) {
  static std::string buffered;
  line.clear();
  for (;;) {
    size_t nl = buffered.find('\n');
    if (nl != std::string::npos) {
      line = buffered.substr(0, nl);
      buffered.erase(0, nl + 1);
      return true;
    }
    if (gInterrupted)
      return false;
    pollfd p{0, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0)
      continue;
    char buf[4096];
    ssize_t n = read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) { // end of input: a last line without its newline counts
      line.swap(buffered);
      return !line.empty();
    }
    buffered.append(buf, static_cast<size_t>(n));
  }
}

jinja::Value message(const char *role, const std::string &content) {
  jinja::Value m = jinja::Value::dict();
  m.set("role", role);
  m.set("content", content);
  return m;
}

class Conversation {
public:
  Conversation(gemmac_model *m, gemmac_session *s, const Options &o) : m_(m), s_(s), o_(o) {
    std::string err;
    if (!template_.load(gemmac_model_string(m, "chat_template"), tokenText(m, gemmac_token_bos(m)),
                        "<eos>", &err))
      die(err);
    options_.kwargs.set("enable_thinking", o.reasoning == 1);
    // What follows an answer in the template: the end of its turn.
    const std::string answer = "\x01" "ANSWER";
    jinja::Value probe = jinja::Value::list();
    probe.push(message("user", "\x01" "QUESTION"));
    probe.push(message("assistant", answer));
    chat::RenderOptions closed = options_;
    closed.addGenerationPrompt = false;
    std::string text;
    if (template_.render(probe, closed, &text, &err) && text.find(answer) != std::string::npos)
      answerSuffix_ = text.substr(text.find(answer) + answer.size());
    reset();
  }

  void reset() {
    messages_ = jinja::Value::list();
    if (!o_.system.empty())
      messages_.push(message("system", o_.system));
    gemmac_session_reset(s_);
    answered_ = false;
  }

  /// The tokens the new user message adds to what the session holds.
  bool tokensFor(const std::string &userText, std::vector<gemmac_token> &out, std::string &err) {
    jinja::Value next = messages_;
    next.push(message("user", userText));
    std::string full, past;
    if (!template_.render(next, options_, &full, &err))
      return false;
    chat::RenderOptions closed = options_;
    closed.addGenerationPrompt = false;
    if (answered_ && !answerSuffix_.empty() &&
        template_.render(messages_, closed, &past, &err) && full.rfind(past, 0) == 0) {
      out = tokenize(m_, answerSuffix_ + full.substr(past.size()), false);
    } else {
      if (answered_ && o_.verbose)
        std::fprintf(stderr, "[the template rewrote the conversation: evaluating it again]\n");
      gemmac_session_reset(s_);
      // Exactly one <bos>: the template's, or one added.
      const bool hasBos = full.rfind(template_.bosText(), 0) == 0;
      out = tokenize(m_, full, !hasBos);
    }
    messages_ = next;
    return true;
  }

  void answered(const chat::Message &reply) {
    jinja::Value m = message("assistant", reply.content);
    if (!reply.reasoning.empty())
      m.set("reasoning_content", reply.reasoning);
    messages_.push(m);
    answered_ = true;
  }

  void dropLastMessage() {
    jinja::Value kept = jinja::Value::list();
    for (size_t i = 0; i + 1 < messages_.items().size(); ++i)
      kept.push(messages_.items()[i]);
    messages_ = kept;
  }

private:
  gemmac_model *m_;
  gemmac_session *s_;
  const Options &o_;
  chat::ChatTemplate template_;
  chat::RenderOptions options_;
  jinja::Value messages_;
  std::string answerSuffix_;
  bool answered_ = false;
};

} // namespace

int cmdChat(const Options &o) {
  gemmac_model *m = openModel(o);
  gemmac_session *s = newSession(m, o.ctx > 0 ? o.ctx : 4096, o.ctx > 0);
  Conversation conversation(m, s, o);
  const bool tty = isatty(0) && isatty(1);
  const char *dim = tty ? "\033[2m" : "", *plain = tty ? "\033[0m" : "";
  const gemmac_sampler_params sampler = samplerFor(o, m);
  gemmac_speculative spec = speculativeFor(o, s);
  if (sampler.temperature > 0)
    std::fprintf(stderr, "seed: %llu\n", static_cast<unsigned long long>(sampler.seed));
  if (tty)
    std::printf("Chat with %s. /reset starts over, /exit (or Ctrl-D) ends; Ctrl-C stops an answer.\n",
                gemmac_model_string(m, "source"));
  installInterruptHandler();
  GenerationStats total;
  std::string line, err;
  for (int turn = 1;; ++turn) {
    if (tty) {
      std::printf("\n> ");
      std::fflush(stdout);
    }
    gInterrupted = 0;
    if (!readLine(line))
      break;
    if (line.empty()) {
      --turn;
      continue;
    }
    if (line == "/exit" || line == "/quit")
      break;
    if (line == "/reset") {
      conversation.reset();
      if (tty)
        std::printf("(conversation reset)\n");
      turn = 0;
      continue;
    }
    std::vector<gemmac_token> tokens;
    if (!conversation.tokensFor(line, tokens, err))
      die(err);
    const int32_t held = gemmac_session_position(s);
    if (held + static_cast<long>(tokens.size()) >= gemmac_session_context(s)) {
      std::fprintf(stderr, "error: the conversation no longer fits the context of %d tokens "
                           "(/reset, or raise --ctx)\n", gemmac_session_context(s));
      conversation.dropLastMessage();
      continue;
    }
    if (o.verbose)
      std::fprintf(stderr, "[turn %d: %zu new tokens evaluated after %d held]\n", turn,
                   tokens.size(), held);
    chat::Gemma4StreamParser parser;
    bool inThought = false;
    auto show = [&](const std::vector<chat::Delta> &deltas) {
      for (const chat::Delta &d : deltas) {
        if (d.kind == chat::Delta::ToolCallDone)
          continue;
        const bool thought = d.kind == chat::Delta::Reasoning;
        if (thought && !tty)
          continue; // through a pipe: answers only
        if (thought != inThought)
          std::fputs(thought ? dim : plain, stdout);
        inThought = thought;
        std::fwrite(d.text.data(), 1, d.text.size(), stdout);
      }
      std::fflush(stdout);
    };
    const long maxTokens = o.nPredict == -2 ? -1 : o.nPredict;
    GenerationStats st = generate(s, tokens, maxTokens, sampler,
                                  [&](gemmac_token, const std::string &piece) {
                                    show(parser.feed(piece));
                                    return !gInterrupted && !parser.stopped();
                                  },
                                  o.draftMax > 0 ? &spec : nullptr);
    show(parser.finish());
    if (o.verbose)
      std::fprintf(stderr, "[turn %d: %ld tokens generated, stop: %s]\n", turn, st.generated,
                   st.stopReason.c_str());
    if (o.verbose && o.draftMax > 0)
      std::fprintf(stderr, "[turn %d: %d steps, %d drafted, %d accepted]\n", turn, spec.n_steps,
                   spec.n_drafted, spec.n_accepted);
    if (inThought)
      std::fputs(plain, stdout);
    if (st.stopReason == "interrupted" && gInterrupted)
      std::printf("%s[interrupted]", tty ? "\n" : "");
    std::printf("\n");
    std::fflush(stdout);
    conversation.answered(parser.message());
    total.promptTokens += st.promptTokens;
    total.promptSeconds += st.promptSeconds;
    total.generated += st.generated;
    total.generateSeconds += st.generateSeconds;
    total.stopReason = st.stopReason;
  }
  if (total.stopReason.empty())
    total.stopReason = "no turns";
  printSummary(total, s);
  gemmac_session_free(s);
  gemmac_model_close(m);
  return 0;
}

} // namespace gemmac::cli
