"""Labeling functions for the bundled YouTube comment spam task (configs/youtube_spam.yaml).

Three kinds are mixed here:

* expression LFs (``keyword_lf``, ``regex_lf``, ``@expression_lf``): polars expressions that
  run over all comments at once;
* a snorkel ``@labeling_function()`` row LF, written exactly as for snorkel;
* spaCy row LFs (``@nlp_labeling_function()``) that read ``x.doc``, parsed once per run.

Each LF votes HAM (0), SPAM (1) or abstains (-1).
"""

import polars as pl

from hitl_triage.lf import (
    ABSTAIN,
    expression_lf,
    keyword_lf,
    labeling_function,
    nlp_labeling_function,
    regex_lf,
)

HAM = 0
SPAM = 1

# --- expression LFs: vectorized over the whole frame ---------------------------------------

my_channel = regex_lf(
    "my_channel", r"(?i)\bmy\s+(?:new\s+)?(?:channel|video|vids?|music|page|song|cover|playlist)", SPAM
)
subscribe = keyword_lf("subscribe", ["subscribe", "subscribers", "sub4sub", "subscribing"], SPAM)
link = regex_lf("link", r"(?i)(?:https?://|www\.|\.com\b|\.ly/|\.net\b)", SPAM)
please = keyword_lf("please", ["please", "plz", "pls", "plzz"], SPAM)
check_out = regex_lf("check_out", r"(?i)\bcheck\s*(?:it\s+|this\s+|my\s+)?out\b", SPAM)
money = regex_lf(
    "money", r"(?i)\b(?:free|money|earn|cash|gift ?cards?|win|giveaway|\$\d+|paypal)\b", SPAM
)
song_talk = keyword_lf(
    "song_talk", ["song", "love this", "beautiful", "best song", "favorite", "dance", "lyrics"], HAM
)
views_talk = regex_lf("views_talk", r"(?i)\b(?:billion|million)\b.*\bviews?\b|\bviews?\b.*\b(?:billion|million)\b", HAM)


@expression_lf
def short_comment() -> pl.Expr:
    """Very short comments ("so cool", "lol") are almost always genuine."""
    return pl.when(pl.col("text").str.len_chars() < 25).then(pl.lit(HAM))


@expression_lf
def laughing() -> pl.Expr:
    """Reactions such as lol/haha/xd are ham."""
    return pl.when(pl.col("text").str.contains(r"(?i)\b(?:lol|haha+|hahah\w*|xd|lmao)\b")).then(pl.lit(HAM))


# --- a snorkel row LF, unchanged from snorkel ------------------------------------------------

ARTIST_WORDS = {
    "Psy": ("psy", "gangnam", "korea"),
    "KatyPerry": ("katy", "perry", "roar", "tiger"),
    "LMFAO": ("lmfao", "party rock", "shuffle"),
    "Eminem": ("eminem", "rihanna", "love the way you lie", "marshall"),
    "Shakira": ("shakira", "waka", "world cup", "africa"),
}


@labeling_function(resources={"artists": ARTIST_WORDS})
def mentions_artist(x, artists):
    """A comment that talks about the video's own artist or song is ham (unless it has a link)."""
    text = (x.text or "").lower()
    if "http" in text or "subscribe" in text:
        return ABSTAIN
    words = artists.get(x.VIDEO, ())
    return HAM if any(w in text for w in words) else ABSTAIN


# --- spaCy row LFs: x.doc is parsed once per run with nlp.pipe ------------------------------

IMPERATIVES = {"check", "subscribe", "visit", "follow", "click", "go", "like", "share", "add", "join", "watch"}


@nlp_labeling_function()
def imperative_opening(x):
    """Spam often opens with an order ("Check out...", "Subscribe to..."), after any greeting."""
    words = [t.lower_ for t in x.doc if t.is_alpha]
    greetings = {"hey", "hi", "hello", "guys", "everyone", "yo", "please", "pls", "plz"}
    first = next((w for w in words if w not in greetings), None)
    return SPAM if first in IMPERATIVES and len(words) > 3 else ABSTAIN


@nlp_labeling_function()
def url_tokens(x):
    """A token that looks like a URL or an e-mail address is self-promotion."""
    return SPAM if any(t.like_url or t.like_email for t in x.doc) else ABSTAIN


@nlp_labeling_function()
def first_person_promo(x):
    """Many first-person words plus a request word: "I make videos, please give me a chance"."""
    lowered = [t.lower_ for t in x.doc]
    first_person = sum(w in {"i", "my", "me", "i'm", "im"} for w in lowered)
    asks = any(w in {"chance", "support", "views", "subscribers", "thumbs"} for w in lowered)
    return SPAM if first_person >= 2 and asks else ABSTAIN
