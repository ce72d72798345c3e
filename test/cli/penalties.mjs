// The repetition penalties (--repeat-penalty, --presence-penalty,
// --frequency-penalty, --repeat-last-n) against llama.cpp's own penalties
// sampler (llama_sampler_init_penalties, through node-llama-cpp): the first
// greedy token after a prompt of >= 64 tokens (one batch on both sides, so
// the logits are the same), over the same recent tokens. Several prompts
// repeat words so that the penalties change the choice; the test also
// checks that they do in some cases (else it could not fail).
//
//   node test/cli/penalties.mjs --bin build/bin --work DIR
import {getLlama, LlamaLogLevel} from "node-llama-cpp";
import {check, compileModel, finish} from "./harness.mjs";
import {spawnSync} from "node:child_process";

const {gguf, program} = compileModel("penalties", {variant: "dense", chatTemplate: null});
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath: gguf, gpuLayers: 0});
const context = await model.createContext({contextSize: 512, batchSize: 512, threads: 2, sequences: 1});
const sequence = context.getSequence();

const firstToken = async (tokens, penalty) => {
    await sequence.clearHistory();
    const options = {temperature: 0};
    if (penalty)
        options.repeatPenalty = {punishTokens: tokens.slice(-penalty.lastN), maxPunishTokens: penalty.lastN,
            penalty: penalty.repeat, presencePenalty: penalty.presence, frequencyPenalty: penalty.frequency};
    for await (const t of sequence.evaluate(tokens, options))
        return t;
};
/// Our first greedy token: `OUT run -n 1 -v` prints the ids it generated.
const oursToken = (text, penalty) => {
    const args = ["run", "-p", text, "-n", "1", "--temp", "0", "-v", "--no-display-prompt"];
    if (penalty)
        args.push("--repeat-penalty", String(penalty.repeat), "--presence-penalty", String(penalty.presence),
                  "--frequency-penalty", String(penalty.frequency), "--repeat-last-n", String(penalty.lastN));
    const r = spawnSync(program, args);
    return Number(/generated tokens: (\d+)/.exec(r.stderr.toString())?.[1]);
};

const words = ["the", "quick", "brown", "fox", "hello", "world", "model", "program"];
const penalties = [
    {repeat: 1.5, presence: 0, frequency: 0, lastN: 64},
    {repeat: 1.0, presence: 1.5, frequency: 0, lastN: 64},
    {repeat: 1.0, presence: 0, frequency: 0.8, lastN: 64},
    {repeat: 1.3, presence: 0.5, frequency: 0.5, lastN: 16},
];
// A prompt the penalties matter for: a few words and then the model's own
// greedy continuation, in which a random model repeats itself, so that its
// next choice is often a token it has just used.
const promptFor = async (k) => {
    const seed = Array.from({length: 8}, (_, i) => words[(i * (k + 1) + k) % words.length]).join(" ");
    await sequence.clearHistory();
    const generated = [];
    for await (const t of sequence.evaluate([model.tokens.bos, ...model.tokenize(seed, false)], {temperature: 0})) {
        generated.push(t);
        if (generated.length === 80) break;
    }
    return seed + model.detokenize(generated);
};
let changed = 0, cases = 0;
for (let k = 0; k < words.length; k++) {
    const text = await promptFor(k);
    const tokens = [model.tokens.bos, ...model.tokenize(text, false)];
    const penalty = penalties[k % penalties.length];
    const theirsPlain = await firstToken(tokens, null), theirs = await firstToken(tokens, penalty);
    const mine = oursToken(text, penalty), minePlain = oursToken(text, null);
    cases++;
    if (theirs !== theirsPlain) changed++;
    check(mine === theirs && minePlain === theirsPlain,
          `case ${k} (${tokens.length} tokens, ${JSON.stringify(penalty)}): ours ${minePlain} -> ${mine}, llama.cpp ${theirsPlain} -> ${theirs}`);
}
check(changed > 0, `the penalties change the greedy token in ${changed} of ${cases} cases`);
await context.dispose();
await model.dispose();
finish();
