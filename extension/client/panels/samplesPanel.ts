// The sample viewer (front-end: webviews/samples): completions the model produced during training,
// step by step, fed by the daemon through the panel's relay.
import type * as vscode from 'vscode';
import { RelayPanel, type RelayPanelDeps } from './relayPanel.ts';
import { registerPanelSerializer } from './panelHost.ts';

export const SamplesPanel = {
  /** Opens (or re-targets) the sample viewer on these runs. */
  show(deps: RelayPanelDeps, runIds: string[], column?: vscode.ViewColumn): RelayPanel {
    return RelayPanel.show('samples', deps, runIds, column);
  },
  current(): RelayPanel | undefined {
    return RelayPanel.get('samples');
  },
  /** Revives sample viewers after a window reload. */
  registerSerializer(deps: RelayPanelDeps): vscode.Disposable {
    return registerPanelSerializer('samples', (panel, state) => void RelayPanel.revive('samples', deps, panel, state));
  },
};
