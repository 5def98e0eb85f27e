// "Anneal: Export Run…" (`anneal.exportRun`): on a completed run, a pipeline's stage or its result (Runs
// view menu), or from the palette (a pick of the exportable runs and pipeline results). Asks the format
// (and the GGUF quantization), sends `runs/export` under a cancellable progress notification fed by
// `runs/exportProgress`, then offers to reveal what was written and, for a GGUF, copies the
// `ollama create` command. "Reveal in File Explorer" (`anneal.revealExport`) on the Runs view's exports.
import { existsSync } from 'node:fs';
import * as vscode from 'vscode';
import { ExportProgressNotification, ExportRun, type ExportRunResult } from '../../../core/protocol/daemon.ts';
import type { PipelineInfo } from '../../../core/protocol/pipelines.ts';
import type { RecipeExportRecord, RunInfo } from '../../../core/protocol/runs.ts';
import type { Services } from '../services.ts';
import { describeRun, exportable } from '../runs/runItem.ts';
import { runIdOf } from '../train/runTargets.ts';
import {
  exportDoneMessage,
  formatChoices,
  formatTitle,
  ollamaCreateCommand,
  pipelineResultTarget,
  quantChoices,
  runTarget,
  takesQuant,
  type ExportTarget,
} from './exportChoices.ts';

export const EXPORT_RUN_COMMAND = 'anneal.exportRun';
export const REVEAL_EXPORT_COMMAND = 'anneal.revealExport';
const REVEAL = 'Reveal';
const COPY_OLLAMA = 'Copy `ollama create` command';

const message = (error: unknown): string =>
  error instanceof Error ? error.message : String((error as { message?: unknown })?.message ?? error);

/** What a Runs view item (or a run id) exports: a run, a stage's run, or a pipeline's result. */
function targetOf(services: Services, arg: unknown): ExportTarget | undefined {
  const item = arg as { node?: { kind?: string }; pipeline?: PipelineInfo; run?: RunInfo } | undefined;
  const kind = item?.node?.kind;
  if ((kind === 'pipeline' || kind === 'result') && item?.pipeline) return pipelineResultTarget(item.pipeline, services.runs.runs);
  const id = runIdOf(arg);
  if (!id) return undefined;
  const run = services.runs.get(id);
  return run ? runTarget(run) : { run: id, label: `run ${id}` };
}

/** From the palette: the only candidate, or one the user picks among exportable runs and pipeline results. */
async function pickTarget(services: Services): Promise<ExportTarget | undefined> {
  const { runs } = services;
  const now = new Date();
  type Item = vscode.QuickPickItem & { target: ExportTarget };
  const items: Item[] = [];
  for (const p of runs.pipelines) {
    const target = pipelineResultTarget(p, runs.runs);
    if (target) items.push({ label: `$(star-full) Pipeline · ${p.stages.map((s) => s.name).join(' → ')}`, description: `result: ${p.result!.stage} · ${p.status}`, detail: p.id, target });
  }
  for (const run of runs.runs.filter(exportable)) {
    const d = describeRun(run, runs.extras(run.id), now);
    items.push({ label: d.label, description: `${run.status} · ${d.description}`, detail: run.id, target: runTarget(run) });
  }
  if (items.length === 0) {
    void vscode.window.showInformationMessage('Anneal: no run to export yet: a run exports once it completed (or stopped with a checkpoint).');
    return undefined;
  }
  if (items.length === 1) return items[0]!.target;
  return (await vscode.window.showQuickPick(items, { title: 'Anneal: export which run?', placeHolder: 'A completed run, or a pipeline\'s result' }))?.target;
}

/** Asks the format and (GGUF) quantization; undefined when the user backs out. */
async function pickFormat(target: ExportTarget): Promise<{ format: string; quant?: string } | undefined> {
  const format = await vscode.window.showQuickPick(
    formatChoices(target).map((c) => ({ label: c.label, description: c.format, detail: c.detail, format: c.format })),
    { title: `Anneal: export ${target.label} as…`, placeHolder: 'Format' },
  );
  if (!format) return undefined;
  if (!takesQuant(format.format)) return { format: format.format };
  const quant = await vscode.window.showQuickPick(
    quantChoices(format.format).map((q) => ({ label: q.label, description: q.description, quant: q.quant })),
    { title: `Anneal: ${format.label} of ${target.label}: which quantization?`, placeHolder: 'Quantization of the weight matrices' },
  );
  return quant ? { format: format.format, quant: quant.quant } : undefined;
}

