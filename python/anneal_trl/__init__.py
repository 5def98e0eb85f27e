"""Anneal's TRL engine: the launcher, the callback that streams a TRL run into Anneal's run store, and
Python ports of Anneal's built-in GRPO rewards. Shipped with Anneal (dist/python/anneal_trl); the
TypeScript side (daemon/trl) writes the plan this package reads.

The versions below are the ones Anneal is tested with; daemon/trl/environment.ts holds the same pins.
"""

KNOWN_VERSIONS = {
    "trl": ("1.16",),
    "transformers": ("5.",),
    "accelerate": ("1.",),
    "peft": ("0.",),
}
# What `pip install` should be told to get a working environment.
PIP_REQUIREMENTS = ["trl==1.16.0", "transformers>=5.0,<6", "accelerate>=1.15,<2", "peft>=0.21,<1"]
