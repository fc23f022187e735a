"""`rag build | ask | chat`: few verbs, lazy imports, one-line errors (exit 1), usage exit 2."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from rag.errors import RagError


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _log_to_stderr()
    try:
        return args.run(args)
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _log_to_stderr() -> None:
    """Our warnings (skipped files, bad front matter) as one line each; libraries stay quiet."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    log = logging.getLogger("rag")
    log.addHandler(handler)
    log.setLevel(logging.WARNING)
    log.propagate = False
    logging.getLogger("bm25s").setLevel(logging.ERROR)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rag", description="Cited answers from a folder of documents.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    b = sub.add_parser("build", help="index documents (incremental; only changes are embedded)")
    b.add_argument("paths", nargs="*", metavar="PATH", help="folders or files (default: seeds/)")
    b.add_argument("--index", metavar="DIR", help="index folder (default: index/)")
    b.add_argument("--rebuild", action="store_true", help="re-embed everything")
    b.set_defaults(run=_build)

    a = sub.add_parser("ask", help="answer one question with citations")
    a.add_argument("question")
    a.add_argument("--index", metavar="DIR", help="index folder (default: index/)")
    a.add_argument("-k", type=_positive, metavar="N", help="passages to retrieve")
    a.add_argument("--generator", metavar="NAME", help="answer generator (default: extractive)")
    a.add_argument("--history", action="append", metavar="TURN", default=[],
                   help="an earlier user turn, oldest first (repeatable)")
    a.add_argument("--json", action="store_true", help="print the Answer object as JSON")
    a.set_defaults(run=_ask)

    c = sub.add_parser("chat", help="serve the chat page (builds the index first if missing)")
    c.add_argument("--index", metavar="DIR", help="index folder (default: index/)")
    c.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    c.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    c.add_argument("--share", action="store_true", help="also open a public Gradio share link")
    c.add_argument("--concurrency", type=_positive, default=4, metavar="N",
                   help="questions answered at once (default: 4)")
    c.set_defaults(run=_chat)
    return p


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {n})")
    return n


def _settings(args: argparse.Namespace):
    from rag.config import Settings

    return Settings.load(index_dir=args.index)


def _build(args: argparse.Namespace) -> int:
    from rag.pipeline import build

    s = _settings(args)
    r = build(args.paths or None, settings=s, rebuild=args.rebuild, progress=sys.stderr.isatty())
    if r.rebuilt_because:
        print(f"full build: {r.rebuilt_because}")
    for label, items in (("added", r.added), ("changed", r.changed), ("removed", r.removed)):
        for doc_id in items:
            print(f"  {label:8} {doc_id}")
    for old, new in r.renamed:
        print(f"  renamed  {old} -> {new}")
    print(f"{len(r.added)} added, {len(r.changed)} changed, {len(r.removed)} removed, "
          f"{len(r.renamed)} renamed, {len(r.kept)} kept; embedded {r.chunks_embedded} of "
          f"{r.chunks_total} chunks in {r.seconds:.1f} s -> {s.index_dir}")
    return 0


def _ask(args: argparse.Namespace) -> int:
    from rag.pipeline import RAG, check_question

    s = _settings(args)
    check_question(args.question, s.max_question_chars)  # before any slow work
    rag = RAG.load(settings=s, build_missing=True)
    ans = rag.answer(args.question, args.history, k=args.k, generator=args.generator)
    if args.json:
        print(json.dumps(ans.to_dict(), indent=2, ensure_ascii=False))
        return 0
    print(ans.answer)
    if ans.citations:
        print("\nSources")
        for c in ans.citations:
            print(f"[{c.n}] {c.title}" + (f" ({c.date})" if c.date else ""))
            if c.url:
                print(f"    {c.url}")
            print(f"    > {' '.join(c.quote.split())}  ({c.doc_id})")
    return 0


def _chat(args: argparse.Namespace) -> int:
    import os

    from rag.app import serve
    from rag.pipeline import RAG

    rag = RAG.load(settings=_settings(args), build_missing=True)
    rag.embedder.encode_query("warm up")  # load the model before the first visitor
    auth = os.environ.get("RAG_AUTH")  # "user:password" to require a login
    if auth is not None and ":" not in auth:
        raise RagError("RAG_AUTH must look like user:password")
    print(f"serving {rag.index.manifest['counts']['documents']} documents on "
          f"http://{args.host}:{args.port}" + (" (login required)" if auth else ""), flush=True)
    serve(rag, host=args.host, port=args.port, share=args.share, auth=auth,
          concurrency=args.concurrency)
    return 0


if __name__ == "__main__":
    sys.exit(main())
