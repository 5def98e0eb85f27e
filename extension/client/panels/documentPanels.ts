// What the pair inspector and the report share on the host: opening the dataset document, showing a
// line of it in an editor, and a short label for panel titles.
import * as vscode from 'vscode';

/** Opens the document (the editor's model, not the disk) and makes sure an editor shows it, so edits are visible and undoable. */
export async function openDataset(uri: vscode.Uri): Promise<vscode.TextDocument> {
  const document = await vscode.workspace.openTextDocument(uri);
  if (!vscode.window.visibleTextEditors.some((e) => e.document === document)) {
    await vscode.window.showTextDocument(document, { viewColumn: vscode.ViewColumn.One, preserveFocus: true, preview: false });
  }
  return document;
}

/** The column of an editor showing the document, else the first column. */
function editorColumn(document: vscode.TextDocument): vscode.ViewColumn {
  return vscode.window.visibleTextEditors.find((e) => e.document === document)?.viewColumn ?? vscode.ViewColumn.One;
}

/** The column next to the document's editor, for the panel. */
export function besideEditor(document: vscode.TextDocument): vscode.ViewColumn {
  return editorColumn(document) === vscode.ViewColumn.One ? vscode.ViewColumn.Two : vscode.ViewColumn.One;
}

/** Shows `line` of the document in its editor, selected and centred. */
export async function revealLine(document: vscode.TextDocument, line: number): Promise<void> {
  const target = Math.max(0, Math.min(line, document.lineCount - 1));
  const range = document.lineAt(target).range;
  const editor = await vscode.window.showTextDocument(document, { viewColumn: editorColumn(document), selection: new vscode.Range(range.start, range.start), preserveFocus: false });
  editor.revealRange(range, vscode.TextEditorRevealType.InCenter);
}

/** The file name for panel titles. */
export function baseName(uri: vscode.Uri): string {
  return uri.path.slice(uri.path.lastIndexOf('/') + 1) || uri.toString();
}
