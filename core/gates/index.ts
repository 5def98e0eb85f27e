// Gates (seed 004 §3.3): entry, exit and rollback conditions on measured metrics, their defaults per
// stage, a recipe's edits, and their evaluation into a report.
export { parseCondition, STATISTICS, TREND_WINDOW, type Comparison, type GateCondition, type Statistic } from './condition.ts';
export { defaultGates, GATE_KINDS, type GateKind, type StageGates } from './defaults.ts';
export { evaluateGates, lowerIsBetter, metricStreams, rollbackNow, statisticOf, type ConditionResult, type GateReport, type MetricPoint, type Verdict } from './evaluate.ts';
export { isKnownMetric, knownMetrics } from './metrics.ts';
export { readGates, type GateProblem } from './recipe.ts';
