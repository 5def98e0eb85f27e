"""What a TRL run starts from when its model is an earlier run's output (a pipeline's next stage):

- a PEFT adapter folder (adapter_config.json + adapter_model.safetensors, written by TRL or by Anneal's
  engine): the base it names is loaded and that adapter continues, trainable, with its own rank and
  target modules (the recipe's `lora:` is set aside, as on Anneal's engine; no second adapter is stacked
  on it). TRL 1.16's preference and RL trainers (DPO, KTO, GRPO, RLOO) copy a PeftModel's pretrained
  "default" adapter into a frozen "ref" adapter and compute the reference with it, so the reference is
  the incoming model (base + the adapter as it started), not the bare base;
- a model folder (a full fine-tune's output, or an adapter merged into its base by `merge: true`):
  loaded by TRL from its path, as any model.
"""
import json
import os

# The adapter TRL adds beside "default" for the reference; a frozen copy of the incoming adapter.
REF_ADAPTER = "ref"


def adapter_config(path: str) -> dict | None:
    """The folder's adapter_config.json when it is a PEFT adapter folder, else None."""
    file = os.path.join(path, "adapter_config.json")
    if not os.path.isdir(path) or not os.path.isfile(file):
        return None
    with open(file, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"{file} does not parse ({err}); it is not a PEFT adapter folder.") from None


def adapter_base(adapter_dir: str, config: dict) -> str:
    """The base model adapter_config.json names, as transformers loads it: an absolute path as written,
    a relative one beside the adapter when it exists there, else a Hub id."""
    base = config.get("base_model_name_or_path")
    if not isinstance(base, str) or not base:
        raise ValueError(f"{adapter_dir}/adapter_config.json names no base_model_name_or_path, so the model the adapter belongs to is unknown; set it to that model's folder or Hub id.")
    if base == "anneal/tiny":
        raise ValueError(f"{adapter_dir} is an adapter of Anneal's built-in `tiny` model, which TRL cannot load; train this stage on Anneal's engine.")
    if os.path.isabs(base):
        return base
    beside = os.path.join(adapter_dir, base)
    return beside if os.path.exists(beside) else base


def has_tokenizer(path: str) -> bool:
    return any(os.path.isfile(os.path.join(path, f)) for f in ("tokenizer_config.json", "tokenizer.json"))


def load_adapter_model(plan: dict, args, adapter_dir: str, config: dict, init: dict):
    """The base the adapter names with the adapter on it, trainable (a PeftModel whose only adapter is "default")."""
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification
    from trl.trainer.utils import create_model_from_path

    base = adapter_base(adapter_dir, config)
    kwargs = dict(init)
    if base.lower().endswith(".gguf"):
        kwargs["gguf_file"] = os.path.basename(base)
        base = os.path.dirname(base)
    # As TRL loads a model named by path: distributed GPU training needs every process's own copy.
    if args.distributed_state.distributed_type in ("MULTI_GPU", "DEEPSPEED"):
        kwargs["device_map"] = None
    if plan["stage"] == "reward" or config.get("task_type") == "SEQ_CLS":
        model = create_model_from_path(base, AutoModelForSequenceClassification, num_labels=1, **kwargs)
    else:
        model = create_model_from_path(base, **kwargs)
    return PeftModel.from_pretrained(model, adapter_dir, is_trainable=True), base


def start_note(plan: dict, adapter_dir: str, config: dict, base: str) -> str:
    """One log line saying what the run continues, and what the recipe's `lora:` became."""
    note = f"{adapter_dir} is a LoRA adapter (r={config.get('r')}); training continues it on its base model {base}"
    if plan.get("peft") and (plan["peft"].get("r") != config.get("r")):
        note += "; the recipe's lora settings are left aside: the adapter keeps its own rank and target modules"
    if plan["stage"] in ("dpo", "kto", "grpo"):
        note += "; the reference is the adapter as it starts (base + adapter), frozen"
    return note


def drop_ref_adapter(output_dir: str) -> None:
    """PeftModel.save_pretrained writes every adapter, the frozen reference in a subfolder of its name:
    the output is the trained adapter alone."""
    ref = os.path.join(output_dir, REF_ADAPTER)
    if os.path.isfile(os.path.join(ref, "adapter_config.json")):
        import shutil

        shutil.rmtree(ref, ignore_errors=True)
