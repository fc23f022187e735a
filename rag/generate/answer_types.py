"""What a question asks for, whether a sentence has it, and where the answer span is.

Regular expressions over English question forms: "how many" wants a number, "when" a date,
"who" a name, "where" a place, "what did X say" X's reported words.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from rag.text import fold, is_stopword, stem, words

_MONTHS = ("january february march april may june july august september october november "
           "december jan feb mar apr jun jul aug sep sept oct nov dec").split()
_DAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_TIME_WORDS = ("today yesterday tomorrow week weekend month year years morning evening night "
               "afternoon ago later earlier anniversary century decade").split()
_NUMBER_WORDS = ("one two three four five six seven eight nine ten eleven twelve thirteen "
                 "fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty "
                 "sixty seventy eighty ninety hundred thousand million billion trillion dozen "
                 "half third quarter first second fifth").split()
_DATE = re.compile(r"\b(1[5-9]\d\d|20\d\d)\b|\b(" + "|".join(_MONTHS + _DAYS + _TIME_WORDS)
                   + r")\b", re.I)
_NUMBER = re.compile(r"\d|\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.I)
# A capitalised word that does not start the sentence: a crude but useful proper-name signal.
_NAME = re.compile(r"(?<=[\w,;:] )[A-Z][\w'-]+")

_QTYPES: list[tuple[str, re.Pattern[str]]] = [
    ("speech", re.compile(r"\bwhat (did|does|do|has|have|will|would) (?P<who>.+?) (say|tell|"
                          r"think|believe|claim|argue|predict|warn)\b", re.I)),
    ("date", re.compile(r"^\s*when\b|\b(what|which) (dates?|days?|years?|months?|time)\b|"
                        r"\bhow long ago\b", re.I)),
    ("number", re.compile(r"\bhow (many|much|old|long|far|big|large)\b|\bwhat (is|was|are|were)"
                          r" the (number|percentage|share|proportion|amount|population|cost|"
                          r"price|size|budget|rate|value|total)\b|\bwhat (number|percentage|"
                          r"percent|share|proportion|amount)\b", re.I)),
    ("person", re.compile(r"^\s*(who|whom|whose)\b|\b(who|whom|whose)\b|"
                          r"\bwhich (person|leader|minister|president|official|politician)", re.I)),
    ("place", re.compile(r"^\s*where\b|\bwhich (city|country|state|place|region|nation)", re.I)),
]
_SPEECH = re.compile(r"\b(say|says|said|tell|tells|told|according to|believes?|thinks?|"
                     r"stress(es|ed)?|predicts?|warns?|argues?|added|explained|caveated|"
                     r"anticipates?)\b", re.I)
_HAS_TYPE: dict[str, Callable[[str], bool]] = {
    "speech": lambda s: bool(_SPEECH.search(s)),
    "date": lambda s: bool(_DATE.search(s)),
    "number": lambda s: bool(_NUMBER.search(s)),
    "person": lambda s: bool(_NAME.search(s)),
    "place": lambda s: bool(_NAME.search(s)),
}
_MONTH = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|" \
         r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_SPANS: dict[str, re.Pattern[str]] = {
    "date": re.compile(
        r"\b\d{1,2}(?:\s*-\s*\d{1,2})?\s+" + _MONTH + r"\b(?:\s+\d{4})?|\b" + _MONTH
        + r"\s+\d{1,2}(?:\s*-\s*\d{1,2})?(?:,?\s+\d{4})?|\b(?:" + "|".join(_DAYS)
        + r")(?:\s+(?:morning|afternoon|evening|night))?|\b" + _MONTH + r"(?:\s+\d{4})?\b|"
        r"\b(?:1[5-9]|20)\d\d\b", re.I),
    "number": re.compile(r"\b\d(?:[\d,.]*\d)?(?:st|nd|rd|th)?(?:\s*(?:%|percent|per cent))?|"
                         r"\b(?:" + "|".join(_NUMBER_WORDS) + r")\b(?:\s+(?:percent|per cent))?",
                         re.I),
    "person": re.compile(r"[A-Z][\w'-]+(?:\s+(?:of\s+)?[A-Z][\w'-]+)*"),
}
_SPANS["place"] = _SPANS["person"]
_TITLES = re.compile(r"^(?:(?:Mr|Mrs|Ms|Dr|Sir|Dame|Rt|Hon|President|Prime|Minister)\s+)+")


def core_span(sentence: str, need: str | None, question: str) -> str | None:
    """The span of the asked-for kind (a number, date or name) that the question does not
    already contain, nearest to the words the sentence shares with the question."""
    pattern = _SPANS.get(need or "")
    if pattern is None:
        return None
    text = fold(sentence)
    asked = set(words(question))
    asked_stems = {stem(w) for w in asked if not is_stopword(w)}
    anchors = [m.start() for m in re.finditer(r"\w+", text)
               if stem(m.group().lower()) in asked_stems]
    best: tuple[float, int, int] | None = None
    for m in pattern.finditer(text):
        start, end = m.start(), m.end()
        if need in ("person", "place"):
            if start == 0 and " " not in m.group():
                continue  # a lone capitalised first word is just the start of the sentence
            start += len(_TITLES.match(m.group()).group()) if _TITLES.match(m.group()) else 0
        # Words the question already has are not the answer: trim them from the edges.
        while (w := re.match(r"[\w'-]+", text[start:end])) and w.group().lower() in asked:
            start = min(end, start + len(w.group()) + 1)
        while (w := re.search(r"[\w'-]+$", text[start:end])) and w.group().lower() in asked:
            end = max(start, start + w.start() - 1)
        span = text[start:end]
        if not span.strip() or set(words(span)) <= asked:
            continue
        distance = min((abs(a - start) for a in anchors), default=0)
        if best is None or distance < best[0]:
            best = (distance, start, end)
    return sentence[best[1]:best[2]] if best else None


_CUE = re.compile(r"\bhow (many|much|old|long|far|big|large)\b|\b(say|tell|think|believe|"
                  r"claim|argue|predict|warn)\b", re.I)


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
