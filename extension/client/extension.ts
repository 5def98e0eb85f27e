// Entry point: activate() only builds the context and registers; the work lives in ctx.ts,
// commands.ts and summaryStatus.ts.
import * as vscode from 'vscode';
import { registerCommands } from './commands.ts';
import { Ctx } from './ctx.ts';

let ctx: Ctx | undefined;

/** Called by VS Code on the first dataset or recipe. */
export async function activate(context: vscode.ExtensionContext): Promise<void> {
  ctx = new Ctx(context);
  context.subscriptions.push(ctx);
  registerCommands(ctx, context);
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
