// What a user reward function may return, checked as TRL's GRPOTrainer would accept it:
// `torch.tensor(output, dtype=float32)` with None -> NaN. So a number (NaN included) or null per
// completion, booleans count as 1/0 (Python's bool is an int), and anything else is the user's bug,
// reported as one sentence naming the file. Pure: no worker, no fs.

/** Why a user reward failed: `load` before the first call (bad file), `call` for one call. */
export type RewardErrorKind = 'load' | 'call' | 'timeout' | 'memory' | 'closed';

/** A user reward's failure, its message one sentence naming the file; details (a stack) go to the log. */
export class RewardError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly kind: RewardErrorKind,
    readonly details?: string,
  ) {
    super(message);
    this.name = 'RewardError';
  }
}

/**
 * The worker's copy of a returned value: arrays and primitives as they are, anything that may not
 * cross a thread (functions, class instances) replaced by `{ $type }` naming what it was.
 */
export type ReturnedShape = unknown[] | { $type: string };

/** `typeof`, but telling null, arrays and class instances apart, for messages. */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') {
    const ctor = (value as object).constructor?.name;
    return ctor && ctor !== 'Object' ? `a ${ctor}` : 'an object';
  }
  if (value === undefined) return 'undefined';
  return `a ${typeof value}`;
}

function preview(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value) : describeType(value);
  return typeof value === 'string' ? `a string (${text})` : text;
}

/**
 * The rewards a call returned, one per completion: numbers, or null for "not scored" (NaN becomes
 * null). Throws a RewardError for a non-array, the wrong length, or a value that is not a number.
 */
export function checkRewards(returned: unknown, expected: number, file: string): (number | null)[] {
  if (!Array.isArray(returned)) {
    const what = returned !== null && typeof returned === 'object' && '$type' in returned ? String((returned as { $type: string }).$type) : describeType(returned);
    throw new RewardError(`Reward function ${file} returned ${what}, not an array with one number (or null) per completion.`, file, 'call');
  }
  if (returned.length !== expected) {
    throw new RewardError(`Reward function ${file} returned ${returned.length} reward${returned.length === 1 ? '' : 's'} for ${expected} completion${expected === 1 ? '' : 's'}; return one number (or null) per completion.`, file, 'call');
  }
  const out: (number | null)[] = new Array(expected);
  for (let i = 0; i < expected; i++) {
    const v: unknown = returned[i];
    if (v === null || (typeof v === 'number' && Number.isNaN(v))) out[i] = null;
    else if (typeof v === 'boolean') out[i] = v ? 1 : 0;
    else if (typeof v === 'number' && Number.isFinite(v)) out[i] = v;
    else if (typeof v === 'number') {
      throw new RewardError(`Reward function ${file} returned ${v} at index ${i}; return a finite number, or null for "not scored".`, file, 'call');
    } else {
      const what = v !== null && typeof v === 'object' && '$type' in v ? String((v as { $type: string }).$type) : preview(v);
      throw new RewardError(`Reward function ${file} returned ${what} at index ${i}; return a number, or null for "not scored".`, file, 'call');
    }
  }
  return out;
}