/** Shows a folder or file in the OS file manager; in a browser (code-server), copies its path and says where it is. */
export async function revealPath(services: Services, path: string, what: string): Promise<void> {
  if (services.connection.remote || !existsSync(path)) {
    void vscode.window.showInformationMessage(`Anneal: ${what} is ${path}${services.connection.remote ? ' on the daemon\'s machine' : ' (not on this machine, or removed)'}.`);
    return;
  }
  try {
    await vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(path));
  } catch {
    await vscode.env.clipboard.writeText(path);
    void vscode.window.showInformationMessage(`Anneal: ${what} is ${path} (path copied).`);
  }
}

/** Sends runs/export with progress; the result, or undefined after saying why not. */
async function runExport(services: Services, target: ExportTarget, choice: { format: string; quant?: string }): Promise<ExportRunResult | undefined> {
  const client = services.connection.client ?? (await services.connection.ensure(!services.connection.remote).catch(() => undefined));
  if (!client) {
    void vscode.window.showErrorMessage(`Anneal: cannot export: ${services.connection.reason ?? 'the daemon is not running'}. Run "Anneal: Start Daemon" first.`);
    return undefined;
  }
  const what = formatTitle(choice.format, choice.quant);
  const progressToken = `export-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Anneal: exporting ${target.label} as ${what}`, cancellable: true },
    async (progress, token) => {
      let shown = 0;
      const listening = client.on(ExportProgressNotification.type, (p) => {
        if (p.token !== progressToken) return;
        const pct = p.total ? Math.min(100, Math.round(((p.done ?? 0) / p.total) * 100)) : undefined;
        const increment = pct !== undefined && pct > shown ? pct - shown : undefined;
        if (increment !== undefined) shown = pct!;
        progress.report({ message: p.message, ...(increment !== undefined ? { increment } : {}) });
      });
      try {
        const params = { run: target.run, format: choice.format as ExportRunResult['format'], progressToken, ...(choice.quant ? { quant: choice.quant } : {}) };
        return await client.connection.sendRequest(ExportRun.type, params, token);
      } catch (error) {
        if (token.isCancellationRequested) {
          void vscode.window.showInformationMessage(`Anneal: the ${what} export of ${target.label} was cancelled; nothing was written.`);
        } else {
          services.log.warn(`runs/export ${target.run} ${what} failed: ${message(error)}`);
          void vscode.window.showErrorMessage(`Anneal: could not export ${target.label} as ${what}: ${message(error)}`);
        }
        return undefined;
      } finally {
        listening.dispose();
      }
    },
  );
}

async function exportCommand(services: Services, arg?: unknown): Promise<void> {
  const target = arg === undefined ? await pickTarget(services) : targetOf(services, arg);
  if (!target) {
    if (arg !== undefined) void vscode.window.showInformationMessage('Anneal: this item has nothing to export yet (a pipeline exports its result once a stage passed its gates).');
    return;
  }
  const choice = await pickFormat(target);
  if (!choice) return;
  const result = await runExport(services, target, choice);
  if (!result) return;
  services.log.info(`Exported ${target.run} as ${formatTitle(result.format, result.quant)} to ${result.outDir}: ${result.files.join(', ')}`);
  const actions = result.gguf && result.files.includes('Modelfile') ? [REVEAL, COPY_OLLAMA] : [REVEAL];
  const picked = await vscode.window.showInformationMessage(exportDoneMessage(target, result), ...actions);
  if (picked === REVEAL) await revealPath(services, result.gguf ?? result.outDir, 'the export');
  if (picked === COPY_OLLAMA) {
    const command = ollamaCreateCommand(result);
    await vscode.env.clipboard.writeText(command);
    void vscode.window.showInformationMessage(`Anneal: copied \`${command}\`; run it in a terminal where Ollama is installed.`);
  }
}

export function registerExportCommands(services: Services): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand(EXPORT_RUN_COMMAND, (arg?: unknown) => exportCommand(services, arg)),
    vscode.commands.registerCommand(REVEAL_EXPORT_COMMAND, async (arg?: unknown) => {
      const record = (arg as { exportRecord?: RecipeExportRecord } | undefined)?.exportRecord;
      if (!record) {
        void vscode.window.showInformationMessage('Anneal: pick an export in the Runs view to reveal it.');
        return;
      }
      const gguf = record.files?.find((f) => /\.gguf$/i.test(f));
      await revealPath(services, gguf ? `${record.out}/${gguf}` : record.out, `the ${formatTitle(record.format, record.quant)} export`);
    }),
  ];
}
