// Generates examples/sft.jsonl: a task the built-in tiny byte-level model can visibly learn in about
// a minute on a laptop CPU. Each record asks to shout a made-up six-letter word ("Shout fomaki" ->
// "FOMAKI!"). Every word has the same length, so each answer letter sits a fixed distance after the
// letter it copies: a rotary-position model learns to look back that far and map the byte to its
// capital within a few hundred steps, and anyone can check the answers at a glance in the samples.
// Deterministic (seeded), no duplicate words. Run: node examples/make_sft.mjs > examples/sft.jsonl
let state = 20261121;
function rand() {
  // mulberry32
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const consonants = 'bcdfghjklmnprstvwz'.split('');
const vowels = 'aeiou'.split('');
const count = Number(process.argv[2] ?? 400);
const seen = new Set();
const lines = [];
while (lines.length < count) {
  let word = '';
  for (let i = 0; i < 3; i++) word += pick(consonants) + pick(vowels);
  if (seen.has(word)) continue;
  seen.add(word);
  lines.push(JSON.stringify({ messages: [{ role: 'user', content: `Shout ${word}` }, { role: 'assistant', content: `${word.toUpperCase()}!` }] }));
}
process.stdout.write(lines.join('\n') + '\n');
