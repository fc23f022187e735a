"""How many items of two `rag eval` report folders differ, item by item:

    .venv/bin/python -m tests.compare_answers OLD_REPORT NEW_REPORT

Compared per item: the answer text, its citations, its passages (chunk ids in order), the
confidence (4 places) and the band. Printed: the count and the first questions that differ."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def said(result: dict) -> tuple:
    a = result["answer"]
    return (a["answer"], [c["chunk_id"] for c in a["citations"]],
            [p["chunk_id"] for p in a["passages"]], round(a["confidence"], 4), a.get("band"))


def main() -> None:
    old, new = ([json.loads(line) for line in (Path(d) / "results.jsonl").read_text()
                 .splitlines()] for d in sys.argv[1:3])
    assert [r["question"] for r in old] == [r["question"] for r in new], "not the same set"
    differ = [a["question"] for a, b in zip(old, new, strict=True) if said(a) != said(b)]
    print(f"{len(differ)} of {len(old)} items differ")
    for q in differ[:10]:
        print("  ", q)


if __name__ == "__main__":
    main()
