// Daemon commands: start, stop, show its log, set the remote daemon's token, and the quick pick the
// status bar opens when the daemon is down.
import { existsSync } from 'node:fs';
import * as vscode from 'vscode';
import { DAEMON_ACTIONS_COMMAND } from '../daemonStatusBar.ts';
import type { Services } from '../services.ts';
import { REMOTE_TOKEN_SECRET } from './daemonConnection.ts';

export const START_DAEMON_COMMAND = 'anneal.startDaemon';
export const STOP_DAEMON_COMMAND = 'anneal.stopDaemon';
export const SHOW_DAEMON_LOG_COMMAND = 'anneal.showDaemonLog';
export const SET_TOKEN_COMMAND = 'anneal.setRemoteDaemonToken';

export function registerDaemonCommands(services: Services): vscode.Disposable[] {
  const { connection, log, context } = services;
  return [
    vscode.commands.registerCommand(START_DAEMON_COMMAND, async () => {
      if (connection.client) {
        const info = connection.client.info;
        void vscode.window.showInformationMessage(`Anneal: the daemon is running (Anneal ${info.daemonVersion}, pid ${info.pid}, state dir ${info.stateDir}).`);
        return;
      }
      try {
        const client = await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: connection.remote ? 'Anneal: connecting to the remote daemon' : 'Anneal: starting the daemon' },
          () => connection.ensure(!connection.remote),
        );
        void vscode.window.showInformationMessage(`Anneal: daemon ready (pid ${client.info.pid}, state dir ${client.info.stateDir}).`);
      } catch (error) {
        const choice = await vscode.window.showErrorMessage(`Anneal: ${error instanceof Error ? error.message : String(error)}`, 'Show Daemon Log');
        if (choice) await vscode.commands.executeCommand(SHOW_DAEMON_LOG_COMMAND);
      }
    }),
    vscode.commands.registerCommand(STOP_DAEMON_COMMAND, async () => {
      if (connection.remote) {
        void vscode.window.showInformationMessage('Anneal: the daemon is remote (anneal.daemon.url); stop it on its machine. Clear the setting to use a local daemon.');
        return;
      }
      const active = services.runs.runs.filter((r) => r.status === 'running' || r.status === 'queued').length;
      if (active > 0) {
        const ok = await vscode.window.showWarningMessage(
          `Stop the Anneal daemon?`,
          { modal: true, detail: `${active} run${active === 1 ? ' is' : 's are'} in progress; running runs checkpoint and stop, and can be resumed later.` },
          'Stop Daemon',
        );
        if (ok !== 'Stop Daemon') return;
      }
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'Anneal: stopping the daemon (runs checkpoint first)' },
        () => connection.stopLocalDaemon(),
      );
      void vscode.window.showInformationMessage(result === 'stopped' ? 'Anneal: the daemon stopped.' : 'Anneal: no daemon was running.');
    }),
    vscode.commands.registerCommand(SHOW_DAEMON_LOG_COMMAND, async () => {
      if (connection.remote) {
        log.show(true);
        void vscode.window.showInformationMessage('Anneal: the daemon is remote; its log is <stateDir>/daemon.log on its machine. Connection events are in the "Anneal Daemon" output.');
        return;
      }
      const path = connection.logPath;
      if (!existsSync(path)) {
        log.show(true);
        void vscode.window.showInformationMessage(`Anneal: no daemon log yet (${path}); the daemon writes it once started. Connection events are in the "Anneal Daemon" output.`);
        return;
      }
      const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(path));
      const editor = await vscode.window.showTextDocument(doc, { preview: true });
      const end = doc.lineCount - 1;
      editor.revealRange(new vscode.Range(end, 0, end, 0), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
    }),
    vscode.commands.registerCommand(SET_TOKEN_COMMAND, async () => {
      const token = await vscode.window.showInputBox({
        title: 'Anneal: remote daemon token',
        prompt: 'The token the daemon printed (or <stateDir>/token on its machine). Kept in VS Code\'s secret storage; empty removes it.',
        password: true,
        ignoreFocusOut: true,
      });
      if (token === undefined) return;
      if (token.trim() === '') await context.secrets.delete(REMOTE_TOKEN_SECRET);
      else await context.secrets.store(REMOTE_TOKEN_SECRET, token.trim());
      if (!connection.remote) {
        void vscode.window.showInformationMessage('Anneal: token saved. Set "anneal.daemon.url" to the remote daemon\'s ws:// address to use it.');
      }
      await connection.reset();
    }),
    vscode.commands.registerCommand(DAEMON_ACTIONS_COMMAND, async () => {
      const items: (vscode.QuickPickItem & { command: string })[] = [
        { label: connection.remote ? '$(plug) Connect to the remote daemon' : '$(play) Start Daemon', command: START_DAEMON_COMMAND },
        { label: '$(output) Show Daemon Log', command: SHOW_DAEMON_LOG_COMMAND },
        { label: '$(key) Set Remote Daemon Token', command: SET_TOKEN_COMMAND },
        { label: '$(gear) Daemon Settings', command: 'workbench.action.openSettings' },
      ];
      if (connection.client && !connection.remote) items.splice(1, 0, { label: '$(debug-stop) Stop Daemon', command: STOP_DAEMON_COMMAND });
      const picked = await vscode.window.showQuickPick(items, { title: `Anneal daemon: ${connection.reason ?? connection.state}` });
      if (!picked) return;
      if (picked.command === 'workbench.action.openSettings') await vscode.commands.executeCommand(picked.command, 'anneal.daemon');
      else await vscode.commands.executeCommand(picked.command);
    }),
  ];
}
