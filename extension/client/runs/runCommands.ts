// Commands on runs: open the dashboard or samples, stop, resume, reveal the output folder, delete.
// Each takes a Runs view item, a run id, or nothing (then it picks or asks).
import { existsSync } from 'node:fs';
import * as vscode from 'vscode';
import { DeleteRun, ResumeRun, StopRun } from '../../../core/protocol/daemon.ts';
import { DashboardPanel } from '../panels/dashboardPanel.ts';
import { SamplesPanel } from '../panels/samplesPanel.ts';
import type { Services } from '../services.ts';
import { pickRun, runIdOf } from '../train/runTargets.ts';
import { trustedToRun } from '../train/trust.ts';
import { rewardModules } from '../../../core/recipe/userCode.ts';
import { OPEN_DASHBOARD_COMMAND } from '../daemonStatusBar.ts';

export const OPEN_SAMPLES_COMMAND = 'anneal.openSamples';
export const STOP_RUN_COMMAND = 'anneal.stopRun';
export const RESUME_RUN_COMMAND = 'anneal.resumeRun';
export const DELETE_RUN_COMMAND = 'anneal.deleteRun';
export const REVEAL_OUTPUT_COMMAND = 'anneal.revealRunOutput';
export const REFRESH_RUNS_COMMAND = 'anneal.refreshRuns';

/** The connected client, or undefined after telling the user how to get one. */
function clientOr(services: Services, what: string) {
  const client = services.connection.client;
  if (!client) {
    void vscode.window.showWarningMessage(
      `Anneal: cannot ${what}: ${services.connection.reason ?? 'the daemon is not running'}. Run "Anneal: Start Daemon" first.`,
    );
  }
  return client;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String((error as { message?: unknown })?.message ?? error);
}

/** Runs to show in a panel: the argument, else the running/newest run. */
function runsToShow(services: Services, arg: unknown): string[] | undefined {
  const id = runIdOf(arg) ?? services.runs.current()?.id;
  if (!id) {
    void vscode.window.showInformationMessage('Anneal: no runs yet. Open a dataset and run "Anneal: Train SFT"; the dashboard opens with it.');
    return undefined;
  }
  return [id];
}

export function registerRunCommands(services: Services): vscode.Disposable[] {
  const { runs, connection, log, context } = services;
  const deps = { context, connection, log };
  return [
    vscode.commands.registerCommand(OPEN_DASHBOARD_COMMAND, async (arg?: unknown) => {
      if (!connection.client && !runIdOf(arg)) await connection.ensure(false).catch(() => undefined);
      const ids = runsToShow(services, arg);
      if (ids) DashboardPanel.show(deps, ids);
    }),
    vscode.commands.registerCommand(OPEN_SAMPLES_COMMAND, async (arg?: unknown) => {
      if (!connection.client && !runIdOf(arg)) await connection.ensure(false).catch(() => undefined);
      const ids = runsToShow(services, arg);
      if (ids) SamplesPanel.show(deps, ids);
    }),
    vscode.commands.registerCommand(STOP_RUN_COMMAND, async (arg?: unknown) => {
      const client = clientOr(services, 'stop a run');
      if (!client) return;
      const run = await pickRun(runs, arg, ['queued', 'running'], 'stop');
      if (!run) return;
      try {
        const result = await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Window, title: `Anneal: stopping ${run.id}` },
          () => client.connection.sendRequest(StopRun.type, { runId: run.id }),
        );
        runs.upsert(result.run);
      } catch (error) {
        void vscode.window.showErrorMessage(`Anneal: could not stop ${run.id}: ${message(error)}`);
      }
    }),
    vscode.commands.registerCommand(RESUME_RUN_COMMAND, async (arg?: unknown) => {
      const start = !connection.remote;
      const client = connection.client ?? (await connection.ensure(start).catch(() => undefined)) ?? clientOr(services, 'resume a run');
      if (!client) return;
      const run = await pickRun(runs, arg, ['stopped', 'failed', 'interrupted'], 'resume');
      if (!run) return;
      // A run's rewards hold absolute paths already.
      if (!(await trustedToRun(`Run ${run.id}`, rewardModules(run.rewards, run.recipe ?? '')))) return;
      try {
        const result = await client.connection.sendRequest(ResumeRun.type, { runId: run.id });
        runs.upsert(result.run);
        void runs.watch(run.id);
        DashboardPanel.show(deps, [run.id]);
      } catch (error) {
        void vscode.window.showErrorMessage(`Anneal: could not resume ${run.id}: ${message(error)}`);
      }
    }),
    vscode.commands.registerCommand(DELETE_RUN_COMMAND, async (arg?: unknown) => {
      const client = clientOr(services, 'delete a run');
      if (!client) return;
      const run = await pickRun(runs, arg, ['completed', 'failed', 'stopped', 'interrupted'], 'delete');
      if (!run) return;
      const confirm = await vscode.window.showWarningMessage(
        `Delete run ${run.id}?`,
        { modal: true, detail: `Its folder (checkpoints, metrics, samples${run.outputDir ? `, and the output in ${run.outputDir}` : ''}) is removed. This cannot be undone.` },
        'Delete',
      );
      if (confirm !== 'Delete') return;
      try {
        await client.connection.sendRequest(DeleteRun.type, { runId: run.id });
        runs.remove(run.id);
      } catch (error) {
        void vscode.window.showErrorMessage(`Anneal: could not delete ${run.id}: ${message(error)}`);
      }
    }),
    vscode.commands.registerCommand(REVEAL_OUTPUT_COMMAND, async (arg?: unknown) => {
      const run = await pickRun(runs, arg, ['completed', 'stopped', 'failed', 'interrupted', 'running'], 'reveal the output of');
      if (!run) return;
      const dir = run.outputDir ?? run.checkpoint?.path;
      if (!dir || connection.remote || !existsSync(dir)) {
        const where = dir ? `${dir}${connection.remote ? ' on the daemon\'s machine' : ' (not written yet)'}` : 'not written yet';
        void vscode.window.showInformationMessage(`Anneal: the output of ${run.id} is ${where}.`);
        return;
      }
      try {
        await vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(dir));
      } catch {
        // Browsers (code-server) have no OS file manager: show the folder's path instead.
        await vscode.env.clipboard.writeText(dir);
        void vscode.window.showInformationMessage(`Anneal: the output of ${run.id} is in ${dir} (path copied).`);
      }
    }),
    vscode.commands.registerCommand(REFRESH_RUNS_COMMAND, async () => {
      if (!connection.client) await connection.ensure(false).catch(() => undefined);
      await runs.refresh();
    }),
  ];
}

