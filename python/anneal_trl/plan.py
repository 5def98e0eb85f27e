"""The plan a run is built from (written by daemon/trl/mapping.ts as plan.json) and the checks made on it
before anything is launched: the environment's packages and versions, and the config's keys and values.
"""
import dataclasses
import importlib
import importlib.metadata
import json
import os
import tempfile

from . import KNOWN_VERSIONS, PIP_REQUIREMENTS


def read_plan(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        plan = json.load(f)
    if plan.get("format") != 1:
        raise ValueError(f"{path} is a plan of format {plan.get('format')!r}; this launcher reads format 1 (update Anneal).")
    return plan


def package_versions(needs_peft: bool) -> dict:
    """Installed versions of the packages a TRL run needs (None when missing), read without importing them."""
    names = ["trl", "transformers", "accelerate", "torch", "datasets"] + (["peft"] if needs_peft else [])
    out = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def environment_problem(versions: dict, python: str) -> str | None:
    """One sentence with the pip command when a package is missing or at a version Anneal does not know."""
    missing = [n for n, v in versions.items() if v is None]
    wrong = [f"{n} {v}" for n, v in versions.items() if v is not None and n in KNOWN_VERSIONS and not v.startswith(KNOWN_VERSIONS[n])]
    if not missing and not wrong:
        return None
    reqs = [r for r in PIP_REQUIREMENTS if "peft" in versions or not r.startswith("peft")]
    what = f"lacks {', '.join(missing)}" if missing else f"has {', '.join(wrong)}, which Anneal does not know"
    return f"The Python at {python} {what}; run `{python} -m pip install {' '.join(repr(r) if '<' in r or '>' in r else r for r in reqs)}` (and torch for your hardware), or name another Python in the recipe's `python:`."


def config_class(plan: dict):
    module = importlib.import_module(plan["trainer"]["module"])
    return getattr(module, plan["trainer"]["config"])


def trainer_class(plan: dict):
    module = importlib.import_module(plan["trainer"]["module"])
    return getattr(module, plan["trainer"]["trainer"])


def key_problem(plan: dict, cls) -> str | None:
    """The first config key the TRL config class has no field for, as one sentence."""
    fields = {f.name for f in dataclasses.fields(cls)}
    for key in plan["config"]:
        if key not in fields and plan.get("key_origins", {}).get(key, "the recipe") != "Anneal's default":
            return f"`{key}` is not a field of TRL's {cls.__name__} (TRL {_trl_version()}), so TRL would refuse it; remove it from the recipe or train it on Anneal's engine."
    return None


def drop_unknown_defaults(plan: dict, cls) -> list:
    """Anneal's defaults for keys this TRL config does not have (e.g. `packing` for DPO) mean nothing to it: dropped."""
    fields = {f.name for f in dataclasses.fields(cls)}
    dropped = [k for k in plan["config"] if k not in fields and plan.get("key_origins", {}).get(k) == "Anneal's default"]
    for k in dropped:
        del plan["config"][k]
    return dropped


def _trl_version() -> str:
    try:
        return importlib.metadata.version("trl")
    except importlib.metadata.PackageNotFoundError:
        return "?"


def fit_to_device(plan: dict) -> None:
    """No GPU: CPU processes over gloo (torchrun starts them), in fp32 unless the recipe asked otherwise.
    TRL turns bf16 on by default, which its config refuses on a machine without a GPU."""
    import torch

    if not torch.cuda.is_available():
        plan["config"]["use_cpu"] = True
        plan["config"].setdefault("bf16", False)


def build_config(plan: dict, cls, output_dir: str | None = None):
    """The config object; TRL's and transformers' own checks (in __post_init__) run here."""
    kwargs = dict(plan["config"])
    if output_dir is not None:
        kwargs["output_dir"] = output_dir
    return cls(**kwargs)


def check(plan: dict, python: str) -> dict:
    """`--check`: the environment, then the keys, then the values (a config is built, no model is loaded)."""
    versions = package_versions(bool(plan.get("peft")))
    problem = environment_problem(versions, python)
    if problem:
        return {"ok": False, "kind": "environment", "message": problem, "versions": versions}
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    try:
        cls = config_class(plan)
    except (ImportError, AttributeError) as err:
        return {"ok": False, "kind": "environment", "message": f"TRL {versions['trl']} has no {plan['trainer']['module']}.{plan['trainer']['config']} ({err}); install trl==1.16.0.", "versions": versions}
    problem = key_problem(plan, cls)
    if problem:
        return {"ok": False, "kind": "key", "message": problem, "versions": versions}
    drop_unknown_defaults(plan, cls)
    fit_to_device(plan)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            build_config(plan, cls, output_dir=tmp)
        except (ValueError, TypeError) as err:
            return {"ok": False, "kind": "value", "message": f"TRL's {cls.__name__} refuses these settings: {str(err).strip().splitlines()[0]}", "versions": versions}
    return {"ok": True, "versions": versions}
