// A user's reward module (.js, .mjs, .cjs, .ts, .mts, .cts) as CommonJS with an inline source map,
// ready for the sandbox worker to compile under its own file name. One path for every extension:
// Node 20 cannot run .ts and treats `export default` in a .js outside a `"type": "module"` package as
// a syntax error, and compiling CommonJS under the real file name keeps relative `require`s, packages
// and stack traces pointing at the user's file. TypeScript's transpileModule does it without a type
// check (types are the user's editor's business) and reports syntax errors with their line.
import { readFile } from 'node:fs/promises';
import { RewardError } from './rewardCheck.ts';

/** The extensions a reward module may have. */
export const REWARD_MODULE_EXTENSIONS = ['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts'] as const;

/** Reads and transpiles the module at `file` (absolute); a missing file or a syntax error is a RewardError. */
export async function transpileRewardModule(file: string): Promise<string> {
  if (!REWARD_MODULE_EXTENSIONS.some((ext) => file.endsWith(ext))) {
    throw new RewardError(`Reward module ${file} is not a JavaScript or TypeScript file; use one of ${REWARD_MODULE_EXTENSIONS.join(', ')}.`, file, 'load');
  }
  let source: string;
  try {
    source = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a folder' : `cannot be read (${code ?? String(err)})`;
    throw new RewardError(`Reward module ${file} ${why}.`, file, 'load');
  }
  // Loaded on first use: only runs with a user reward pay for the compiler.
  const ts = (await import('typescript')).default;
  const result = ts.transpileModule(source, {
    fileName: file,
    reportDiagnostics: true,
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2022,
      esModuleInterop: true,
      allowJs: true,
      inlineSourceMap: true,
      inlineSources: true,
    },
  });
  const first = result.diagnostics?.find((d) => d.category === ts.DiagnosticCategory.Error);
  if (first) {
    const text = ts.flattenDiagnosticMessageText(first.messageText, ' ');
    const where = first.file && first.start !== undefined ? first.file.getLineAndCharacterOfPosition(first.start) : undefined;
    const at = where ? ` at line ${where.line + 1}, column ${where.character + 1}` : '';
    throw new RewardError(`Reward module ${file} has a syntax error${at}: ${text.replace(/\.$/, '')}.`, file, 'load');
  }
  return result.outputText;
}
