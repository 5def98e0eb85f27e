"""Anneal's built-in GRPO rewards (core/rewards) as Python functions with TRL's reward signature
`f(prompts, completions, completion_ids, **columns) -> list[float | None]`.

A port of the TypeScript built-ins, kept to the same scores; test/unit/trl/rewards.test.ts runs both on
the same completions. json_schema is not ported (a Python reward file can use the jsonschema package).
"""
import json
import re
import unicodedata

# ---------------------------------------------------------------- reading inputs (core/rewards/text.ts)


def _content_text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p if isinstance(p, str) else p.get("text", "") if isinstance(p, dict) and isinstance(p.get("text"), str) else "" for p in content)
    return ""


def completion_text(completion) -> str:
    """The text a completion holds: itself, or the content of its last assistant message."""
    if isinstance(completion, str):
        return completion
    if not isinstance(completion, list) or not completion:
        return ""
    for m in reversed(completion):
        if isinstance(m, dict) and m.get("role") == "assistant":
            return _content_text(m.get("content"))
    has_role = any(isinstance(m, dict) and isinstance(m.get("role"), str) for m in completion)
    last = completion[-1]
    return "" if has_role else _content_text(last.get("content") if isinstance(last, dict) else None)


def _normalize_unicode(s: str) -> str:
    return re.sub("[\u2212\u2012\u2013\ufe63\uff0d]", "-", unicodedata.normalize("NFKC", s))


# ---------------------------------------------------------------- answer_match (core/rewards/answer.ts)


def answer_tag(text: str):
    """The content of the last closed <answer>…</answer>, or None."""
    before = len(text)  # an opening tag starts at or before this index
    while before >= 0:
        open_ = text.rfind("<answer>", 0, before + len("<answer>"))
        if open_ < 0:
            return None
        close = text.find("</answer>", open_ + 8)
        if close >= 0:
            return text[open_ + 8 : close]
        before = open_ - 1  # an unclosed tag (a truncated completion): look for an earlier, closed one
    return None


def boxed(text: str):
    """The content of the last \\boxed{…} (braces balanced; also `\\boxed 5` and \\fbox), or None."""
    last = None
    for m in re.finditer(r"\\(?:boxed|fbox)\s*(\{)?", text):
        start = m.end()
        if not m.group(1):
            word = re.match(r"\S+", text[start:])
            if word:
                last = re.sub(r"[$.,;]+$", "", word.group(0))
            continue
        depth, i = 1, start
        while i < len(text) and depth > 0:
            c = text[i]
            if c == "\\":
                i += 1
            elif c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            i += 1
        if depth == 0:
            last = text[start : i - 1]
    return last


# re.ASCII: JavaScript's \w, \d and \b are ASCII-only.
_NUMBER_IN_TEXT = re.compile(r"(?<![\w.])[-+]?[$€£¥₹]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?(?:\s*/\s*\d+(?:\.\d+)?)?", re.ASCII)
_PLAIN_NUMBER = re.compile(r"^[-+]?(?:\d{1,3}(?:,\d{3})+|\d+|(?=\.\d))(?:\.\d+)?(?:[eE][-+]?\d+)?$", re.ASCII)


def last_number(text: str):
    found = _NUMBER_IN_TEXT.findall(_normalize_unicode(text))
    return found[-1] if found else None


def _strip_latex(s: str) -> str:
    s = re.sub(r"\\(?:text|textbf|mathrm|mathbf|operatorname)\s*\{([^{}]*)\}", r"\1", s)
    s = re.sub(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r"(\1)/(\2)", s)
    s = re.sub(r"\\(?:left|right)\b", "", s, flags=re.ASCII)
    s = re.sub(r"\\[,;:! ]|~", " ", s)
    s = s.replace("\\%", "%")
    return re.sub(r"\\\$|\$", "", s)


def _plain_number(s: str):
    t = re.sub(r"^\((.*)\)$", r"\1", s).strip()
    return float(t.replace(",", "")) if _PLAIN_NUMBER.match(t) else None


def parse_number(answer: str):
    """The number an answer states ("1,000", "-3/4", "\\frac{3}{4}", "$5", "5 apples", "50%"), or None."""
    t = re.sub(r"\.$", "", _strip_latex(_normalize_unicode(answer)).strip()).strip()
    t = re.sub(r"^([-+]?)\s*[€£¥₹]\s*", r"\1", t)
    t = re.sub(r"^[€£¥₹]\s*([-+]?)", r"\1", t)
    t = re.sub(r"\s*(?:%|°|[A-Za-z][A-Za-z.²³/]*)$", "", t).strip()
    if t == "":
        return None
    fraction = re.match(r"^([-+]?)\s*(\(?[^/]+?\)?)\s*/\s*(\(?[^/]+?\)?)$", t)
    if fraction:
        num, den = _plain_number(fraction.group(2)), _plain_number(fraction.group(3))
        if num is None or den is None or den == 0:
            return None
        return (-1 if fraction.group(1) == "-" else 1) * (num / den)
    return _plain_number(t)


