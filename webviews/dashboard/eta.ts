// Speed and time left from the steps that arrived live (replayed history says nothing about speed).

export interface StepArrival {
  /** Milliseconds (any monotonic clock). */
  t: number;
  step: number;
}

/** How many recent arrivals the rate is measured over. */
export const RATE_WINDOW = 20;

/** Adds an arrival, keeping the last RATE_WINDOW; a step going backwards (a resume) restarts the window. */
export function recordArrival(arrivals: StepArrival[], arrival: StepArrival): StepArrival[] {
  const last = arrivals[arrivals.length - 1];
  if (last && arrival.step <= last.step) return [arrival];
  const next = [...arrivals, arrival];
  return next.length > RATE_WINDOW ? next.slice(next.length - RATE_WINDOW) : next;
}

/** Steps per second over the window, or undefined with fewer than two arrivals. */
export function stepsPerSecond(arrivals: readonly StepArrival[]): number | undefined {
  if (arrivals.length < 2) return undefined;
  const a = arrivals[0]!;
  const b = arrivals[arrivals.length - 1]!;
  const seconds = (b.t - a.t) / 1000;
  return seconds > 0 ? (b.step - a.step) / seconds : undefined;
}

/** Seconds until `totalSteps` at the recent speed, or undefined when unknown. */
export function etaSeconds(arrivals: readonly StepArrival[], currentStep: number, totalSteps: number | undefined): number | undefined {
  const rate = stepsPerSecond(arrivals);
  if (rate === undefined || rate <= 0 || totalSteps === undefined) return undefined;
  return Math.max(0, (totalSteps - currentStep) / rate);
}

/** "42 s", "3 min 05 s", "2 h 07 min". */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}
