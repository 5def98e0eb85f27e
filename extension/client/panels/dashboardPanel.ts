// The live training dashboard (front-end: webviews/dashboard): loss and metric charts of one or more
// runs, fed by the daemon through the panel's relay.
import type * as vscode from 'vscode';
import { RelayPanel, type RelayPanelDeps } from './relayPanel.ts';
import { registerPanelSerializer } from './panelHost.ts';

export const DashboardPanel = {
  /** Opens (or re-targets) the dashboard on these runs; the first is the main one. */
  show(deps: RelayPanelDeps, runIds: string[], column?: vscode.ViewColumn): RelayPanel {
    return RelayPanel.show('dashboard', deps, runIds, column);
  },
  current(): RelayPanel | undefined {
    return RelayPanel.get('dashboard');
  },
  /** Revives dashboards after a window reload. */
  registerSerializer(deps: RelayPanelDeps): vscode.Disposable {
    return registerPanelSerializer('dashboard', (panel, state) => void RelayPanel.revive('dashboard', deps, panel, state));
  },
};