def normalize_answer(s: str) -> str:
    t = re.sub(r"\s+", " ", _strip_latex(_normalize_unicode(s))).strip()
    return re.sub(r"\.$", "", t).strip().lower()


def reference_answer(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return _js_number_string(value)
    if not isinstance(value, str) or value.strip() == "":
        return None
    hashes = value.rfind("####")
    if hashes >= 0:
        return value[hashes + 4 :].strip()
    b = boxed(value)
    return b if b is not None else value.strip()


def _js_number_string(n) -> str:
    return str(int(n)) if float(n).is_integer() else repr(float(n))


def numbers_close(a: float, b: float, tolerance: float, mode: str) -> bool:
    if a == b:
        return True
    diff = abs(a - b)
    return diff <= tolerance if mode == "absolute" else diff <= tolerance * max(abs(a), abs(b))


def answer_score(completion: str, reference: str, tolerance: float = 1e-6, mode: str = "relative") -> int:
    tagged = answer_tag(completion)
    if tagged is not None:
        b = boxed(tagged)
        stated = b if b is not None else tagged
    else:
        stated = boxed(completion)
    expected = parse_number(reference)
    if expected is not None:
        source = stated if stated is not None else completion
        n = parse_number(source)
        if n is None:
            n = parse_number(last_number(source) or "")
        return 1 if n is not None and numbers_close(n, expected, tolerance, mode) else 0
    return 1 if normalize_answer(stated if stated is not None else completion) == normalize_answer(reference) else 0


# ---------------------------------------------------------------- think_format (core/rewards/format.ts)

_STRICT = re.compile(r"^\s*<think>(?![\s\S]*<think>)[\s\S]*?</think>\s*<answer>(?![\s\S]*<answer>)[\s\S]*?</answer>\s*$")


def strict_format_score(text: str) -> int:
    return 1 if _STRICT.match(text) and text.count("</think>") == 1 and text.count("</answer>") == 1 else 0


def soft_format_score(text: str) -> float:
    return (0.5 if re.search(r"<think>[\s\S]*?</think>", text) else 0) + (0.5 if re.search(r"<answer>[\s\S]*?</answer>", text) else 0)


# ---------------------------------------------------------------- regex (core/rewards/regex.ts)

_FLAG_BITS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "u": 0, "d": 0, "g": 0, "y": 0}


def compile_js_regex(pattern: str, flags: str = ""):
    """A JavaScript pattern in Python's re: `(?<name>` becomes `(?P<name>`; flags i, m, s apply (g, y, d, u change nothing for a test)."""
    bits = 0
    for f in flags:
        if f not in _FLAG_BITS:
            raise ValueError(f"regex flag `{f}` has no Python equivalent; use i, m or s")
        bits |= _FLAG_BITS[f]
    return re.compile(re.sub(r"\(\?<(?![=!])", "(?P<", pattern), bits)


# ---------------------------------------------------------------- json_valid (core/rewards/json.ts)

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[ \t]*\r?\n([\s\S]*?)```")


def json_text(text: str) -> str:
    js = plain = None
    for m in _FENCE.finditer(text):
        if m.group(1).lower() in ("json", "jsonc"):
            js = m.group(2)
        elif m.group(1) == "":
            plain = m.group(2)
    return (js if js is not None else plain if plain is not None else text).strip()


def parses_as_json(text: str) -> bool:
    def refuse(constant):  # JSON.parse rejects NaN and Infinity; Python's json would accept them
        raise ValueError(constant)

    try:
        json.loads(json_text(text), parse_constant=refuse)
        return True
    except ValueError:
        return False


# ---------------------------------------------------------------- length (core/rewards/length.ts)

# Intl.Segmenter's word-like segments (UAX #29), approximately: letter/digit runs, joined across a
# single `.`, `,` or `'` between digits or letters ("1,000", "don't"). CJK text, which the segmenter
# splits with a dictionary, counts differently here.
_WORD = re.compile(r"[^\W_]+(?:[.,'’][^\W_]+)*")


def text_length(text: str, unit: str) -> int:
    """Characters (code points) or words (approximately Intl.Segmenter's word count)."""
    return len(text) if unit == "chars" else len(_WORD.findall(text))


def target_score(length: float, target: float) -> float:
    return max(0.0, 1 - abs(length - target) / target)


def overlong_score(length: float, max_: float, ramp: float) -> float:
    return 0.0 if length <= max_ else max(-1.0, -(length - max_) / ramp)


