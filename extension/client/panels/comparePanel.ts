// "Anneal: Compare Models Side by Side": the same prompt to two models (a run's output, a run's base,
// tiny, a folder or Hub id), answered by the daemon's `models/generate` one request per side, so the
// user judges them. A judgement with a winner is appended to the judgements file as a preference
// record (judgementRecord.ts): inspecting produces DPO data. Blind mode hides the models and shuffles
// the sides per prompt, since position and names bias the judge. One panel; showing it again re-aims it.
import * as vscode from 'vscode';
import { CancellationTokenSource } from 'vscode-jsonrpc';
import type { CompareAskMessage, ModelOption, Side, Verdict } from '../../../core/protocol/compareView.ts';
import { GenerateText, type GenerateParams } from '../../../core/protocol/generate.ts';
import type { Services } from '../services.ts';
import { compareOptions, defaultSides, generateTarget } from './compareModels.ts';
import { appendRecord, preferenceRecord, RecordRefused } from './judgementRecord.ts';
import { PanelHost, registerPanelSerializer } from './panelHost.ts';

export const COMPARE_MODELS_COMMAND = 'anneal.compareModels';
/** The Runs view's "Compare with Base Model": the same panel, aimed at the run's output and its base. */
export const COMPARE_WITH_BASE_COMMAND = 'anneal.compareWithBase';
const TITLE = 'Anneal: Compare Models';
const SIDES: Side[] = ['left', 'right'];

interface Turn {
  system: string;
  prompt: string;
  /** The option on each side as shown (after the blind shuffle). */
  models: Record<Side, string>;
  blind: boolean;
  answers: Partial<Record<Side, string>>;
  judged: boolean;
}

/** JSON-RPC's "method not found": a daemon older than this extension. */
const METHOD_NOT_FOUND = -32601;

function sentence(error: unknown): string {
  if ((error as { code?: unknown })?.code === METHOD_NOT_FOUND) return 'the running daemon is older than this extension; run "Anneal: Stop Daemon" and ask again to start the current one.';
  return error instanceof Error ? error.message : String(error);
}

export class ComparePanel {
  private static current: ComparePanel | undefined;
  private sides: Record<Side, string> = { left: 'tiny', right: 'tiny' };
  private readonly added: string[] = [];
  private file: vscode.Uri | undefined;
  private saved = 0;
  private nextTurn = 1;
  private readonly turns = new Map<number, Turn>();
  private readonly pending = new Map<Side, CancellationTokenSource>();

  /** Opens the panel (or brings it up) with a run's output against its base, else the newest run's. */
  static async show(services: Services, runId?: string): Promise<ComparePanel> {
    if (!services.runs.isLoaded) await services.runs.refresh().catch(() => undefined);
    const existing = ComparePanel.current;
    if (existing && !existing.host.disposed) {
      if (runId) existing.aimAt(runId);
      existing.host.reveal();
      return existing;
    }
    const host = PanelHost.open(services.context, { kind: 'compare', title: TITLE, state: { kind: 'compare', ...(runId ? { runIds: [runId] } : {}) }, retainContextWhenHidden: true });
    return new ComparePanel(host, services, runId);
  }

  static registerSerializer(services: Services): vscode.Disposable {
    return registerPanelSerializer('compare', (panel, state) => {
      const host = PanelHost.adopt(services.context, panel, { kind: 'compare', title: TITLE, state: { kind: 'compare', ...(state?.runIds ? { runIds: state.runIds } : {}) }, retainContextWhenHidden: true });
      new ComparePanel(host, services, state?.runIds?.[0]);
    });
  }

  private constructor(
    private readonly host: PanelHost,
    private readonly services: Services,
    runId: string | undefined,
  ) {
    ComparePanel.current?.host.dispose();
    ComparePanel.current = this;
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    this.file = folder ? vscode.Uri.joinPath(folder, 'judgements.jsonl') : undefined;
    this.aimAt(runId);
    host.track(
      host.onReady(() => this.sendSetup(true)),
      host.onMessage((message) => void this.receive(message)),
      services.runs.onDidChange(() => this.sendSetup()),
      { dispose: () => this.cancelAll() },
      host.onDidDispose(() => {
        if (ComparePanel.current === this) ComparePanel.current = undefined;
      }),
    );
  }

