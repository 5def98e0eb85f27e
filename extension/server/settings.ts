// The one place the server turns the client's `anneal.*` configuration into typed settings and
// answers "what kind of dataset is this file?" from the `anneal.datasets.kinds` globs.
import { minimatch } from 'minimatch';
import { fileURLToPath } from 'node:url';
import type { DatasetKind } from '../../core/datasets/types.ts';
import { defaultServerSettings, type ServerSettings } from '../../core/protocol/lsp.ts';

const kinds: readonly DatasetKind[] = ['sft', 'preference', 'prompt-only', 'text', 'unpaired-preference', 'stepwise-supervision'];

/** Reads the `anneal` configuration section (as VS Code nests it) into settings, ignoring ill-typed values. */
export function settingsFromSection(section: unknown, base: ServerSettings = defaultServerSettings): ServerSettings {
  const out: ServerSettings = { ...base, datasetKinds: { ...base.datasetKinds } };
  if (!isObject(section)) return out;
  const datasets = section['datasets'];
  if (isObject(datasets) && isObject(datasets['kinds'])) {
    out.datasetKinds = {};
    for (const [glob, kind] of Object.entries(datasets['kinds'])) {
      if (typeof kind === 'string' && (kinds as readonly string[]).includes(kind)) out.datasetKinds[glob] = kind as DatasetKind;
    }
  }
  const model = section['model'];
  if (isObject(model) && typeof model['path'] === 'string') out.modelPath = model['path'].trim();
  const diagnostics = section['diagnostics'];
  if (isObject(diagnostics) && typeof diagnostics['maxPerFile'] === 'number' && diagnostics['maxPerFile'] >= 1) {
    out.maxDiagnosticsPerFile = Math.floor(diagnostics['maxPerFile']);
  }
  if (typeof section['maxLength'] === 'number' && section['maxLength'] >= 0) out.maxLength = Math.floor(section['maxLength']);
  return out;
}

/** Merges partial settings (e.g. from initializationOptions) over a base. */
export function mergeSettings(base: ServerSettings, partial: Partial<ServerSettings> | undefined): ServerSettings {
  if (!partial) return base;
  return settingsFromSection(
    {
      datasets: { kinds: partial.datasetKinds ?? base.datasetKinds },
      model: { path: partial.modelPath ?? base.modelPath },
      diagnostics: { maxPerFile: partial.maxDiagnosticsPerFile ?? base.maxDiagnosticsPerFile },
      maxLength: partial.maxLength ?? base.maxLength,
    },
    base,
  );
}

/**
 * The kind the settings force for a document, or undefined to let the checker detect it. A glob
 * without a slash matches the file name (like `files.associations`); others match the path
 * relative to a workspace folder, or the absolute path.
 */
export function kindForUri(uri: string, settings: ServerSettings, workspaceFolders: string[]): DatasetKind | undefined {
  const path = uriToPath(uri);
  const name = path.slice(path.lastIndexOf('/') + 1);
  const candidates = [path];
  for (const folder of workspaceFolders) {
    const root = uriToPath(folder).replace(/\/$/, '');
    if (path.startsWith(root + '/')) candidates.push(path.slice(root.length + 1));
  }
  for (const [glob, kind] of Object.entries(settings.datasetKinds)) {
    const subjects = glob.includes('/') ? candidates : [name];
    if (subjects.some((s) => minimatch(s, glob, { dot: true, nocase: process.platform === 'win32' }))) return kind;
  }
  return undefined;
}

/** A file URI's path with forward slashes; other schemes keep their path part. */
export function uriToPath(uri: string): string {
  if (uri.startsWith('file:')) {
    try {
      return fileURLToPath(uri).replace(/\\/g, '/');
    } catch {
      // fall through to the raw path
    }
  }
  try {
    return decodeURIComponent(new URL(uri).pathname);
  } catch {
    return uri;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
