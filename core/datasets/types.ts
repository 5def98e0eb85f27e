// The vocabulary shared by detection, rules, the language server, the CLI and the trainer.

/** Record formats a line can be in (DATASETS.md). */
export type RecordFormat =
  | 'text'
  | 'messages'
  | 'prompt-completion'
  | 'alpaca'
  | 'sharegpt'
  | 'preference-explicit'
  | 'preference-implicit'
  | 'prompt-only'
  | 'unpaired-preference';

/** Whether string fields hold plain text (`standard`) or message lists (`conversational`). */
export type RecordStyle = 'standard' | 'conversational';

/** What a whole file is for; decides which formats are acceptable and which checks apply. */
export type DatasetKind = 'sft' | 'preference' | 'prompt-only' | 'text' | 'unpaired-preference';

export type Role = 'system' | 'user' | 'assistant' | 'tool';

export interface Message {
  role: Role;
  /** Plain text; OpenAI-style content parts are flattened to their text for checks and training. */
  content: string;
  tool_calls?: unknown[];
  /** Other fields the template may read (name, tool_call_id, reasoning_content, ...). */
  [extra: string]: unknown;
}

/** Either a plain string (standard) or a list of messages (conversational). */
export type Turns = string | Message[];

/**
 * Every accepted format normalised to one of these shapes. This is what tokenization and training
 * consume, so the editor's hover and the trainer see the same thing.
 */
export type NormalizedRecord =
  | { format: 'text'; text: string }
  /** messages, alpaca and sharegpt all become a conversation; loss on assistant turns. */
  | { format: 'conversation'; messages: Message[] }
  /** Loss on the completion only. */
  | { format: 'prompt-completion'; prompt: Turns; completion: Turns }
  /** Implicit-prompt pairs are split into the shared prompt and the differing continuations. */
  | { format: 'preference'; prompt: Turns; chosen: Turns; rejected: Turns }
  | { format: 'prompt-only'; prompt: Turns; extra: Record<string, unknown> }
  | { format: 'unpaired-preference'; prompt: Turns; completion: Turns; label: boolean };
