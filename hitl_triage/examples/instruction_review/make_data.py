"""Writes instruction_review.csv: instruction/response pairs with gold triage labels.

The data is this project's own, written by this script (no outside source), under the project's
license. It is deterministic: running it again writes the same file byte for byte
(``python hitl_triage/examples/instruction_review/make_data.py``).

Labels: ``good`` (a correct, complete answer), ``fix`` (on topic but with a flaw a reviewer can
correct: a wrong number or fact, a cut-off sentence, a wrong format), ``reject`` (not an answer:
a refusal, an echo of the instruction, off-topic text, link spam or markup instead of text).
Some responses are Markdown (lists, bold, code), and a few rejects carry raw HTML such as
``<script>``, so the review screen's safe Markdown rendering is exercised by real items.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

OUT = Path(__file__).with_name("instruction_review.csv")
N_ITEMS = 360
SEED = 20261202

CAPITALS = [("France", "Paris", "Lyon"), ("Japan", "Tokyo", "Osaka"), ("Italy", "Rome", "Milan"),
            ("Spain", "Madrid", "Barcelona"), ("Canada", "Ottawa", "Toronto"), ("Australia", "Canberra", "Sydney"),
            ("Brazil", "Brasilia", "Rio de Janeiro"), ("Germany", "Berlin", "Munich"), ("Egypt", "Cairo", "Alexandria"),
            ("Kenya", "Nairobi", "Mombasa"), ("Norway", "Oslo", "Bergen"), ("Peru", "Lima", "Cusco"),
            ("Turkey", "Ankara", "Istanbul"), ("India", "New Delhi", "Mumbai"), ("Chile", "Santiago", "Valparaiso")]
COLORS = [("primary colors of paint", ["red", "yellow", "blue"]),
          ("planets closest to the Sun", ["Mercury", "Venus", "Earth"]),
          ("states of matter", ["solid", "liquid", "gas"]),
          ("noble gases", ["helium", "neon", "argon"]),
          ("parts of a plant", ["root", "stem", "leaf"])]
WORDS = ["hello world", "good morning", "open the door", "data is plural", "keep it simple",
         "read the docs", "tea or coffee", "see you soon"]
REFUSALS = ["I'm sorry, but I can't help with that request.", "As an AI language model, I cannot answer this.",
            "I am unable to provide that information.", "Sorry, I cannot assist with that."]
OFF_TOPIC = ["Bananas are an excellent source of potassium.", "The weather was lovely on our trip last summer.",
             "My favourite film is about a robot who loves plants.", "Remember to water your tomatoes twice a week."]
SPAM = ["Great question! Visit http://cheap-answers.example.com for the answer and a free gift card!",
        "Click [here](http://win-prizes.example.net) to claim your prize before reading the answer.",
        "Follow my page www.best-deals.example.org for daily answers!!!"]
MARKUP = ['<script>alert("owned")</script>', '<img src=x onerror="alert(1)"> see above',
          '<iframe src="http://example.com"></iframe>', "[click me](javascript:alert(1))"]


def _arith(rng: random.Random) -> tuple[str, str, str, str]:
    a, b = rng.randint(2, 99), rng.randint(2, 99)
    op = rng.choice(["+", "-", "*"])
    value = {"+": a + b, "-": a - b, "*": a * b}[op]
    instruction = f"What is {a} {op} {b}?"
    good = f"{a} {op} {b} = {value}."
    wrong = value + rng.choice([-10, -2, -1, 1, 2, 10])
    fix = f"{a} {op} {b} = {wrong}."
    return "arithmetic", instruction, good, fix


def _capital(rng: random.Random) -> tuple[str, str, str, str]:
    country, capital, other = rng.choice(CAPITALS)
    instruction = rng.choice([f"What is the capital of {country}?", f"Name the capital city of {country}."])
    good = f"The capital of {country} is **{capital}**."
    fix = rng.choice([f"The capital of {country} is **{other}**.", f"The capital of {country} is"])
    return "capital", instruction, good, fix


def _convert(rng: random.Random) -> tuple[str, str, str, str]:
    km = rng.randint(2, 40)
    instruction = f"Convert {km} km to meters."
    good = f"{km} km is {km * 1000} meters."
    fix = rng.choice([f"{km} km is {km * 100} meters.", f"{km} km is {km * 1000}"])
    return "convert", instruction, good, fix


def _upper(rng: random.Random) -> tuple[str, str, str, str]:
    words = rng.choice(WORDS)
    instruction = f"Rewrite in uppercase: {words}"
    good = words.upper()
    fix = rng.choice([words.title(), words])
    return "uppercase", instruction, good, fix


def _list(rng: random.Random) -> tuple[str, str, str, str]:
    topic, items = rng.choice(COLORS)
    instruction = f"List the three {topic} as a Markdown list."
    good = "\n".join(f"- {x}" for x in items)
    fix = rng.choice([", ".join(items), "\n".join(f"- {x}" for x in items[:2])])
    return "list", instruction, good, fix


def _reject(rng: random.Random, instruction: str) -> str:
    kind = rng.choice(["refusal", "refusal", "off_topic", "off_topic", "echo", "spam", "markup", "empty"])
    if kind == "refusal":
        return rng.choice(REFUSALS)
    if kind == "off_topic":
        return rng.choice(OFF_TOPIC)
    if kind == "echo":
        return instruction
    if kind == "spam":
        return rng.choice(SPAM)
    if kind == "markup":
        return rng.choice(MARKUP)
    return rng.choice(["...", "?", "ok"])


def rows(n: int = N_ITEMS, seed: int = SEED) -> list[dict[str, str]]:
    """``n`` rows (id, family, instruction, response, label): about half good, a quarter fix,
    a quarter reject."""
    rng = random.Random(seed)
    makers = [_arith, _capital, _convert, _upper, _list]
    out = []
    for i in range(n):
        family, instruction, good, fix = rng.choice(makers)(rng)
        draw = rng.random()
        if draw < 0.5:
            label, response = "good", good
        elif draw < 0.75:
            label, response = "fix", fix
        else:
            label, response = "reject", _reject(rng, instruction)
        out.append({"id": f"ir{i:04d}", "family": family, "instruction": instruction,
                    "response": response, "label": label})
    return out


def main() -> None:
    with OUT.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "family", "instruction", "response", "label"],
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows())
    print(f"wrote {OUT} ({N_ITEMS} rows)")


if __name__ == "__main__":
    main()