/**
 * Tells the user when a run they are watching ends: failed (with the error), finished, interrupted. A
 * pipeline's stages are told as one: when the pipeline completes, halts (why, with the numbers) or fails.
 */
export function registerRunNotices(services: Services): vscode.Disposable {
  return vscode.Disposable.from(
    services.runs.onDidChangeStatus(async ({ run, previous }) => {
      if (previous === undefined) return;
      const name = `${run.stage.toUpperCase()} run ${run.id}`;
      if (run.pipeline && run.status !== 'interrupted') return;
      if (run.status === 'failed') {
        const choice = await vscode.window.showErrorMessage(`Anneal: ${name} failed: ${run.error ?? run.message ?? 'see its log'}.`, 'Open Dashboard', 'Resume');
        if (choice === 'Open Dashboard') await vscode.commands.executeCommand(OPEN_DASHBOARD_COMMAND, run.id);
        if (choice === 'Resume') await vscode.commands.executeCommand(RESUME_RUN_COMMAND, run.id);
      } else if (run.status === 'completed') {
        const choice = await vscode.window.showInformationMessage(`Anneal: ${name} finished at step ${run.step}.`, 'Open Dashboard', 'Reveal Output');
        if (choice === 'Open Dashboard') await vscode.commands.executeCommand(OPEN_DASHBOARD_COMMAND, run.id);
        if (choice === 'Reveal Output') await vscode.commands.executeCommand(REVEAL_OUTPUT_COMMAND, run.id);
      } else if (run.status === 'interrupted') {
        const choice = await vscode.window.showWarningMessage(`Anneal: ${name} was interrupted (the daemon stopped under it); resume continues from its last checkpoint.`, 'Resume');
        if (choice === 'Resume') await vscode.commands.executeCommand(RESUME_RUN_COMMAND, run.id);
      }
    }),
    services.runs.onDidChangePipelineStatus(async ({ pipeline }) => {
      // The daemon's message says why it ended and what its result is ("Completed: every stage passed…").
      const said = pipeline.message.toLowerCase().startsWith(pipeline.status);
      const text = `Anneal: pipeline ${pipeline.stages.map((s) => s.name).join(' → ')}${said ? '' : ` ${pipeline.status}`}: ${pipeline.message}`;
      const show = 'Show in Runs';
      let choice: string | undefined;
      if (pipeline.status === 'completed') choice = await vscode.window.showInformationMessage(text, show);
      else if (pipeline.status === 'halted') choice = await vscode.window.showWarningMessage(text, show);
      else if (pipeline.status === 'failed') choice = await vscode.window.showErrorMessage(text, show);
      if (choice === show) await vscode.commands.executeCommand('workbench.view.extension.anneal');
    }),
  );
}
