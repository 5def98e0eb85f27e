"""One training process (Accelerate starts one per device): build TRL's trainer from the plan, train with
the Anneal callback, write the output in Anneal's layout. Usage: `accelerate launch ... -m anneal_trl.train PLAN`.
"""
import json
import os
import signal
import sys
import traceback

from .events import emit


def read_jsonl(path: str) -> list:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def backend_report(state, versions: dict, plan: dict) -> dict:
    """"TRL 1.16.0 on 2× CPU (gloo)", "TRL 1.16.0 on 8× NVIDIA H100, DeepSpeed ZeRO-2"."""
    import torch

    n = state.num_processes
    if state.device.type == "cuda":
        device = torch.cuda.get_device_name(state.device)
    else:
        device = state.device.type.upper()
    launch = plan.get("launch", {})
    extra = f", DeepSpeed ZeRO-{launch.get('zero_stage', 2)}" if launch.get("use_deepspeed") else ", FSDP" if launch.get("use_fsdp") else ""
    backend = f" ({state.backend})" if state.backend and not extra else ""
    return {"name": "trl", "device": f"TRL {versions.get('trl')} on {n}× {device}{backend}{extra}", "skipped": []}


def main(plan_path: str) -> int:
    from .start_model import adapter_config, has_tokenizer, load_adapter_model, start_note
    from .plan import build_config, config_class, drop_unknown_defaults, fit_to_device, package_versions, read_plan, trainer_class

    plan = read_plan(plan_path)
    stop = {"requested": False}

    def request_stop(signum, frame):
        stop["requested"] = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    stop_file = plan.get("stop_file")

    def stop_requested() -> bool:
        return stop["requested"] or bool(stop_file and os.path.exists(stop_file))

    def rollback_requested() -> bool:
        """The daemon writes "rollback" into the stop file when a gate's rollback condition held: stop, save nothing more."""
        try:
            with open(stop_file) as f:
                return f.read().strip() == "rollback"
        except (OSError, TypeError):
            return False

    import torch
    from accelerate import PartialState

    fit_to_device(plan)
    state = PartialState(cpu=bool(plan["config"].get("use_cpu")))
    is_main = state.is_main_process
    try:
        if is_main:
            emit("status", phase="loading", message=f"loading {plan['model']['path']} into TRL's {plan['trainer']['trainer']}")
        os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
        versions = package_versions(bool(plan.get("peft")))
        cls = config_class(plan)
        drop_unknown_defaults(plan, cls)
        config = build_config(plan, cls)
        model = plan["model"]
        init = {k: model[k] for k in ("revision", "gguf_file") if model.get(k)}
        if model.get("gguf_file") and not model.get("load_in_4bit"):
            # transformers 5 keeps a GGUF's weights in their blocks unless told to dequantize, and a model
            # left quantized that way cannot be trained: unpack it to floats, as Anneal's engine does.
            try:
                from transformers import GgufConfig
            except ImportError:  # older transformers always dequantize a GGUF on load
                GgufConfig = None
            if GgufConfig is not None:
                init["quantization_config"] = GgufConfig(dequantize=True)
        if model.get("load_in_4bit"):
            from transformers import BitsAndBytesConfig

            init["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4")
        loaded = None
        tokenizer_path = model["path"]
        incoming = None if model.get("gguf_file") else adapter_config(model["path"])
        if incoming is not None:
            # An earlier run's adapter (a pipeline's next stage): it continues on the base it names.
            quantized = {k: v for k, v in init.items() if k == "quantization_config"}
            loaded, base = load_adapter_model(plan, config, model["path"], incoming, quantized)
            if not has_tokenizer(model["path"]):
                tokenizer_path = base
            plan["peft"] = None  # the adapter is the LoRA: no second one on top
            if is_main:
                emit("log", line="[anneal] " + start_note(plan, model["path"], incoming, base))
        elif model.get("gguf_file"):
            # TRL reads a model path's config without the file name, which a GGUF needs: load it here.
            loaded = load_gguf_model(plan, init)
        elif init:
            config.model_init_kwargs = {**(getattr(config, "model_init_kwargs", None) or {}), **init}
        trainer = build_trainer(plan, config, trainer_class(plan), loaded, tokenizer_path)
        from .callback import AnnealCallback

        callback = AnnealCallback(plan, is_main, stop_requested, backend_report(state, versions, plan), rollback_requested)
        callback.trainer = trainer
        trainer.add_callback(callback)
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # with tqdm off it prints each log dict; the events carry them
        trainer.train(resume_from_checkpoint=plan.get("resume_from_checkpoint"))
        if callback.stopping:
            if is_main:
                emit("stopped", step=trainer.state.global_step)
            return 0
        save_output(trainer, plan["output_dir"], state, plan)
        if is_main:
            emit("done", step=trainer.state.global_step, outputDir=plan["output_dir"])
        return 0
    except Exception as err:  # one sentence for the user; the traceback goes to the log
        traceback.print_exc()
        if is_main:
            emit("error", message=f"TRL failed: {type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}")
        return 1


