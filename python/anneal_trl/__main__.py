"""Anneal's TRL launcher.

  python -m anneal_trl env [--peft]           the packages and versions here (one JSON line)
  python -m anneal_trl check PLAN             environment, keys and values, before any launch (one JSON line)
  python -m anneal_trl run PLAN [--watch-stdin]
      starts `accelerate launch` with the plan's launch settings, one process per device, each running
      anneal_trl.train. SIGTERM/SIGINT (or, with --watch-stdin, the end of stdin: the daemon's worker
      died) asks the processes to save a checkpoint and stop; a second signal ends them at once.
"""
import json
import os
import signal
import subprocess
import sys
import threading

from .events import emit, set_orphaned


def accelerate_args(launch: dict) -> list:
    """`accelerate launch` flags from the recipe's `accelerate:` settings (Accelerate's own names)."""
    args = []
    n = int(launch.get("num_processes", 1))
    if launch.get("config_file"):
        args += ["--config_file", launch["config_file"]]
    if launch.get("use_deepspeed"):
        args += ["--use_deepspeed", "--zero_stage", str(launch.get("zero_stage", 2))]
    elif launch.get("use_fsdp"):
        args += ["--use_fsdp"]
    elif n > 1:
        # Several processes on one machine: torchrun through --multi_gpu. On CPU too: accelerate's --cpu
        # with several processes needs MPI, while torchrun + gloo needs nothing (use_cpu in the config picks gloo).
        args += ["--multi_gpu"]
    elif launch.get("cpu"):
        args += ["--cpu"]
    args += ["--num_processes", str(n), "--num_machines", str(launch.get("num_machines", 1)), "--dynamo_backend", "no"]
    args += ["--mixed_precision", launch.get("mixed_precision", "no")]
    for key in ("machine_rank", "main_process_ip", "main_process_port", "gpu_ids"):
        if launch.get(key) is not None:
            args += [f"--{key}", str(launch[key])]
    if launch.get("cpu") and n > 1 and launch.get("main_process_port") is None:
        args += ["--main_process_port", str(_free_port())]
    return args


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def relay(source, orphan_log: str) -> None:
    """Copies the training processes' output to ours; once nobody reads ours, to `orphan_log`."""
    out = sys.stdout.buffer
    for line in iter(source.readline, b""):
        try:
            out.write(line)
            out.flush()
        except (BrokenPipeError, OSError, ValueError):
            set_orphaned()
            out = open(orphan_log, "ab")
            out.write(line)
            out.flush()


def run(plan_path: str, watch_stdin: bool) -> int:
    from .plan import read_plan

    plan = read_plan(plan_path)
    stop_file = plan["stop_file"]
    os.makedirs(os.path.dirname(stop_file), exist_ok=True)
    if os.path.exists(stop_file):
        os.remove(stop_file)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TRL_EXPERIMENTAL_SILENCE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in [os.path.dirname(os.path.dirname(os.path.abspath(__file__))), env.get("PYTHONPATH")] if p)
    cmd = [sys.executable, "-m", "accelerate.commands.launch", *accelerate_args(plan.get("launch", {})), "-m", "anneal_trl.train", plan_path]
    emit("log", line="[anneal] " + " ".join(cmd))
    # Its own process group: a second stop request ends every process of the run, and only them.
    # Their output comes through this process, so that when the daemon's worker dies (its pipes close)
    # the training processes keep writing somewhere and live to save their checkpoint; their lines then
    # go to trl/orphaned.log in the run folder.
    child = subprocess.Popen(cmd, env=env, start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    orphan_log = os.path.join(os.path.dirname(stop_file), "orphaned.log")
    relaying = threading.Thread(target=relay, args=(child.stdout, orphan_log), daemon=True)
    relaying.start()
    requests = {"n": 0}

    def request_stop(*_):
        requests["n"] += 1
        if requests["n"] == 1:
            with open(stop_file, "w") as f:
                f.write("stop\n")
        else:
            try:
                os.killpg(child.pid, signal.SIGKILL if requests["n"] > 2 else signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    if watch_stdin:
        def watch():
            # The raw descriptor, not sys.stdin's buffered reader: a daemon thread blocked inside the
            # buffered reader makes the interpreter's shutdown abort ("could not acquire lock for stdin").
            while os.read(0, 1024):
                pass
            request_stop()

        threading.Thread(target=watch, daemon=True).start()
    code = child.wait()
    relaying.join(timeout=10)  # their last lines before ours
    emit("exit", code=code)
    return 0 if code == 0 else 1


def main(argv: list) -> int:
    if len(argv) >= 1 and argv[0] == "env":
        from .plan import environment_problem, package_versions

        versions = package_versions("--peft" in argv)
        print(json.dumps({"python": sys.executable, "versions": versions, "problem": environment_problem(versions, sys.executable)}))
        return 0
    if len(argv) >= 2 and argv[0] == "check":
        from .plan import check, read_plan

        result = check(read_plan(argv[1]), sys.executable)
        print(json.dumps(result))
        return 0 if result["ok"] else 1
    if len(argv) >= 2 and argv[0] == "run":
        return run(argv[1], "--watch-stdin" in argv)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
