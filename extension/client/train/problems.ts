// Our Diagnostic (core/diagnostics.ts, LSP-shaped) as a VS Code diagnostic for the Problems panel.
import * as vscode from 'vscode';
import type { Diagnostic } from '../../../core/diagnostics.ts';

const SEVERITY = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  info: vscode.DiagnosticSeverity.Information,
  hint: vscode.DiagnosticSeverity.Hint,
} as const;

/** Converts one diagnostic the daemon reported. */
export function toVsDiagnostic(d: Diagnostic): vscode.Diagnostic {
  const r = d.range;
  const out = new vscode.Diagnostic(
    new vscode.Range(r.start.line, r.start.character, r.end.line, r.end.character),
    d.message,
    SEVERITY[d.severity as keyof typeof SEVERITY] ?? vscode.DiagnosticSeverity.Error,
  );
  out.source = 'anneal (training)';
  out.code = d.code;
  return out;
}
