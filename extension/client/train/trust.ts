// Workspace Trust before training: a recipe whose rewards name a module (`rewards: [{file: ...}]`) runs
// that workspace code in the engine, so in a workspace the user has not trusted it does not start.
// Everything else the extension does reads workspace files as data (see package.json
// `capabilities.untrustedWorkspaces`). The decision is core/recipe/userCode.ts's.
import * as vscode from 'vscode';
import { untrustedRefusal } from '../../../core/recipe/userCode.ts';

/** VS Code's own command opening the Workspace Trust editor. */
const MANAGE_TRUST_COMMAND = 'workbench.trust.manage';
const MANAGE_TRUST = 'Manage Workspace Trust';

/**
 * True when `what` (a recipe or run, for the message) may run `modules` (absolute paths): none, or the
 * workspace is trusted. Otherwise says why not, offers the trust editor, and returns false.
 */
export async function trustedToRun(what: string, modules: string[]): Promise<boolean> {
  const shown = modules.map((m) => (vscode.workspace.getWorkspaceFolder(vscode.Uri.file(m)) ? vscode.workspace.asRelativePath(m) : m));
  const refusal = untrustedRefusal(what, shown, vscode.workspace.isTrusted);
  if (!refusal) return true;
  const choice = await vscode.window.showErrorMessage(`Anneal: ${refusal}`, MANAGE_TRUST);
  if (choice === MANAGE_TRUST) await vscode.commands.executeCommand(MANAGE_TRUST_COMMAND);
  return false;
}
