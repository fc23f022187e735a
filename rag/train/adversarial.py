"""Questions made to look answerable, from SQuAD paragraphs: `perturb` (a name or number
swapped, re-asked for a kind of answer the paragraph lacks, or negated: the way SQuAD 2.0's
unanswerable questions were written) and `distractor` (AddSent-style: the question restated
as a sentence with one name or number swapped and a wrong answer of the gold answer's kind).
The selector and the reader train on them; the distractor check measures on them."""

from __future__ import annotations

import random
import re
from collections.abc import Collection, Sequence

from rag.query.answer_types import answer_type, has_type

_NUMBER = re.compile(r"\b\d[\d,.]*\d\b|\b\d\b")
# A run of capitalised words (not starting the text, not a leading "The").
_NAME = re.compile(r"(?<=\S )(?!The\b)[A-Z][\w'-]+(?:\s+(?:of\s+|the\s+)?[A-Z][\w'-]+)*")
_AUX = re.compile(r"^(\w+(?:\s+\w+)?\s+)(is|are|was|were|did|does|do|has|have|had|can|could|"
                  r"will|would|should|must)\b", re.I)


def entity_pool(paragraphs: Sequence[str]) -> dict[str, list[str]]:
    """Names and numbers of an article, for swapping into its questions."""
    pool: dict[str, set[str]] = {"name": set(), "number": set()}
    for text in paragraphs:
        pool["name"].update(m.group() for m in _NAME.finditer(text))
        pool["number"].update(m.group() for m in _NUMBER.finditer(text))
    return {k: sorted(v) for k, v in pool.items()}


def perturb(question: str, paragraph: str, pool: dict[str, list[str]], rng: random.Random
            ) -> str | None:
    """An unanswerable twin of an answerable question, made one of three ways (picked at
    random among those that apply): a name or number swapped for one of the article's that the
    gold paragraph never mentions; the question re-asked for a kind of answer the paragraph
    lacks ("When ...?" of a paragraph without dates); or a negation. None when none applies."""
    makers = [_swapped, _retyped, _negated]
    rng.shuffle(makers)
    for make in makers:
        twin = make(question, paragraph, pool, rng)
        if twin:
            return twin
    return None


def _swapped(question: str, paragraph: str, pool: dict[str, list[str]], rng: random.Random
             ) -> str | None:
    spots = [("number", m) for m in _NUMBER.finditer(question)] + \
            [("name", m) for m in _NAME.finditer(question)]
    rng.shuffle(spots)
    low = paragraph.lower()
    for kind, m in spots:
        options = [e for e in pool[kind] if e.lower() not in low and e != m.group()]
        if options:
            return question[:m.start()] + rng.choice(options) + question[m.end():]
    return None


_WH = re.compile(r"^\s*(how (many|much|long|old|far|big|large)|(in )?(what|which) year|when|"
                 r"who|whom|where|what|which)\b", re.I)
_ASK = {"number": "How many", "date": "When"}  # kinds a paragraph can visibly lack


def _retyped(question: str, paragraph: str, pool: dict[str, list[str]], rng: random.Random
             ) -> str | None:
    wh = _WH.match(question)
    if not wh:
        return None
    need = answer_type(question)[0]
    options = [kind for kind in _ASK if kind != need and not has_type(kind, paragraph)]
    return _ASK[rng.choice(options)] + question[wh.end():] if options else None


def _negated(question: str, paragraph: str, pool: dict[str, list[str]], rng: random.Random
             ) -> str | None:
    aux = _AUX.match(question)
    if aux and " not " not in question and "n't" not in question:
        return question[:aux.end()] + " not" + question[aux.end():]
    return None


_AUX_WORD = r"(is|are|was|were|did|does|do|has|have|had|can|could|will|would)"
_LEAD_AUX = re.compile(rf"^\s*(?:(\w+(?:\s+\w+)?)\s+)??{_AUX_WORD}\b\s*", re.I)
_PARTICIPLE = re.compile(r"^[a-z]+(ed|en|wn|orn|ound|ought|ade|uilt|eld)$")
_YEAR = re.compile(r"\b1\d{3}\b|\b20\d\d\b")


def distractor(question: str, answers: Sequence[str], paragraph: str,
               pool: dict[str, list[str]], rng: random.Random,
               lower: Collection[str] = frozenset()) -> str | None:
    """A sentence that repeats the question's words as a statement, with one name or number
    swapped (so it does not answer the question) and a wrong answer of the gold answer's kind,
    in the manner of SQuAD's AddSent (Jia and Liang, 2017): "How many people live in Fresno?"
    gives "12,400 people live in Clovis." None when the question has no wh-word, no name or
    number to swap, or the article no wrong answer of the kind. `lower`: the words the article
    also writes in lower case, which are no names ("Lastly", "Moreover")."""
    pool = {**pool, "name": [e for e in pool["name"] if e.lower() not in lower]}
    wh = _WH.match(question)
    swapped = _swapped(question, paragraph, pool, rng)
    if not wh or not swapped or not answers:
        return None
    fake = _wrong_answer(answers, pool, rng)
    rest = swapped[wh.end():].strip().rstrip("?").strip()
    if not fake or not rest:
        return None
    asks = wh.group().lower()
    aux = _LEAD_AUX.match(rest)
    if aux is None:  # "Who founded X?", "How many people live in X?": the answer is the subject
        text = f"{fake} {rest}"
    else:
        noun, verb, body = aux.group(1), aux.group(2).lower(), rest[aux.end():].strip()
        if not body:
            return None
        words = body.split()
        if noun and asks.startswith("how"):  # "How many km does X flow?" -> "X flow FAKE km."
            text = f"{body} {fake} {noun}"
            return text[:1].upper() + text[1:] + "."
        if noun:  # "What book did X translate?" -> "The book that X translate was FAKE."
            clause = body if verb in ("do", "does", "did") else f"{verb} {body}"
            text = f"the {noun} that {clause} was {fake}"
            return text[:1].upper() + text[1:] + "."
        if verb in ("do", "does", "did"):
            clause = body
        elif asks in ("when", "where") or asks.endswith("year"):  # "X was born" + " in 1516"
            cut = next((i for i, w in enumerate(words) if i and _PARTICIPLE.search(w)),
                       len(words))
            clause = " ".join(words[:cut] + [verb] + words[cut:])
        else:
            clause = f"{body} {verb}"
        if asks in ("when", "where") or asks.endswith("year"):
            text = f"{clause} in {fake}"
        else:
            text = f"{clause} {fake}"
    return text[:1].upper() + text[1:] + "."


def lower_words(paragraphs: Sequence[str]) -> set[str]:
    """The words an article writes in lower case: `distractor`'s `lower`."""
    return set(re.findall(r"\b[a-z][\w'-]*", " ".join(paragraphs)))


def _wrong_answer(answers: Sequence[str], pool: dict[str, list[str]], rng: random.Random
                  ) -> str | None:
    """A name or number of the article that none of the answers holds: a year for a date,
    a number for a number, and a name for anything else."""
    said = " ".join(answers).lower()
    if _YEAR.search(said):
        options = [e for e in pool["number"] if _YEAR.fullmatch(e)]
    elif any(c.isdigit() for c in said):
        options = pool["number"]
    else:
        options = pool["name"]
    options = [e for e in options if e.lower() not in said and said not in e.lower()]
    return rng.choice(options) if options else None


# -- data ---------------------------------------------------------------------------------------
