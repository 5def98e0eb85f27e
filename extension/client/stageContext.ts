// Context keys the package.json `when` clauses use: `anneal.stage.<stage>` for each stage the daemon
// trains (so "Train DPO" appears only once a daemon offers it) and `anneal.daemon.connected`.
import * as vscode from 'vscode';
import type { DaemonConnection } from './daemon/daemonConnection.ts';
import { STAGES } from './train/trainCommands.ts';

export function trackStageContext(connection: DaemonConnection): vscode.Disposable {
  const update = () => {
    const stages = connection.info?.capabilities.stages;
    // Before any daemon answered, SFT (which every daemon trains) stays visible.
    for (const stage of STAGES) {
      void vscode.commands.executeCommand('setContext', `anneal.stage.${stage}`, stages ? stages.includes(stage) : stage === 'sft');
    }
    void vscode.commands.executeCommand('setContext', 'anneal.daemon.connected', connection.state === 'connected');
  };
  update();
  return connection.onDidChangeState(update);
}
