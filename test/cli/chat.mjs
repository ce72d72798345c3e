// `OUT chat` through a pipe and through a terminal (tmux), on a tiny model
// with the upstream Gemma 4 chat template. The KV cache is kept across
// turns: the first turn evaluates the prompt python3-jinja2 renders (counted
// by llama.cpp's tokenizer), the second only the end of the first answer's
// turn and the new turn, /reset starts from an empty cache, Ctrl-C stops an
// answer and not the program.
//
//   node test/cli/chat.mjs --bin build/bin --template FILE.jinja --work DIR
import {execFileSync, spawnSync} from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {check, compileModel, finish, llamaTokens, renderReference, work} from "./harness.mjs";

const turns = (stderr) => [...stderr.matchAll(/\[turn (\d+): (\d+) new tokens evaluated after (\d+) held\]/g)]
    .map((m) => ({turn: +m[1], evaluated: +m[2], held: +m[3]}));
const generated = (stderr) => [...stderr.matchAll(/\[turn (\d+): (\d+) tokens generated, stop: ([^\]]*)\]/g)]
    .map((m) => ({turn: +m[1], generated: +m[2], stop: m[3]}));

const {gguf, program} = compileModel("chat");
const llamaCount = (text) => llamaTokens(gguf, text).length;

// What the first two turns must evaluate, independently of gemmac: the
// rendered first prompt, then what the second turn adds to the rendering.
const user1 = {role: "user", content: "Hello there"}, user2 = {role: "user", content: "And a second question?"};
const first = renderReference({messages: [user1], add_generation_prompt: true});
const answered = {role: "assistant", content: "ANSWER"};
const past = renderReference({messages: [user1, answered], add_generation_prompt: false});
const full = renderReference({messages: [user1, answered, user2], add_generation_prompt: true});
check(full.startsWith(past), "the template appends a turn without rewriting the conversation");
// The first answer's turn ends as the template ends an assistant turn.
const endOfAnswer = past.slice(past.lastIndexOf("ANSWER") + "ANSWER".length);
const expectFirst = llamaCount(first), expectSecond = llamaCount(endOfAnswer + full.slice(past.length));

// --- through a pipe: one message per line, answers on stdout.
const piped = spawnSync(program, ["chat", "-v", "--temp", "0", "-n", "12"],
    {input: `${user1.content}\n${user2.content}\n/reset\n${user1.content}\n`});
const out = piped.stdout.toString(), err = piped.stderr.toString();
check(piped.status === 0, `pipe: exit ${piped.status}`);
const t = turns(err), g = generated(err);
check(t.length === 3 && g.length === 3, `pipe: three turns (${JSON.stringify(t)})`);
check(t[0]?.held === 0 && t[0]?.evaluated === expectFirst,
      `turn 1 evaluates the rendered prompt: ${t[0]?.evaluated} tokens, llama.cpp counts ${expectFirst}`);
check(t[1]?.held === t[0]?.evaluated + g[0]?.generated,
      `turn 2 keeps the cache: ${t[1]?.held} held = ${t[0]?.evaluated} prompt + ${g[0]?.generated} generated`);
check(t[1]?.evaluated === expectSecond,
      `turn 2 evaluates only its new tokens: ${t[1]?.evaluated}, expected ${expectSecond}`);
check(t[2]?.held === 0 && t[2]?.evaluated === expectFirst, "after /reset the cache starts empty");
check(out.split("\n").length >= 3, "pipe: answers on stdout");
const again = spawnSync(program, ["chat", "-v", "--temp", "0", "-n", "12"], {input: `${user1.content}\n`});
check(again.stdout.toString().split("\n")[0] === out.split("\n")[0], "greedy answers repeat");

