"""Labeling functions for the bundled instruction/response triage task
(configs/instruction_review.yaml).

Each item has an ``instruction`` and a ``response`` (the dataset's text field, so ``text`` holds
the response as well). Every LF may read both columns: the expression LFs through
``pl.col("instruction")`` / ``pl.col("response")``, the row LFs through ``x.instruction`` and
``x.response``.

Votes: GOOD (0) a correct, complete answer; FIX (1) on topic with a correctable flaw; REJECT (2)
not an answer; or abstain (-1). No LF knows geography, so a wrong capital city is left to the
judge and the reviewers.
"""

import re

import polars as pl

from hitl_triage.lf import ABSTAIN, expression_lf, labeling_function, regex_lf

GOOD = 0
FIX = 1
REJECT = 2

# --- expression LFs: vectorized over all items, reading any column -----------------------------

refusal = regex_lf(
    "refusal", r"(?i)\b(?:sorry|cannot|can't|unable to|as an ai)\b", REJECT, field="response"
)
link_spam = regex_lf(
    "link_spam", r"(?i)(?:https?://|www\.|\bclick\b|gift card)", REJECT, field="response"
)
raw_markup = regex_lf(
    "raw_markup", r"(?i)<\s*(?:script|img|iframe)\b|javascript:", REJECT, field="response"
)
cut_off = regex_lf("cut_off", r"(?i)\b(?:is|are|of|the)\s*$", FIX, field="response")


@expression_lf
def too_short() -> pl.Expr:
    """A response of a few characters ("ok", "...") answers nothing."""
    return pl.when(pl.col("response").str.strip_chars().str.len_chars() < 4).then(pl.lit(REJECT))


@expression_lf
def echoes_instruction() -> pl.Expr:
    """A response that repeats the instruction word for word is not an answer."""
    same = pl.col("response").str.strip_chars() == pl.col("instruction").str.strip_chars()
    return pl.when(same).then(pl.lit(REJECT))


# --- row LFs: check the answer against the instruction ----------------------------------------

ARITH = re.compile(r"What is (-?\d+) ([+*-]) (-?\d+)\?")
KM = re.compile(r"Convert (\d+) km to meters\.")
UPPER = re.compile(r"Rewrite in uppercase: (.+)$")
WORD = re.compile(r"[a-z]{3,}")
STOP = {"what", "the", "name", "city", "list", "three", "markdown", "convert", "rewrite", "uppercase",
        "meters", "and", "for", "with"}


@labeling_function()
def arithmetic_check(x):
    """Recompute the sum, difference or product the instruction asks for."""
    match = ARITH.search(x.instruction or "")
    if not match:
        return ABSTAIN
    a, op, b = int(match.group(1)), match.group(2), int(match.group(3))
    value = {"+": a + b, "-": a - b, "*": a * b}[op]
    numbers = re.findall(r"=\s*(-?\d+)", x.response or "")
    if not numbers:
        return ABSTAIN
    return GOOD if int(numbers[-1]) == value else FIX


@labeling_function()
def conversion_check(x):
    """km to meters: the response must say 1000 times the kilometres."""
    match = KM.search(x.instruction or "")
    if not match:
        return ABSTAIN
    found = re.search(r"is (\d+) meters", x.response or "")
    if not found:
        return FIX if re.search(r"\d+\s*$", x.response or "") else ABSTAIN
    return GOOD if int(found.group(1)) == 1000 * int(match.group(1)) else FIX


@labeling_function()
def uppercase_check(x):
    """The rewrite must be the instruction's words in capitals."""
    match = UPPER.search(x.instruction or "")
    if not match:
        return ABSTAIN
    words, response = match.group(1).strip(), (x.response or "").strip()
    if response == words.upper():
        return GOOD
    return FIX if response.lower() == words.lower() else ABSTAIN


@labeling_function()
def markdown_list(x):
    """Asked for a list of three: three "- " lines is good, a list of fewer or a plain line is fixable."""
    if "Markdown list" not in (x.instruction or ""):
        return ABSTAIN
    lines = [line for line in (x.response or "").splitlines() if line.startswith("- ")]
    if len(lines) == 3:
        return GOOD
    return FIX if lines or "," in (x.response or "") else ABSTAIN


@labeling_function()
def off_topic(x):
    """No content word of the instruction appears in the response (case-insensitive); lists
    are left out (their items need not repeat the instruction's words)."""
    if "list" in (x.instruction or "").lower():
        return ABSTAIN
    asked = set(WORD.findall((x.instruction or "").lower())) - STOP
    said = set(WORD.findall((x.response or "").lower()))
    if not asked or len(x.response or "") < 4:
        return ABSTAIN
    return REJECT if not asked & said else ABSTAIN


@labeling_function()
def names_the_subject(x):
    """A capital-city answer that names the country asked about (weak: it may name the wrong city)."""
    match = re.search(r"capital (?:city )?of ([A-Z][A-Za-z ]+?)[?.]", x.instruction or "")
    if not match:
        return ABSTAIN
    response = x.response or ""
    return GOOD if match.group(1) in response and response.rstrip().endswith(".") else ABSTAIN
