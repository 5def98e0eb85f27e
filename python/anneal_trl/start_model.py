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
        # A GGUF base (Anneal's engine records the file; so does record_gguf_base): unpacked to floats, as train.py loads one.
        kwargs["gguf_file"] = os.path.basename(base)
        base = os.path.dirname(base)
        try:
            from transformers import GgufConfig

            kwargs.setdefault("quantization_config", GgufConfig(dequantize=True))
        except ImportError:  # older transformers always dequantize a GGUF on load
            pass
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
    # GRPO loads a reference only with a KL term (beta > 0; TRL's default is 0).
    if plan["stage"] in ("dpo", "kto") or (plan["stage"] == "grpo" and (plan["config"].get("beta") or 0) > 0):
        note += "; the reference is the adapter as it starts (base + adapter), frozen"
    return note


def drop_ref_adapter(output_dir: str) -> None:
    """PeftModel.save_pretrained writes every adapter, the frozen reference in a subfolder of its name:
    the output is the trained adapter alone."""
    ref = os.path.join(output_dir, REF_ADAPTER)
    if os.path.isfile(os.path.join(ref, "adapter_config.json")):
        import shutil

        shutil.rmtree(ref, ignore_errors=True)


def shorten_target_modules(output_dir: str, model) -> None:
    """PEFT writes `all-linear` as the module names it found, each one's full path when a model has few
    (under 20: a tiny test model), which other tools (Anneal's engine, its merge) do not read. The names'
    last parts are written instead when they pick exactly the same modules of this model."""
    file = os.path.join(output_dir, "adapter_config.json")
    try:
        with open(file, encoding="utf-8") as f:
            config = json.load(f)
        targets = config.get("target_modules")
        if not isinstance(targets, list) or not any("." in t for t in targets):
            return
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        names = {name for name, _ in base.named_modules()}
        short = sorted({t.rsplit(".", 1)[-1] for t in targets})
        if {n for n in names if n.rsplit(".", 1)[-1] in short} != set(targets):
            return
        config["target_modules"] = short
        with open(file, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)
    except (OSError, ValueError, AttributeError):
        return  # the adapter stays as PEFT wrote it


def record_gguf_base(output_dir: str, plan: dict) -> None:
    """An adapter trained on a .gguf file names the file's folder as its base (transformers' name for the
    model), which holds no config.json: the file itself is written instead, so that the next stage, a
    merge or Anneal's engine finds the base."""
    model = plan["model"]
    file = os.path.join(output_dir, "adapter_config.json")
    if not model.get("gguf_file") or not os.path.isfile(file):
        return
    with open(file, encoding="utf-8") as f:
        config = json.load(f)
    config["base_model_name_or_path"] = os.path.join(model["path"], model["gguf_file"])
    with open(file, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
