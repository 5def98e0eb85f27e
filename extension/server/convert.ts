// core's Diagnostic -> LSP's Diagnostic. core already speaks LSP coordinates, so this only maps
// severities, names the source and turns related places into locations.
import { pathToFileURL } from 'node:url';
import { DiagnosticSeverity, type Diagnostic as LspDiagnostic } from 'vscode-languageserver/node';
import type { Diagnostic, Severity } from '../../core/diagnostics.ts';

const severities: Record<Severity, DiagnosticSeverity> = {
  error: DiagnosticSeverity.Error,
  warning: DiagnosticSeverity.Warning,
  info: DiagnosticSeverity.Information,
  hint: DiagnosticSeverity.Hint,
};

/** One core diagnostic of the document `uri` as an LSP diagnostic. */
export function toLspDiagnostic(d: Diagnostic, uri: string): LspDiagnostic {
  const out: LspDiagnostic = {
    range: d.range,
    severity: severities[d.severity] ?? DiagnosticSeverity.Error,
    code: d.code,
    source: 'anneal',
    message: d.message,
  };
  if (d.related && d.related.length > 0) {
    out.relatedInformation = d.related.map((r) => ({
      location: { uri: r.file ? pathToFileURL(r.file).href : uri, range: r.range },
      message: r.message,
    }));
  }
  if (d.data !== undefined) out.data = d.data;
  return out;
}

/** The diagnostic that tells the user the per-file cap hid further problems. */
export function capDiagnostic(cap: number, total: number | undefined): LspDiagnostic {
  const more = total !== undefined && total > cap ? ` of ${total.toLocaleString('en-US')}` : '';
  return {
    range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
    severity: DiagnosticSeverity.Information,
    code: 'diagnostics-capped',
    source: 'anneal',
    message: `Only the first ${cap.toLocaleString('en-US')}${more} problems in this file are listed; raise the setting anneal.diagnostics.maxPerFile to see more.`,
  };
}
