// What the recipe checker can tell about a reward module (`rewards: [{file: ...}]`) from its text
// alone, never running it: whether it parses, and whether it exports a function the engine's sandbox
// would call (daemon/engine/rewards/sandboxWorker.ts: `exports.default` when that is a function,
// else `module.exports` itself). TypeScript's parser is the one the engine transpiles with, so a
// syntax error here is one there. Only a module that certainly exports no function is reported;
// anything decided at run time (`export default makeReward()`, `Object.assign(module.exports, ...)`)
// passes.

import type * as TS from 'typescript';
import type { Range } from '../diagnostics.ts';

/** The extensions a reward module may have (the engine transpiles each to CommonJS). */
export const REWARD_MODULE_EXTENSIONS = ['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts'] as const;

export interface RewardModuleFacts {
  /** The first syntax error, placed in the module. */
  syntaxError?: { message: string; range: Range };
  /**
   * Set when the module exports no function: what it exports instead (`its default export is an
   * object`), where, and the names it exports.
   */
  noFunction?: { instead?: string; at?: Range; names: string[] };
}

/** True when `path` has an extension the engine loads. */
export function isRewardModulePath(path: string): boolean {
  return REWARD_MODULE_EXTENSIONS.some((ext) => path.toLowerCase().endsWith(ext));
}

let compiler: typeof TS | undefined;

/**
 * TypeScript, loaded on the first reward module checked. The compiler is megabytes of code: a static
 * import would evaluate it whenever a bundle that checks recipes starts (every CLI command), while a
 * `require` in a function body stays lazy under tsx and in the esbuild bundles alike.
 */
function typescript(): typeof TS {
  return (compiler ??= require('typescript') as typeof TS);
}

const cache = new Map<string, { text: string; facts: RewardModuleFacts }>();
const CACHE_SIZE = 16;

/** Parse `text` (the module at `path`) once per content: a recipe is re-checked on every keystroke. */
export function rewardModuleFacts(path: string, text: string): RewardModuleFacts {
  const hit = cache.get(path);
  if (hit && hit.text === text) return hit.facts;
  const facts = analyse(path, text);
  cache.delete(path);
  cache.set(path, { text, facts });
  if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!);
  return facts;
}

function analyse(path: string, text: string): RewardModuleFacts {
  const ts = typescript();
  const lower = path.toLowerCase();
  const kind = /\.[cm]?ts$/.test(lower) ? ts.ScriptKind.TS : ts.ScriptKind.JS;
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, true, kind);
  const error = syntaxError(ts, source);
  if (error) return { syntaxError: error };
  const exported = exportsOf(ts, source);
  return exported ? { noFunction: exported } : {};
}

/**
 * The parser's first error, plus the grammar checks the engine's transpileModule also makes (type
 * annotations in a .js file): a one-file program with no libraries, asked for syntax only.
 */
function syntaxError(ts: typeof TS, source: TS.SourceFile): RewardModuleFacts['syntaxError'] {
  const host: TS.CompilerHost = {
    getSourceFile: (name) => (name === source.fileName ? source : undefined),
    writeFile: () => undefined,
    getDefaultLibFileName: () => 'lib.d.ts',
    useCaseSensitiveFileNames: () => true,
    getCanonicalFileName: (name) => name,
    getCurrentDirectory: () => '',
    getNewLine: () => '\n',
    fileExists: (name) => name === source.fileName,
    readFile: () => undefined,
  };
  const program = ts.createProgram({ rootNames: [source.fileName], options: { allowJs: true, noLib: true, noResolve: true, target: ts.ScriptTarget.ES2022 }, host });
  const first = program.getSyntacticDiagnostics(source).find((d) => d.category === ts.DiagnosticCategory.Error);
  if (!first) return undefined;
  const start = first.start ?? 0;
  return {
    message: ts.flattenDiagnosticMessageText(first.messageText, ' ').replace(/\.$/, ''),
    range: rangeIn(source, start, start + (first.length ?? 0)),
  };
}

function rangeIn(source: TS.SourceFile, start: number, end: number): Range {
  return { start: source.getLineAndCharacterOfPosition(start), end: source.getLineAndCharacterOfPosition(end) };
}

