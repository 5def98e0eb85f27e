// "Inspect Preference Pairs" and "Show Dataset Report": open the panels (extension/client/panels/
// pairsPanel.ts, reportPanel.ts) on the given or active dataset, and register their serializers.
import * as vscode from 'vscode';
import { INSPECT_PAIRS_COMMAND, SHOW_REPORT_COMMAND } from './codeLens.ts';
import { PairsPanel, revivePairsPanel } from './panels/pairsPanel.ts';
import { registerPanelSerializer } from './panels/panelHost.ts';
import { ReportPanel, reviveReportPanel } from './panels/reportPanel.ts';
import { isDatasetPath } from './train/trainPlan.ts';

function datasetUri(arg: unknown, what: string): vscode.Uri | undefined {
  const uri = arg instanceof vscode.Uri ? arg : vscode.window.activeTextEditor?.document.uri;
  if (!uri || !isDatasetPath(uri.path)) {
    void vscode.window.showInformationMessage(`Anneal: open a dataset (.jsonl) first, then run "${what}".`);
    return undefined;
  }
  return uri;
}

async function open(what: string, show: () => Promise<unknown>): Promise<void> {
  try {
    await show();
  } catch (error) {
    void vscode.window.showErrorMessage(`Anneal: could not open the ${what}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

export function registerDatasetCommands(context: vscode.ExtensionContext): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand(INSPECT_PAIRS_COMMAND, async (arg?: unknown) => {
      const uri = datasetUri(arg, 'Anneal: Inspect Preference Pairs');
      if (uri) await open('pair inspector', () => PairsPanel.show(context, uri));
    }),
    vscode.commands.registerCommand(SHOW_REPORT_COMMAND, async (arg?: unknown) => {
      const uri = datasetUri(arg, 'Anneal: Show Dataset Report');
      if (uri) await open('dataset report', () => ReportPanel.show(context, uri));
    }),
    registerPanelSerializer('pairs', (panel, state) => revivePairsPanel(context, panel, state)),
    registerPanelSerializer('report', (panel, state) => reviveReportPanel(context, panel, state)),
  ];
}