  private options(): ModelOption[] {
    return compareOptions(this.services.runs.runs, this.added);
  }

  /** Puts a run's output on the left and its base on the right. */
  private aimAt(runId: string | undefined): void {
    this.sides = defaultSides(this.services.runs.runs, this.options(), runId);
    if (runId) this.host.setState({ runIds: [runId] });
    this.sendSetup(true);
  }

  private sendSetup(aim = false): void {
    const options = this.options();
    for (const side of SIDES) if (!options.some((o) => o.id === this.sides[side])) this.sides[side] = 'tiny';
    const file = this.file ? vscode.workspace.asRelativePath(this.file, false) : '(choose a file)';
    this.host.post({ type: 'compare/setup', models: options, left: this.sides.left, right: this.sides.right, file, saved: this.saved, aim });
  }

  private label(id: string): string {
    return this.options().find((o) => o.id === id)?.label ?? id;
  }

  private async receive(message: unknown): Promise<void> {
    const m = message as { type: string } & Record<string, unknown>;
    try {
      switch (m.type) {
        case 'compare/ask':
          return await this.ask(m as unknown as CompareAskMessage);
        case 'compare/judge':
          return this.judge(m.turn as number, m.verdict as Verdict);
        case 'compare/pickFile':
          return await this.pickFile();
        case 'compare/addModel':
          return await this.addModel(m.side as Side);
        case 'compare/cancel':
          return this.cancelAll();
        default:
          return;
      }
    } catch (error) {
      void vscode.window.showErrorMessage(`Anneal: the comparison could not do that (${sentence(error)}).`);
    }
  }

  private cancelAll(): void {
    for (const source of this.pending.values()) source.cancel();
    this.pending.clear();
  }

  /** Sends the prompt to both sides (one answer at a time per side: a new prompt cancels the old). */
  private async ask(ask: CompareAskMessage): Promise<void> {
    if (!ask.prompt.trim()) return;
    this.sides = { left: ask.left, right: ask.right };
    this.cancelAll();
    const swap = ask.blind && Math.random() < 0.5;
    const models: Record<Side, string> = swap ? { left: ask.right, right: ask.left } : { left: ask.left, right: ask.right };
    const turn = this.nextTurn++;
    this.turns.set(turn, { system: ask.system, prompt: ask.prompt, models, blind: ask.blind, answers: {}, judged: false });
    this.host.post({ type: 'compare/turn', turn, prompt: ask.prompt, system: ask.system, blind: ask.blind, ...(ask.blind ? {} : { labels: { left: this.label(models.left), right: this.label(models.right) } }) });
    let client;
    try {
      client = await this.services.connection.ensure(!this.services.connection.remote);
    } catch (error) {
      for (const side of SIDES) this.host.post({ type: 'compare/answer', turn, side, error: `No daemon to answer: ${sentence(error)}` });
      return;
    }
    const messages: GenerateParams['messages'] = [...(ask.system.trim() ? [{ role: 'system' as const, content: ask.system }] : []), { role: 'user', content: ask.prompt }];
    await Promise.all(SIDES.map(async (side) => {
      const target = generateTarget(models[side]);
      if (!target) return this.host.post({ type: 'compare/answer', turn, side, error: `Unknown model ${models[side]}.` });
      const source = new CancellationTokenSource();
      this.pending.set(side, source);
      try {
        const params: GenerateParams = { ...target, messages, maxNewTokens: ask.maxNewTokens, temperature: ask.temperature };
        const result = await client.connection.sendRequest(GenerateText.type, params, source.token);
        this.turns.get(turn)!.answers[side] = result.completion;
        const note = `${result.tokens} tokens${result.stopped ? '' : ' (cut at the limit)'} · ${(result.ms / 1000).toFixed(1)} s`;
        this.host.post({ type: 'compare/answer', turn, side, text: result.completion, note });
      } catch (error) {
        this.host.post({ type: 'compare/answer', turn, side, error: source.token.isCancellationRequested ? 'Cancelled.' : sentence(error) });
      } finally {
        if (this.pending.get(side) === source) this.pending.delete(side);
        source.dispose();
      }
    }));
  }