/** A value's kind as far as the text shows: a function, something only known at run time, or a named non-function. */
type Judged = { kind: 'function' } | { kind: 'unknown' } | { kind: 'value'; what: string };
const FUNCTION: Judged = { kind: 'function' };
const UNKNOWN: Judged = { kind: 'unknown' };
const value = (what: string): Judged => ({ kind: 'value', what });

/**
 * What the module exports, replayed top to bottom as its CommonJS form would run: `def` is
 * `exports.default`, `whole` what `module.exports` was replaced with. Undefined when a function is
 * (or may be) exported; else what is exported instead.
 */
function exportsOf(ts: typeof TS, source: TS.SourceFile): RewardModuleFacts['noFunction'] {
  const names: string[] = [];
  let def: Judged | undefined;
  let defAt: TS.Node | undefined;
  let whole: Judged | undefined;
  let dynamic = false;
  const judge = (expr: TS.Expression) => judgeExpression(ts, source, expr, 0);
  const handled = new Set<TS.Node>();

  for (const statement of source.statements) {
    const modifiers = ts.canHaveModifiers(statement) ? (ts.getModifiers(statement) ?? []) : [];
    const isExported = modifiers.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    const isDefault = modifiers.some((m) => m.kind === ts.SyntaxKind.DefaultKeyword);
    if (ts.isExportAssignment(statement)) {
      handled.add(statement);
      const judged = judge(statement.expression);
      if (statement.isExportEquals) {
        whole = judged;
        def = undefined;
      } else def = judged;
      defAt = statement;
    } else if ((ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement)) && isExported) {
      if (isDefault) {
        def = FUNCTION;
        defAt = statement;
      } else if (statement.name) names.push(statement.name.text);
    } else if (ts.isVariableStatement(statement) && isExported) {
      for (const d of statement.declarationList.declarations) if (ts.isIdentifier(d.name)) names.push(d.name.text);
    } else if (ts.isExportDeclaration(statement)) {
      if (statement.isTypeOnly) continue;
      const clause = statement.exportClause;
      if (clause && ts.isNamedExports(clause)) {
        for (const element of clause.elements) {
          if (element.isTypeOnly) continue;
          if (element.name.text !== 'default') {
            names.push(element.name.text);
            continue;
          }
          // `export { reward as default }`, or a re-export from another module (unknown here).
          const local = element.propertyName ?? element.name;
          def = statement.moduleSpecifier || !ts.isIdentifier(local) ? UNKNOWN : judgeName(ts, source, local.text, 0);
          defAt = element;
        }
      } else if (clause) names.push(clause.name.text);
    } else if (ts.isExpressionStatement(statement) && ts.isBinaryExpression(statement.expression) && statement.expression.operatorToken.kind === ts.SyntaxKind.EqualsToken) {
      const { left, right } = statement.expression;
      const target = exportTarget(ts, left);
      if (target === undefined) continue;
      handled.add(statement);
      if (target === 'module.exports') {
        whole = judge(right);
        const inner = unwrap(ts, right);
        def = ts.isObjectLiteralExpression(inner) ? defaultProperty(ts, source, inner) : whole.kind === 'unknown' ? UNKNOWN : undefined;
        if (ts.isObjectLiteralExpression(inner)) names.push(...memberNames(ts, inner));
      } else if (target === 'default') def = judge(right);
      else names.push(target);
      defAt = target === 'default' || target === 'module.exports' ? statement : defAt;
    }
  }
  // Any other use of `exports` (Object.defineProperty, an assignment inside a block) is beyond a
  // static reading: assume it may export the function.
  const visit = (node: TS.Node): void => {
    if (dynamic || handled.has(node)) return;
    if (ts.isIdentifier(node) && node.text === 'exports' && !(ts.isPropertyAssignment(node.parent) && node.parent.name === node)) dynamic = true;
    else ts.forEachChild(node, visit);
  };
  visit(source);

  if (dynamic || def?.kind === 'function' || def?.kind === 'unknown' || whole?.kind === 'function' || whole?.kind === 'unknown') return undefined;
  const instead = def?.kind === 'value' ? `its default export is ${def.what}` : whole?.kind === 'value' ? `module.exports is ${whole.what}` : undefined;
  return { ...(instead ? { instead } : {}), ...(defAt && instead ? { at: rangeIn(source, defAt.getStart(source), defAt.getEnd()) } : {}), names: [...new Set(names)] };
}

