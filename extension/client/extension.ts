// Entry point: activate() only builds the context and registers; the work lives in ctx.ts,
// commands.ts and summaryStatus.ts (language server) and daemonFeatures.ts (training, runs, panels).
import * as vscode from 'vscode';
import { registerCommands } from './commands.ts';
import { Ctx } from './ctx.ts';
import { activateDaemonFeatures } from './daemonFeatures.ts';

let ctx: Ctx | undefined;

/** Called by VS Code on the first dataset or recipe. */
export async function activate(context: vscode.ExtensionContext): Promise<void> {
  ctx = new Ctx(context);
  context.subscriptions.push(ctx);
  registerCommands(ctx, context);
  // The daemon side does not wait for the language server: training and runs work without it.
  activateDaemonFeatures(context);
  try {
    await ctx.start();
  } catch (error) {
    void vscode.window.showErrorMessage(
      `Anneal: the language server did not start (${String(error)}); run "Anneal: Restart Language Server" or see the "Anneal Language Server" output.`,
    );
  }
}

export async function deactivate(): Promise<void> {
  ctx?.dispose();
  ctx = undefined;
}
