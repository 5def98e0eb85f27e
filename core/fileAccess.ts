// Checks that look at other files (a recipe's data and model folder) read them through this interface,
// so core/ stays a pure function of its inputs and tests can hand in a folder of their choosing.

export interface FileAccess {
  /** The file's text, or undefined when it does not exist or cannot be read. */
  readText(path: string): string | undefined;
  exists(path: string): boolean;
  isDirectory(path: string): boolean;
  /** Entry names in a folder; empty when it is not a folder. */
  listDir(path: string): string[];
  /** The Hugging Face hub cache folder (core/hubCache.ts), where Hub model ids are looked up; absent: none. */
  hubCache?(): string;
  /** The Ollama model store (core/ollamaStore.ts), where Ollama names are looked up; absent: none. */
  ollamaStore?(): string;
}
