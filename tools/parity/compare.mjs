// Compares two logits files (float32 LE, rows of n_vocab): ours against
// llama.cpp's. Prints, per the parity criteria:
//   top1   agreement at every position where llama.cpp's top two differ by
//          more than 0.01 in log-probability
//   maxdlp max |delta log p| over llama.cpp's 10 most likely tokens
import fs from "node:fs";

export function readLogits(path, nVocab) {
    const buf = fs.readFileSync(path);
    if (buf.length % (4 * nVocab) !== 0)
        throw new Error(`${path}: ${buf.length} bytes is not a whole number of ${nVocab}-logit rows`);
    const f = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
    const rows = [];
    for (let i = 0; i < f.length; i += nVocab)
        rows.push(f.subarray(i, i + nVocab));
    return rows;
}

function logSoftmax(row) {
    let max = -Infinity;
    for (const x of row) if (x > max) max = x;
    let sum = 0;
    for (const x of row) sum += Math.exp(x - max);
    const lse = max + Math.log(sum);
    return Array.from(row, (x) => x - lse);
}

export function compare(ours, ref, topN = 10) {
    if (ours.length !== ref.length)
        throw new Error(`row counts differ: ours ${ours.length}, llama.cpp ${ref.length}`);
    let maxDelta = 0, checked = 0, agree = 0, worstPos = -1;
    const disagreements = [];
    for (let i = 0; i < ref.length; i++) {
        const a = logSoftmax(ours[i]), b = logSoftmax(ref[i]);
        const order = b.map((v, t) => [v, t]).sort((x, y) => y[0] - x[0]);
        for (let k = 0; k < topN && k < order.length; k++) {
            const t = order[k][1];
            const d = Math.abs(a[t] - b[t]);
            if (!(d <= maxDelta)) { maxDelta = d; worstPos = i; }
        }
        if (order[0][0] - order[1][0] > 0.01) {
            checked++;
            let best = 0;
            for (let t = 1; t < a.length; t++) if (a[t] > a[best]) best = t;
            if (best === order[0][1]) agree++;
            else disagreements.push(i);
        }
    }
    return {positions: ref.length, checked, agree, maxDelta, worstPos, disagreements};
}

if (import.meta.url === `file://${process.argv[1]}`) {
    const [oursPath, refPath, nVocab] = process.argv.slice(2);
    const r = compare(readLogits(oursPath, Number(nVocab)), readLogits(refPath, Number(nVocab)));
    console.log(JSON.stringify(r));
}