def load_gguf_model(plan: dict, init: dict):
    """A .gguf file as the stage's model class (a scalar-head classifier for reward modelling), in fp32."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    if plan["stage"] == "reward":
        return AutoModelForSequenceClassification.from_pretrained(plan["model"]["path"], num_labels=1, dtype=torch.float32, **init)
    return AutoModelForCausalLM.from_pretrained(plan["model"]["path"], dtype=torch.float32, **init)


def build_trainer(plan: dict, config, Trainer, loaded=None, tokenizer_path=None):
    from datasets import Dataset
    from transformers import AutoTokenizer

    model = plan["model"]
    tokenizer_path = tokenizer_path or model["path"]
    tokenizer_kwargs = {k: model[k] for k in ("revision", "gguf_file") if model.get(k)} if tokenizer_path == model["path"] else {}
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path, **tokenizer_kwargs)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    data = plan["data"]
    kwargs = {
        "model": loaded if loaded is not None else model["path"],
        "args": config,
        "train_dataset": Dataset.from_list(read_jsonl(data["train"])),
        "processing_class": tokenizer,
    }
    if data.get("eval"):
        kwargs["eval_dataset"] = Dataset.from_list(read_jsonl(data["eval"]))
    if plan.get("peft"):
        from peft import LoraConfig

        kwargs["peft_config"] = LoraConfig(**plan["peft"])
    if plan["stage"] == "grpo":
        kwargs["reward_funcs"] = reward_functions(plan)
    return Trainer(**kwargs)


def reward_functions(plan: dict) -> list:
    from .rewards import load_reward_file, make_builtin

    out = []
    for spec in plan.get("rewards", []):
        if "builtin" in spec:
            out.append(make_builtin(spec, plan["config"].get("max_completion_length")))
        elif "file" in spec:
            out.append(load_reward_file(spec))
        else:
            out.append(spec["model"])  # TRL loads it as a sequence classifier (num_labels=1)
    return out


def save_output(trainer, output_dir: str, state, plan: dict) -> None:
    """The adapter (PEFT) or the model, with the tokenizer, in output/: written beside it, then renamed into place.
    An adapter is left as the next stage, a merge and Anneal's engine read it (start_model.py)."""
    tmp = output_dir + ".tmp"
    if state.is_main_process:
        emit("status", phase="saving", message=f"writing {output_dir}")
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    state.wait_for_everyone()
    trainer.save_model(tmp)  # every process takes part (FSDP/DeepSpeed gather the weights)
    state.wait_for_everyone()
    if state.is_main_process:
        import shutil

        from .start_model import drop_ref_adapter, record_gguf_base, shorten_target_modules

        drop_ref_adapter(tmp)
        shorten_target_modules(tmp, trainer.accelerator.unwrap_model(trainer.model))
        record_gguf_base(tmp, plan)
        for leftover in ("training_args.bin",):
            if os.path.exists(os.path.join(tmp, leftover)):
                os.remove(os.path.join(tmp, leftover))
        shutil.rmtree(output_dir, ignore_errors=True)
        os.replace(tmp, output_dir)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
