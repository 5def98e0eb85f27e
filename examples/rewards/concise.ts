// A user-written GRPO reward (TRL's signature): prefer a reply that states its result plainly.
// 1 for a single short line ending in a number ("12 + 9 = 21", "The answer is 21."), 0.5 for a
// short reply that contains a number somewhere, 0 for anything rambling. It says nothing about
// correctness (answer_match does): the two together reward a right answer, said plainly.
interface Message {
  role: string;
  content: string;
}

export default function concise({ completions }: { completions: (string | Message[])[] }): number[] {
  return completions.map((completion) => {
    const text = (typeof completion === 'string' ? completion : completion.map((m) => m.content).join('\n')).trim();
    const words = text.split(/\s+/).filter(Boolean).length;
    if (!text.includes('\n') && words <= 12 && /\d+\.?$/.test(text)) return 1;
    if (words <= 20 && /\d/.test(text)) return 0.5;
    return 0;
  });
}