// --- through a terminal (tmux): prompts, two turns, Ctrl-C, /exit.
// A tmux server of its own (-L), so that nothing else is touched.
const session = `gemmac-chat-${process.pid}`;
const tmux = (...a) => execFileSync("tmux", ["-L", session, ...a], {stdio: ["ignore", "pipe", "pipe"]}).toString();
const errFile = path.join(work, "tty-stderr.txt");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pane = () => tmux("capture-pane", "-p", "-t", session);
const waitFor = async (pred, what, ms = 20000) => {
    for (let i = 0; i < ms / 50; i++) {
        if (pred()) return true;
        await sleep(50);
    }
    console.log(`timed out waiting for ${what}; pane:\n${pane()}`);
    return false;
};
const errText = () => (fs.existsSync(errFile) ? fs.readFileSync(errFile, "utf8") : "");
// exec: the program itself is the pane's process, as when a user runs it
// (a shell around it would take Ctrl-C too); the pane stays after it exits.
tmux("-f", "/dev/null", "new-session", "-d", "-s", session, "-x", "160", "-y", "50",
     `exec ${program} chat -v --temp 0 -n 12 2>${errFile}`);
tmux("set-option", "-t", session, "remain-on-exit", "on");
// Ended, and through the program's own way out (its closing summary).
const ended = () => tmux("display-message", "-p", "-t", session, "#{pane_dead}").trim() === "1" &&
    /\nstop: [^\n]*KV cache/.test(errText());
try {
    await waitFor(() => /^>/m.test(pane()), "the first prompt");
    tmux("send-keys", "-t", session, user1.content, "Enter");
    await waitFor(() => generated(errText()).length >= 1, "the first answer");
    tmux("send-keys", "-t", session, user2.content, "Enter");
    await waitFor(() => generated(errText()).length >= 2, "the second answer");
    const tt = turns(errText());
    check(tt.length === 2 && tt[1].evaluated === expectSecond, `terminal: turn 2 evaluates ${tt[1]?.evaluated} new tokens`);
    tmux("send-keys", "-t", session, "/exit", "Enter");
    check(await waitFor(ended, "exit"), "terminal: /exit ends the program");
    // A long answer (no -n limit) interrupted with Ctrl-C; the program asks again.
    tmux("kill-session", "-t", session);
    tmux("-f", "/dev/null", "new-session", "-d", "-s", session, "-x", "160", "-y", "50",
         `exec ${program} chat -v --temp 0 -n 2000 --ctx 4096 2>${errFile}`);
    tmux("set-option", "-t", session, "remain-on-exit", "on");
    await waitFor(() => /^>/m.test(pane()), "the prompt");
    tmux("send-keys", "-t", session, "Tell me a long story", "Enter");
    await waitFor(() => turns(errText()).length >= 1, "the long answer to start");
    await sleep(100);
    tmux("send-keys", "-t", session, "C-c");
    await waitFor(() => generated(errText()).length >= 1, "the answer to stop");
    const stopped = generated(errText())[0];
    check(stopped?.stop === "interrupted" && pane().includes("[interrupted]"),
          `terminal: Ctrl-C stops the answer (${JSON.stringify(stopped)})`);
    // The next answer starts (its prompt evaluated) and ends on a second
    // Ctrl-C: waiting for it to finish would mean 2000 tokens of a random
    // model, longer than any fair wait on a loaded machine.
    tmux("send-keys", "-t", session, "Hello", "Enter");
    await waitFor(() => turns(errText()).length >= 2, "the answer after Ctrl-C to start");
    await sleep(100);
    if (generated(errText()).length < 2)
        tmux("send-keys", "-t", session, "C-c");
    check(await waitFor(() => generated(errText()).length >= 2, "an answer after Ctrl-C"),
          "terminal: the program answers again after Ctrl-C");
    await waitFor(() => /^> *$/m.test(pane().trimEnd().split("\n").at(-1)), "the prompt");
    tmux("send-keys", "-t", session, "C-d");
    check(await waitFor(ended, "exit"), "terminal: Ctrl-D ends it");
} finally {
    try { tmux("kill-server"); } catch {}
}
finish();