  /** Records a judgement: a winner appends chosen/rejected to the judgements file; the others write nothing. */
  private judge(turnId: number, verdict: Verdict): void {
    const turn = this.turns.get(turnId);
    if (!turn || turn.judged) return;
    const reveal = turn.blind ? { reveal: { left: this.label(turn.models.left), right: this.label(turn.models.right) } } : {};
    if (verdict !== 'left' && verdict !== 'right') {
      turn.judged = true;
      this.host.post({ type: 'compare/judged', turn: turnId, verdict, ...reveal });
      return;
    }
    const chosen = turn.answers[verdict];
    const rejected = turn.answers[verdict === 'left' ? 'right' : 'left'];
    if (chosen === undefined || rejected === undefined) {
      this.host.post({ type: 'compare/judged', turn: turnId, verdict, error: 'Both sides must answer before one can win.' });
      return;
    }
    if (!this.file) {
      this.host.post({ type: 'compare/judged', turn: turnId, verdict, error: 'Open a folder, or choose the judgements file, first.' });
      return;
    }
    try {
      const written = appendRecord(this.file.fsPath, preferenceRecord(turn.system, turn.prompt, chosen, rejected));
      turn.judged = true;
      this.saved++;
      this.host.post({ type: 'compare/judged', turn: turnId, verdict, line: written.line, warnings: written.warnings, ...reveal });
      this.sendSetup();
    } catch (error) {
      const message = error instanceof RecordRefused ? error.message : `Could not write ${this.file.fsPath}: ${sentence(error)}`;
      this.host.post({ type: 'compare/judged', turn: turnId, verdict, error: message });
    }
  }

  private async pickFile(): Promise<void> {
    const picked = await vscode.window.showSaveDialog({ defaultUri: this.file, filters: { 'Preference data (JSONL)': ['jsonl'] }, saveLabel: 'Append judgements here', title: 'Anneal: the file judgements are appended to' });
    if (!picked) return;
    this.file = picked;
    this.saved = 0;
    this.sendSetup();
  }

  /** Adds a model folder, a .gguf file or a Hub id to the choices and puts it on `side`. */
  private async addModel(side: Side): Promise<void> {
    const kind = await vscode.window.showQuickPick(['Model or adapter folder…', 'GGUF file…', 'Hugging Face Hub id…'], { title: 'Anneal: add a model to compare' });
    if (!kind) return;
    let ref: string | undefined;
    if (kind.startsWith('Hugging')) {
      ref = (await vscode.window.showInputBox({ title: 'Anneal: a Hub model id', placeHolder: 'HuggingFaceTB/SmolLM2-135M-Instruct', validateInput: (v) => (/^[\w.-]+\/[\w.-]+(@[\w./-]+)?$/.test(v.trim()) ? undefined : 'org/name, optionally @revision') }))?.trim();
    } else {
      const folder = kind.startsWith('Model');
      const picked = await vscode.window.showOpenDialog({ canSelectFolders: folder, canSelectFiles: !folder, filters: folder ? undefined : { GGUF: ['gguf'] }, openLabel: 'Compare this model' });
      ref = picked?.[0]?.fsPath;
    }
    if (!ref) return;
    if (!this.added.includes(ref)) this.added.push(ref);
    this.sides[side] = `model:${ref}`;
    this.sendSetup(true);
  }
}

/** The command: from the Runs view it gets the run's tree item (its `run`), from the palette nothing. */
export function registerCompareCommand(services: Services): vscode.Disposable {
  const open = (arg?: unknown) => {
    const runId = typeof arg === 'string' ? arg : (arg as { run?: { id?: unknown } } | undefined)?.run?.id;
    return ComparePanel.show(services, typeof runId === 'string' ? runId : undefined);
  };
  return vscode.Disposable.from(
    vscode.commands.registerCommand(COMPARE_MODELS_COMMAND, open),
    vscode.commands.registerCommand(COMPARE_WITH_BASE_COMMAND, open),
    ComparePanel.registerSerializer(services),
  );
}