# ---------------------------------------------------------------- building a recipe's reward


def _column(kwargs, column, rows, name):
    values = kwargs.get(column)
    if values is None:
        return None
    if len(values) != rows:
        raise ValueError(f"Reward {name}: column `{column}` has {len(values)} values for {rows} completions.")
    return values


def make_builtin(spec: dict, max_completion_length=None):
    """The reward function a recipe's built-in (`{builtin, name, column, options}`) means, named `name` (TRL logs rewards/<name>/mean)."""
    builtin, name = spec["builtin"], spec["name"]
    column = spec.get("column")
    o = spec.get("options") or {}

    if builtin == "answer_match":
        col = column or "answer"
        tol, mode = o.get("tolerance", 1e-6), o.get("tolerance_mode", "relative")

        def fn(prompts, completions, completion_ids=None, **kw):
            texts = [completion_text(c) for c in completions]
            refs = _column(kw, col, len(texts), name)
            out = []
            for i, t in enumerate(texts):
                ref = reference_answer(refs[i]) if refs is not None else None
                out.append(None if ref is None else float(answer_score(t, ref, tol, mode)))
            return out

    elif builtin == "think_format":
        score = soft_format_score if o.get("mode") == "soft" else strict_format_score

        def fn(prompts, completions, completion_ids=None, **kw):
            return [float(score(completion_text(c))) for c in completions]

    elif builtin == "regex":
        flags = o.get("flags", "")
        fixed = compile_js_regex(o["pattern"], flags) if isinstance(o.get("pattern"), str) else None
        cache = {}

        def row_pattern(p):
            if not isinstance(p, str) or p == "":
                return None
            if p not in cache:
                try:
                    cache[p] = compile_js_regex(p, flags)
                except (re.error, ValueError):
                    cache[p] = None
            return cache[p]

        def fn(prompts, completions, completion_ids=None, **kw):
            texts = [completion_text(c) for c in completions]
            patterns = _column(kw, column, len(texts), name) if column else None
            out = []
            for i, t in enumerate(texts):
                r = row_pattern(patterns[i]) if patterns is not None else fixed
                out.append(None if r is None else (1.0 if r.search(t) else 0.0))
            return out

    elif builtin == "json_valid":

        def fn(prompts, completions, completion_ids=None, **kw):
            return [1.0 if parses_as_json(completion_text(c)) else 0.0 for c in completions]

    elif builtin == "length":
        target, max_, ramp = o.get("target"), o.get("max"), o.get("ramp")
        if target is None and max_ is None and column is None:
            limit = max_completion_length or 256
            unit, max_, ramp = o.get("unit", "tokens"), limit - limit // 5, (limit // 5) or 1
        else:
            unit = o.get("unit", "chars")

        def fn(prompts, completions, completion_ids=None, **kw):
            texts = [completion_text(c) for c in completions]
            if unit == "tokens":
                if completion_ids is None:
                    raise ValueError(f"Reward {name}: unit tokens needs completion_ids; set unit to chars or words.")
                lens = [len(ids) for ids in completion_ids]
            else:
                lens = [text_length(t, unit) for t in texts]
            targets = _column(kw, column, len(lens), name) if column else None
            out = []
            for i, n in enumerate(lens):
                if max_ is not None:
                    out.append(overlong_score(n, max_, ramp if ramp is not None else (max_ or 1)))
                    continue
                t = targets[i] if targets is not None else target
                try:
                    t = float(t) if t is not None else None
                except (TypeError, ValueError):
                    t = None
                out.append(target_score(n, t) if t is not None and t > 0 and t == t and abs(t) != float("inf") else None)
            return out

    else:
        raise ValueError(f"`{builtin}` is not a built-in reward ported to Python; give a Python `file` instead.")

    fn.__name__ = name
    return fn


def load_reward_file(spec: dict):
    """A user's Python reward module: its `reward` function, else the one named like the reward, else its only public function."""
    import importlib.util
    import inspect

    path, name = spec["file"], spec["name"]
    module_spec = importlib.util.spec_from_file_location(f"anneal_user_reward_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    functions = {n: f for n, f in vars(module).items() if inspect.isfunction(f) and f.__module__ == module.__name__ and not n.startswith("_")}
    fn = vars(module).get("reward") or vars(module).get(name) or (next(iter(functions.values())) if len(functions) == 1 else None)
    if not callable(fn):
        raise ValueError(f"{path} has no function to call as the reward; define `def reward(prompts, completions, **kwargs)`.")

    if inspect.iscoroutinefunction(fn):
        async def named(*args, **kwargs):
            return await fn(*args, **kwargs)
    else:
        def named(*args, **kwargs):
            return fn(*args, **kwargs)

    named.__name__ = name
    return named
