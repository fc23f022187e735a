"""What a question asks for, whether a sentence has it, where the answer span is, and the
names and numbers a question is about.

Regular expressions over general English question forms: "how many" wants a number, "when" a
date, "who" a name, "where" a place, "what did X say" X's reported words. The lexicons are
complete classes of English (every ordinal, the common reporting verbs), never words of one
corpus.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rag.text import fold, is_stopword, stem, words

_MONTHS = ("january february march april may june july august september october november "
           "december jan feb mar apr jun jul aug sep sept oct nov dec").split()
_DAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_TIME_WORDS = ("today yesterday tomorrow tonight ago day days week weeks weekend month months "
               "year years decade decades century centuries millennium morning afternoon "
               "evening night spring summer autumn winter era bc bce ad ce").split()
_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
          "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = "hundred thousand million billion trillion".split()
_ORDINAL_UNITS = ("zeroth first second third fourth fifth sixth seventh eighth ninth tenth "
                  "eleventh twelfth thirteenth fourteenth fifteenth sixteenth seventeenth "
                  "eighteenth nineteenth").split()
ORDINALS = tuple(_ORDINAL_UNITS + [t[:-1] + "ieth" for t in _TENS]
                 + [s + "th" for s in _SCALES])
CARDINALS = tuple(_UNITS + _TENS + _SCALES + ["dozen", "dozens", "half", "quarter", "couple"])
_NUMBER_WORDS = CARDINALS + ORDINALS
# The common English reporting verbs (base forms; matched by stem, so "noted", "suggests" and
# "announcing" count), plus the irregular past forms a stemmer does not map back.
REPORTING_VERBS = tuple("""
acknowledge add admit advise affirm agree allege announce argue assert assure believe boast
caution claim comment complain concede conclude confirm contend declare deny describe disclose
emphasise emphasize estimate explain forecast hint indicate insist maintain mention note
observe opine predict proclaim promise propose recommend remark reply report respond reveal
say state stress suggest tell testify think urge warn write
""".split())
_IRREGULAR_SPEECH = frozenset("said told wrote written thought".split())
_SPEECH_STEMS = frozenset(stem(v) for v in REPORTING_VERBS)

# Month and day names count only capitalised: "may", "march" and "sun" are also common words.
_DATE = re.compile(r"\b(1\d{3}|20\d\d)s?\b|\b(?i:" + "|".join(_TIME_WORDS) + r")\b|\b("
                   + "|".join(w.capitalize() for w in _MONTHS + _DAYS) + r")\b")
_NUMBER = re.compile(r"\d|\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.I)
# A capitalised word that does not start the sentence: a crude but useful proper-name signal.
_NAME = re.compile(r"(?<=[\w,;:] )[A-Z][\w'-]+")

_QTYPES: list[tuple[str, re.Pattern[str]]] = [
    ("speech", re.compile(r"\bwhat (did|does|do|has|have|will|would|is|was) (?P<who>.+?) "
                          r"(say|said|tell|told|think|believe|claim|argue|predict|warn|write|"
                          r"wrote|note|suggest|announce|state|saying|telling)\b", re.I)),
    ("date", re.compile(r"^\s*when\b|\b(what|which|in what|in which) (dates?|days?|years?|"
                        r"months?|time|century|decade|era|period|season)\b|\bhow long ago\b|"
                        r"\bsince when\b", re.I)),
    ("number", re.compile(r"\bhow (many|much|old|long|far|big|large|tall|high|deep|wide|often|"
                          r"fast|heavy)\b|\bwhat (is|was|are|were) (the|its|their|his|her) "
                          r"(number|percentage|share|proportion|amount|population|cost|price|"
                          r"size|budget|rate|value|total|length|height|area|distance|weight|"
                          r"speed|temperature|age|count)\b|\bwhat (number|percentage|percent|"
                          r"share|proportion|amount|fraction)\b", re.I)),
    ("person", re.compile(r"\b(who|whom|whose)\b|\bwhat is the name of\b|\bwhich (person|"
                          r"people|man|woman|leader|king|queen|president|minister|official|"
                          r"politician|scientist|author|writer|artist|player|emperor|pope|"
                          r"general|ruler|founder|inventor)\b", re.I)),
    ("place", re.compile(r"^\s*where\b|\b(from|in|to) where\b|\bwhich (city|country|state|"
                         r"place|region|nation|town|continent|county|province|island|river|"
                         r"village|capital)\b", re.I)),
]


def _has_speech(sentence: str) -> bool:
    ws = words(sentence)
    return any(w in _IRREGULAR_SPEECH or stem(w) in _SPEECH_STEMS for w in ws) or \
        "according to" in fold(sentence).lower()


_HAS_TYPE: dict[str, Callable[[str], bool]] = {
    "speech": _has_speech,
    "date": lambda s: bool(_DATE.search(s)),
    "number": lambda s: bool(_NUMBER.search(s)),
    "person": lambda s: bool(_NAME.search(s)),
    "place": lambda s: bool(_NAME.search(s)),
}
_MONTH = r"(?-i:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|" \
         r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
_SPANS: dict[str, re.Pattern[str]] = {
    "date": re.compile(
        r"\b\d{1,2}(?:\s*-\s*\d{1,2})?\s+" + _MONTH + r"\b(?:\s+\d{4})?|\b" + _MONTH
        + r"\s+\d{1,2}(?:\s*-\s*\d{1,2})?\b(?:,?\s+\d{4})?|\b(?-i:"
        + "|".join(d.capitalize() for d in _DAYS)
        + r")(?:\s+(?:morning|afternoon|evening|night))?|\b" + _MONTH + r"(?:\s+\d{4})?\b|"
        r"\b(?:1\d{3}|20\d\d)s?\b|\b\d{1,2}(?:st|nd|rd|th)\s+century\b", re.I),
    "number": re.compile(r"\b\d(?:[\d,.]*\d)?(?:st|nd|rd|th)?(?:\s*(?:%|percent|per cent))?|"
                         r"\b(?:" + "|".join(_NUMBER_WORDS) + r")\b(?:\s+(?:percent|per cent))?",
                         re.I),
    "person": re.compile(r"[A-Z][\w'-]+(?:\s+(?:of\s+|de\s+|van\s+|von\s+)?[A-Z][\w'-]+)*"),
}
_SPANS["place"] = _SPANS["person"]
_TITLES = re.compile(r"^(?:(?:Mr|Mrs|Ms|Dr|Sir|Dame|Rt|Hon|Prof|President|Prime|Minister|"
                     r"King|Queen|Pope|Saint|St)\.?\s+)+")


def core_span(sentence: str, need: str | None, question: str) -> str | None:
    """The span of the asked-for kind (a number, date or name) that the question does not
    already contain, nearest to the words the sentence shares with the question."""
    found = locate_core(sentence, need, question)
    return found[0] if found else None


def locate_core(sentence: str, need: str | None, question: str,
                memo: Callable[..., Any] | None = None) -> tuple[str, int, int] | None:
    """`core_span`, and how many characters it lies from the nearest word, and from the
    nearest two-word phrase, that the sentence shares with the question (answers tend to sit
    next to the question's words: "Foreign Minister Winston Peters").

    `memo(fn, *args)` may remember `fn(*args)` (a caller that sees the same sentences
    question after question keeps a `rag.text.Memo` per function)."""
    if need is None or need not in _SPANS:
        return None
    call = memo or _call
    text = fold(sentence)
    asked, asked_stems, q_pairs = call(question_words, question)
    tokens = call(sentence_tokens, text)
    anchors = [(a, b) for a, b, t in tokens if t in asked_stems]
    phrases = [(a[0], b[1]) for a, b in zip(tokens, tokens[1:], strict=False)
               if (a[2], b[2]) in q_pairs]
    best: tuple[int, int, int, int] | None = None
    for start, end in call(typed_spans, text, need):
        # Words the question already has are not the answer: trim them from the edges.
        while (w := re.match(r"[\w'-]+", text[start:end])) and w.group().lower() in asked:
            start = min(end, start + len(w.group()) + 1)
        while (w := re.search(r"[\w'-]+$", text[start:end])) and w.group().lower() in asked:
            end = max(start, start + w.start() - 1)
        span = text[start:end]
        if not span.strip() or set(words(span)) <= asked:
            continue
        distance = min((_gap(start, end, a, b) for a, b in anchors), default=len(text))
        to_phrase = min((_gap(start, end, a, b) for a, b in phrases), default=len(text))
        # A span next to a phrase of the question beats one next to a single shared word.
        if best is None or (to_phrase, distance) < best[:2]:
            best = (to_phrase, distance, start, end)
    if best is None:
        return None
    to_phrase, distance, start, end = best
    return sentence[start:end], distance, to_phrase


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


def typed_spans(text: str, need: str) -> tuple[tuple[int, int], ...]:
    """Start and end of every span of kind `need` in a folded sentence, a leading title
    ("Prime Minister") left out of names."""
    out = []
    for m in _SPANS[need].finditer(text):
        start, end = m.start(), m.end()
        if need in ("person", "place"):
            if start == 0 and " " not in m.group():
                continue  # a lone capitalised first word is just the start of the sentence
            title = _TITLES.match(m.group())
            start += len(title.group()) if title else 0
        out.append((start, end))
    return tuple(out)


def question_words(question: str) -> tuple[frozenset[str], frozenset[str],
                                            frozenset[tuple[str, str]]]:
    """A question's words, content stems and adjacent content-stem pairs."""
    ws = words(question)
    content = [stem(w) for w in ws if not is_stopword(w)]
    return (frozenset(ws), frozenset(content),
            frozenset(zip(content, content[1:], strict=False)))


def sentence_tokens(text: str) -> tuple[tuple[int, int, str], ...]:
    """Start, end and stem of every word of a (folded) sentence."""
    return tuple((m.start(), m.end(), stem(m.group().lower())) for m in re.finditer(r"\w+", text))


def _gap(start: int, end: int, a: int, b: int) -> int:
    """Characters between span [start, end) and span [a, b) (0 when they touch or overlap)."""
    return max(0, a - end, start - b)


_CUE = re.compile(r"\bhow (many|much|old|long|far|big|large|tall|high|deep|wide|often|fast|"
                  r"heavy)\b|\b(say|said|tell|told|think|believe|claim|argue|predict|warn)\b",
                  re.I)


def answer_type(question: str) -> tuple[str | None, set[str]]:
    """The kind of answer a question asks for (speech, date, number, person, place or None),
    and, for reported speech, the stems of who is asked about."""
    for name, pattern in _QTYPES:
        m = pattern.search(question)
        if m:
            who = m.groupdict().get("who") or ""
            return name, {stem(w) for w in words(who) if not is_stopword(w)}
    return None, set()


def cue_words(question: str) -> set[str]:
    """Words that only say what kind of answer is wanted ("how old", "say"): not content."""
    return {w for m in _CUE.finditer(question) for w in words(m.group())}


def has_type(need: str, sentence: str) -> bool:
    """Does the sentence hold an answer of the kind `need` (see `answer_type`)?"""
    return _HAS_TYPE[need](sentence)


_ENTITY = re.compile(r"\b\d[\d,.]*\b|(?<=\S )[A-Z][\w'-]*|^[A-Z][\w'-]*(?= [A-Z])")
_NEGATION = re.compile(r"\b(not|never|no|none|nobody|nothing|neither|nor|without)\b|n't\b",
                       re.I)


def entities(text: str) -> frozenset[str]:
    """Lower-cased words of the names and numbers in a text: capitalised words that do not
    start it (or start a run of them), and numerals."""
    out = set()
    for m in _ENTITY.finditer(fold(text)):
        w = re.sub(r"'s$", "", m.group().lower().rstrip(".,"))  # "Zealand's" is "zealand"
        if w and not is_stopword(w):
            out.add(w)
    return frozenset(out)


def negated(text: str) -> bool:
    return bool(_NEGATION.search(fold(text)))