/** `module.exports` itself, `default` for `exports.default` / `module.exports.default`, another export's name, or undefined. */
function exportTarget(ts: typeof TS, left: TS.Expression): string | undefined {
  const isModuleExports = (e: TS.Expression) => ts.isPropertyAccessExpression(e) && ts.isIdentifier(e.expression) && e.expression.text === 'module' && e.name.text === 'exports';
  if (isModuleExports(left)) return 'module.exports';
  if (!ts.isPropertyAccessExpression(left)) return undefined;
  const on = left.expression;
  if ((ts.isIdentifier(on) && on.text === 'exports') || isModuleExports(on)) return left.name.text;
  return undefined;
}

/** An object literal's `default` member, as `module.exports = { default: reward }` exports it. */
function defaultProperty(ts: typeof TS, source: TS.SourceFile, object: TS.ObjectLiteralExpression): Judged | undefined {
  let found: Judged | undefined;
  for (const p of object.properties) {
    if (ts.isSpreadAssignment(p)) found = UNKNOWN;
    const name = p.name && (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name)) ? p.name.text : undefined;
    if (name !== 'default') continue;
    if (ts.isMethodDeclaration(p)) found = FUNCTION;
    else if (ts.isPropertyAssignment(p)) found = judgeExpression(ts, source, p.initializer, 0);
    else found = UNKNOWN;
  }
  return found;
}

/** The named members of `module.exports = { ... }`, for the message. */
function memberNames(ts: typeof TS, object: TS.ObjectLiteralExpression): string[] {
  return object.properties.flatMap((p) => (p.name && (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name)) ? [p.name.text] : []));
}

function unwrap(ts: typeof TS, expr: TS.Expression): TS.Expression {
  let e = expr;
  while (ts.isParenthesizedExpression(e) || ts.isAsExpression(e) || ts.isSatisfiesExpression(e) || ts.isNonNullExpression(e) || ts.isTypeAssertionExpression(e)) e = e.expression;
  return e;
}

function judgeExpression(ts: typeof TS, source: TS.SourceFile, expr: TS.Expression, depth: number): Judged {
  const e = unwrap(ts, expr);
  if (ts.isArrowFunction(e) || ts.isFunctionExpression(e) || ts.isClassExpression(e)) return FUNCTION;
  if (ts.isObjectLiteralExpression(e)) return value('an object');
  if (ts.isArrayLiteralExpression(e)) return value('an array');
  if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e) || ts.isTemplateExpression(e)) return value('a string');
  if (ts.isNumericLiteral(e) || ts.isBigIntLiteral(e)) return value('a number');
  if (e.kind === ts.SyntaxKind.TrueKeyword || e.kind === ts.SyntaxKind.FalseKeyword) return value('a boolean');
  if (e.kind === ts.SyntaxKind.NullKeyword) return value('null');
  if (ts.isRegularExpressionLiteral(e)) return value('a RegExp');
  if (ts.isIdentifier(e)) return e.text === 'undefined' ? value('undefined') : judgeName(ts, source, e.text, depth);
  return UNKNOWN;
}

/** What a top-level name is bound to: a function or class declaration, a `const` with a judged initializer; imports are unknown. */
function judgeName(ts: typeof TS, source: TS.SourceFile, name: string, depth: number): Judged {
  if (depth > 8) return UNKNOWN;
  let found: Judged = UNKNOWN;
  for (const statement of source.statements) {
    if ((ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement)) && statement.name?.text === name) return FUNCTION;
    if (ts.isVariableStatement(statement)) {
      for (const d of statement.declarationList.declarations) {
        if (ts.isIdentifier(d.name) && d.name.text === name) {
          // `let` may be reassigned before it is exported: only a `const` is judged by its initializer.
          const constant = (statement.declarationList.flags & ts.NodeFlags.Const) !== 0;
          found = d.initializer && constant ? judgeExpression(ts, source, d.initializer, depth + 1) : UNKNOWN;
        }
      }
    }
  }
  return found;
}
