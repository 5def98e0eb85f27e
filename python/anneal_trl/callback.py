"""The TrainerCallback that reports a TRL run to Anneal (events.py): status, metrics under TRL's names,
GRPO's scored completions, checkpoints; and that turns a stop request into "save a checkpoint, then stop".
"""
import math
import os

from transformers import TrainerCallback

from .events import emit

# Trainer's end-of-training summary: a log line, not a metric series.
SUMMARY_KEYS = {"train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos", "train_loss"}


def metric_name(key: str) -> str:
    """TRL's names unchanged, except evaluation's `eval_` prefix, written `eval/` as Anneal's engine (and TRL's wandb logs) write it."""
    return "eval/" + key[5:] if key.startswith("eval_") else key


class AnnealCallback(TrainerCallback):
    def __init__(self, plan: dict, is_main: bool, stop_requested, backend: dict, rollback_requested=lambda: False):
        self.plan = plan
        self.is_main = is_main
        self.stop_requested = stop_requested
        self.rollback_requested = rollback_requested
        self.backend = backend
        self.stopping = False
        self.trainer = None  # set once the trainer exists (GRPO's completions are read from it)
        self._last_samples = None

    # ---------------------------------------------------------------- status
    def on_train_begin(self, args, state, control, **kwargs):
        if self.is_main:
            emit("status", phase="training", totalSteps=state.max_steps, backend=self.backend)

    # ---------------------------------------------------------------- metrics and samples
    def on_log(self, args, state, control, logs=None, **kwargs):
        if not self.is_main or not logs:
            return
        summary = {k: v for k, v in logs.items() if k in SUMMARY_KEYS}
        metrics = {}
        for key, value in logs.items():
            if key in SUMMARY_KEYS or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if isinstance(value, float) and not math.isfinite(value):
                continue
            metrics[metric_name(key)] = value
        if metrics and not summary:  # the summary's log repeats only the epoch
            emit("metrics", step=state.global_step, metrics=metrics)
        if summary:
            emit("log", line="[trl] " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in summary.items()))
        self._emit_grpo_samples(state.global_step)

    def _emit_grpo_samples(self, step: int) -> None:
        logs = getattr(self.trainer, "_logs", None)
        if not logs or not logs.get("completion"):
            return
        prompts, completions = list(logs["prompt"]), list(logs["completion"])
        key = (len(completions), str(completions[-1])[:200], str(completions[0])[:200])
        if key == self._last_samples:  # the same generation batch, logged again
            return
        self._last_samples = key
        rewards = {name: list(values) for name, values in logs["rewards"].items()}
        advantages = list(logs["advantages"])
        group_size = int(self.plan["config"].get("num_generations", 8))
        weights = self.plan["config"].get("reward_weights") or [1.0] * len(rewards)
        tokenizer = getattr(self.trainer, "processing_class", None)
        max_len = self.plan["config"].get("max_completion_length")
        for i, (prompt, completion) in enumerate(zip(prompts, completions)):
            scores = {name: (None if values[i] is None or (isinstance(values[i], float) and math.isnan(values[i])) else values[i]) for name, values in rewards.items()}
            present = [(w, s) for w, s in zip(weights, scores.values()) if s is not None]
            text = _text(completion)
            length = len(tokenizer(text, add_special_tokens=False)["input_ids"]) if tokenizer is not None and hasattr(tokenizer, "__call__") else len(text)
            emit(
                "sample",
                step=step,
                prompt=_text(prompt),
                completion=text,
                scored={
                    "group": i // group_size,
                    "rewards": scores,
                    "reward": sum(w * s for w, s in present) if present else None,
                    "advantage": advantages[i] if i < len(advantages) else 0.0,
                    "length": length,
                    "truncated": bool(max_len and length >= max_len),
                },
            )

    # ---------------------------------------------------------------- stop: checkpoint, then end
    def on_step_end(self, args, state, control, **kwargs):
        if _any_process(self.stop_requested()):
            self.stopping = True
            control.should_training_stop = True
            # A rollback (the daemon's gates saw a NaN, a diverging loss or a rollback condition) keeps
            # only the checkpoints from before; a plain stop saves this step so that it can resume.
            rollback = _any_process(self.rollback_requested())
            control.should_save = not rollback
            if self.is_main and rollback:
                emit("log", line=f"[anneal] rolled back at step {state.global_step}: nothing more is saved")
            elif self.is_main:
                emit("status", phase="saving", message=f"stop requested: saving a checkpoint of step {state.global_step}")
        return control

    # ---------------------------------------------------------------- checkpoints
    def on_save(self, args, state, control, **kwargs):
        if not self.is_main:
            return
        # Trainer writes <output_dir>/checkpoint-N; the run store lists checkpoints/step-N, so each gets that name too.
        folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        link = os.path.join(args.output_dir, f"step-{state.global_step}")
        for name in os.listdir(args.output_dir):  # links to checkpoints Trainer rotated away
            path = os.path.join(args.output_dir, name)
            if name.startswith("step-") and os.path.islink(path) and not os.path.exists(path):
                os.unlink(path)
        if os.path.isdir(folder):
            if not os.path.lexists(link):
                os.symlink(os.path.basename(folder), link)
            emit("checkpoint", step=state.global_step, path=link)


def _text(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # conversational: the messages' contents
        return "\n".join(m.get("content", "") if isinstance(m.get("content"), str) else str(m.get("content")) for m in value if isinstance(m, dict))
    return str(value)


def _any_process(flag: bool) -> bool:
    """True on every process when any process saw the request, so all of them save and stop at the same step."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return flag
    import torch
    from accelerate import PartialState

    t = torch.tensor([1 if flag else 0], device=PartialState().device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())
