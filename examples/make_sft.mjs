// Generates examples/sft.jsonl: a task the built-in tiny byte-level model can visibly learn in about
// a minute on a laptop CPU. Each record asks to spell a made-up word in capitals, letters separated
// by dashes ("Spell fomaki" -> "F-O-M-A-K-I"): a per-letter copy-and-transform that a small
// transformer picks up quickly, with an answer anyone can check at a glance in the sample panel.
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
  const syllables = 2 + Math.floor(rand() * 3);
  let word = '';
  for (let i = 0; i < syllables; i++) word += pick(consonants) + pick(vowels);
  if (seen.has(word)) continue;
  seen.add(word);
  const answer = word.toUpperCase().split('').join('-');
  lines.push(JSON.stringify({ messages: [{ role: 'user', content: `Spell ${word}` }, { role: 'assistant', content: answer }] }));
}
process.stdout.write(lines.join('\n') + '\n');
