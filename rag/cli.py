"""The `rag` command: build, watch, ask, chat, eval, import, bench, train-selector,
train-verifier, train-reader, models, user, key, feedback. Lazy imports (`rag --help` loads no
model); a user error is one line on stderr and exit 1, a usage error exit 2."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from rag.errors import RagError

LISTED = 10  # documents named in a build report before "… and N more"


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
    handler.set_name("rag-cli")
    log = logging.getLogger("rag")
    for old in [h for h in log.handlers if h.get_name() == "rag-cli"]:  # main() called again
        log.removeHandler(old)
    log.addHandler(handler)
    log.setLevel(logging.WARNING)
    log.propagate = False
    logging.getLogger("bm25s").setLevel(logging.ERROR)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rag", description="Cited answers from a folder of documents.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    llm = argparse.ArgumentParser(add_help=False)  # answer options of ask, chat and eval
    g = llm.add_argument_group("answer generator")
    g.add_argument("--generator", metavar="NAME",
                   help="extractive (default), openai or llamacpp")
    g.add_argument("--llm-base-url", metavar="URL",
                   help="OpenAI-compatible server (default: OPENAI_BASE_URL)")
    g.add_argument("--llm-model", metavar="NAME", help="model on that server (RAG_LLM_MODEL)")
    g.add_argument("--llm-model-path", metavar="GGUF",
                   help="model file for llamacpp, or smollm2 / gemma3-270m")

    b = sub.add_parser("build", help="index documents (incremental; only changes are embedded)")
    b.add_argument("paths", nargs="*", metavar="PATH", help="folders or files (default: seeds/)")
    b.add_argument("--index", metavar="DIR", help="index folder (default: index/)")
    b.add_argument("--collection", metavar="NAME",
                   help="a collection of rag.toml (its corpus and index) instead of --index")
    b.add_argument("--rebuild", action="store_true", help="re-embed everything")
    b.set_defaults(run=_build)

    w = sub.add_parser("watch", help="keep the index in step with folders as files change")
    w.add_argument("paths", nargs="*", metavar="PATH", help="folders or files (default: seeds/)")
    w.add_argument("--index", metavar="DIR", help="index folder (default: index/)")
    w.add_argument("--collection", metavar="NAME",
                   help="a collection of rag.toml (its corpus and index) instead of --index")
    w.set_defaults(run=_watch)

    a = sub.add_parser("ask", help="answer one question with citations", parents=[llm])
    a.add_argument("question")
    a.add_argument("--index", metavar="DIR", help="index folder (default: index/)")
    a.add_argument("--collection", metavar="NAME",
                   help="a collection of rag.toml (its corpus and index) instead of --index")
    a.add_argument("-k", type=_k, metavar="N", help="passages to retrieve")
    a.add_argument("--history", action="append", metavar="TURN", default=[],
                   help="an earlier user turn, oldest first (repeatable)")
    a.add_argument("--json", action="store_true", help="print the Answer object as JSON")
    a.set_defaults(run=_ask)

    c = sub.add_parser("chat", help="serve the chat page (builds the index first if missing)",
                       parents=[llm])
    c.add_argument("--index", metavar="DIR", help="index folder (default: index/)")
    c.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    c.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    c.add_argument("--share", action="store_true", help="also open a public Gradio share link")
    c.add_argument("--concurrency", type=_positive, default=4, metavar="N",
                   help="questions answered at once (default: 4)")
    c.add_argument("--no-upload", action="store_true",
                   help="no box for adding documents on the page")
    c.add_argument("--no-page", action="store_true",
                   help="serve the API alone (OpenAI-compatible /v1 and REST /api), no page")
    c.add_argument("--watch", action="store_true",
                   help="re-sync the corpus (the `corpus` setting) as its files change")
    c.set_defaults(run=_chat)

    e = sub.add_parser("eval", help="run evaluation sets and write a report", parents=[llm])
    e.add_argument("files", nargs="*", metavar="FILE", help="JSONL evaluation sets")
    e.add_argument("--index", metavar="DIR", help="index folder (default: index/)")
    e.add_argument("--collection", metavar="NAME",
                   help="a collection of rag.toml (its corpus and index) instead of --index")
    e.add_argument("--out", metavar="DIR", default="reports/eval",
                   help="report folder (default: reports/eval)")
    e.add_argument("-k", type=_k, metavar="N", help="passages given to the generator")
    e.add_argument("--json", action="store_true", help="print summary.json to stdout")
    e.add_argument("--min", action="append", default=[], metavar="METRIC=VALUE",
                   help="exit 1 if METRIC falls below VALUE (repeatable)")
    e.add_argument("--max", action="append", default=[], metavar="METRIC=VALUE",
                   help="exit 1 if METRIC rises above VALUE, e.g. latency_ms_p95 (repeatable)")
    e.add_argument("--compare", nargs=2, metavar=("OLD_DIR", "NEW_DIR"),
                   help="print the metric deltas between two report folders and exit")
    e.set_defaults(run=_eval)

    i = sub.add_parser("import", help="turn a SQuAD or BEIR data set into docs/ + eval.jsonl")
    isub = i.add_subparsers(dest="format", required=True, metavar="FORMAT")
    sq = isub.add_parser("squad", help="a SQuAD v1.1/v2.0 JSON file")
    sq.add_argument("source", metavar="FILE")
    sq.add_argument("--out", required=True, metavar="DIR")
    sq.add_argument("--limit-articles", type=_positive, metavar="N")
    sq.add_argument("--sample", type=_positive, metavar="N", help="keep N random questions")
    sq.add_argument("--seed", type=int, default=0, metavar="S")
    be = isub.add_parser("beir", help="a BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    be.add_argument("source", metavar="DIR")
    be.add_argument("--out", required=True, metavar="DIR")
    be.add_argument("--split", default="test", help="qrels split (default: test)")
    i.set_defaults(run=_import)

    bn = sub.add_parser("bench", help="measure speed and memory on a corpus (BENCHMARKS.md)")
    bn.add_argument("--corpus", nargs="+", metavar="DIR",
                    help="folders or files to measure on (default: the corpus setting)")
    bn.add_argument("--questions", metavar="FILE",
                    help="an evaluation set (JSONL) to time (default: corpus sentences)")
    bn.add_argument("--out", metavar="FILE", default="reports/bench.json",
                    help="where to write every figure as JSON (default: reports/bench.json)")
    bn.add_argument("--runs", type=_positive, default=5, metavar="N",
                    help="cold starts to take the median of (default: 5)")
    bn.add_argument("--max-questions", type=_positive, default=200, metavar="N",
                    help="questions timed warm (default: 200)")
    bn.add_argument("--scale", type=_positive, metavar="N",
                    help="also measure N synthetic chunks: each vector index type, and an "
                         "index of N chunks re-synced as it grows (e.g. 1000000)")
    bn.add_argument("--no-reference", action="store_true",
                    help="skip the sentence-transformers + FAISS reference (imports torch)")
    bn.set_defaults(run=_bench)

    t = sub.add_parser("train-selector", help="learn the answer selector from SQuAD data")
    t.add_argument("source", metavar="FILE", help="a SQuAD v1.1/v2.0 JSON file")
    t.add_argument("--bundle", metavar="DIR", default="build/models",
                   help="the candidate model bundle to write into, begun as a copy of the shipped "
                        "one (default: build/models; `rag models promote` ships it)")
    t.add_argument("--work", metavar="DIR", default="build/selector",
                   help="imported documents and their index (default: build/selector)")
    t.add_argument("--limit-articles", type=_positive, metavar="N")
    t.add_argument("--max-questions", type=_positive, metavar="N",
                   help="questions per split (default: all)")
    t.add_argument("--seed", type=int, default=0, metavar="S")
    t.add_argument("--unanswerable", metavar="FILE",
                   help="a SQuAD 2.0 file on the same articles: its human-written unanswerable "
                        "questions calibrate the confidence")
    t.add_argument("--reader", metavar="FILE",
                   help="the reader graph to train with (default: the bundle's reader.onnx)")
    t.add_argument("--no-reader", action="store_true",
                   help="the feature scorer alone, without the reader")
    t.add_argument("--bank", metavar="DIR",
                   help="the question bank (evals/bank): its fit corpora join the training "
                        "questions, its choose corpora the choice of the thresholds")
    t.set_defaults(run=_train_selector)

    v = sub.add_parser("train-verifier", help="fit the citation verifier's thresholds on SQuAD")
    v.add_argument("source", metavar="FILE", help="a SQuAD v1.1/v2.0 JSON file")
    v.add_argument("--bundle", metavar="DIR", default="build/models",
                   help="the candidate model bundle to write into, begun as a copy of the shipped "
                        "one (default: build/models; `rag models promote` ships it)")
    v.add_argument("--max-questions", type=_positive, metavar="N",
                   help="questions per split (default: all)")
    v.add_argument("--seed", type=int, default=0, metavar="S")
    v.add_argument("--work", metavar="DIR", default="build/verifier",
                   help="where sentence vectors are kept between fits (default: build/verifier)")
    v.set_defaults(run=_train_verifier)

    r = sub.add_parser("train-reader",
                       help="fine-tune the reader (a cross-encoder) on SQuAD; needs torch")
    r.add_argument("source", metavar="FILE", help="the SQuAD v1.1 training JSON file")
    r.add_argument("--bundle", metavar="DIR", default="build/models",
                   help="the candidate model bundle to write into, begun as a copy of the shipped "
                        "one (default: build/models; `rag models promote` ships it)")
    r.add_argument("--work", metavar="DIR", default=None,
                   help="checkpoints and exports; a run resumes from its checkpoints "
                        "(default: ~/.cache/rag-train/reader)")
    r.add_argument("--steps", type=_positive, default=None, metavar="N",
                   help="batches of 32 pairs (default: 9500, every training question once; "
                        "about 2 hours on 2 quiet cores)")
    r.add_argument("--seed", type=int, default=0, metavar="S")
    r.add_argument("--unanswerable", metavar="FILE",
                   help="a SQuAD 2.0 file: a second phase on its human-written unanswerable "
                        "questions (the answer selector's training articles only)")
    r.add_argument("--split-by", metavar="FILE",
                   help="the SQuAD v1.1 development file whose article order the answer "
                        "selector splits by (with --unanswerable)")
    r.add_argument("--tune-steps", type=_positive, default=None, metavar="N",
                   help="batches of the second phase (default: 1200, about 18 minutes)")
    r.add_argument("--bank", metavar="DIR",
                   help="the question bank (evals/bank): its fit corpora join the second "
                        "phase, its choose corpora are measured")
    r.set_defaults(run=_train_reader)

    m = sub.add_parser("models", help="check, ship or rebuild the model bundle answering loads")
    msub = m.add_subparsers(dest="action", required=True, metavar="ACTION")
    mv = msub.add_parser("verify", help="check a bundle's files against its manifest")
    mv.add_argument("folder", nargs="?", default="", metavar="DIR",
                    help="the bundle (default: the shipped one)")
    mp = msub.add_parser("promote", help="check a candidate bundle and ship it: its files "
                                         "replace the package's")
    mp.add_argument("folder", nargs="?", default="build/models", metavar="DIR",
                    help="the candidate bundle (default: build/models)")
    me = msub.add_parser("export-embedder", help="export the installed embedding model to int8 "
                                                 "ONNX into a candidate bundle; needs torch")
    me.add_argument("folder", nargs="?", default="build/models", metavar="DIR",
                    help="the candidate bundle (default: build/models)")
    m.set_defaults(run=_models)

    u = sub.add_parser("user", help="accounts of the chat page (the users_file setting)")
    usub = u.add_subparsers(dest="action", required=True, metavar="ACTION")
    ua = usub.add_parser("add", help="add a user; the password from standard input, or asked "
                                     "twice on a terminal")
    ua.add_argument("name")
    ua.add_argument("--groups", default="", metavar="A,B", help="the groups the user is in")
    usub.add_parser("list", help="every user and their groups")
    ur = usub.add_parser("remove", help="remove a user")
    ur.add_argument("name")
    up = usub.add_parser("passwd", help="set a user's password (as for add)")
    up.add_argument("name")
    ug = usub.add_parser("groups", help="set a user's groups")
    ug.add_argument("name")
    ug.add_argument("groups", metavar="A,B", help="the groups, comma-separated ('' for none)")
    u.set_defaults(run=_user)

    ky = sub.add_parser("key", help="API keys: each acts as its user (the users_file setting)")
    ksub = ky.add_subparsers(dest="action", required=True, metavar="ACTION")
    ka = ksub.add_parser("add", help="a new key for a user, printed once")
    ka.add_argument("--user", required=True, metavar="NAME")
    ksub.add_parser("list", help="every key: its id, user and when it was made")
    kr = ksub.add_parser("revoke", help="revoke a key by its id")
    kr.add_argument("id")
    ky.set_defaults(run=_key)

    f = sub.add_parser("feedback", help="what people said of answers on the chat page")
    fsub = f.add_subparsers(dest="action", required=True, metavar="ACTION")
    fe = fsub.add_parser("export", help="write the feedback as an evaluation set (JSONL)")
    fe.add_argument("--out", required=True, metavar="FILE",
                    help="the evaluation set; items that say too little go to "
                         "FILE's name + '-incomplete.jsonl'")
    fe.add_argument("--index", metavar="DIR", help="the index whose conversations to read")
    f.set_defaults(run=_feedback)
    return p


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number (got {value!r})") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {n})")
    return n


def _k(value: str) -> int:
    from rag.config import MAX_K

    n = _positive(value)
    if n > MAX_K:
        raise argparse.ArgumentTypeError(f"at most {MAX_K} (got {n})")
    return n


def _settings(args: argparse.Namespace):
    from rag.config import Settings

    s = Settings.load(index_dir=getattr(args, "index", None),
                      generator=getattr(args, "generator", None),
                      **{k: getattr(args, k, None)
                         for k in ("llm_base_url", "llm_model", "llm_model_path")})
    if getattr(args, "collection", None):
        if getattr(args, "index", None):
            raise RagError("name a collection or an index folder, not both")
        s = s.collection(args.collection)
    return s


def _build(args: argparse.Namespace) -> int:
    from rag.pipeline import build

    s = _settings(args)
    r = build(args.paths or None, settings=s, rebuild=args.rebuild, progress=True)
    print("\n".join(report_lines(r, _where(s))))
    return 0


def _where(s) -> str:
    """Where the index is, as a person would name it."""
    return f"{s.milvus_uri} ({s.milvus_collection})" if s.store == "milvus" else s.index_dir


def report_lines(r, index_dir: str) -> list[str]:
    """What a sync did, for people: full build or not, changes by name, counts."""
    lines = [f"full build: {r.rebuilt_because}"] if r.rebuilt_because else []
    listed = [("added", d) for d in r.added] + [("changed", d) for d in r.changed] + \
        [("removed", d) for d in r.removed] + [("renamed", f"{a} -> {b}") for a, b in r.renamed] \
        + [("access", d) for d in r.relabeled]
    lines += [f"  {label:8} {what}" for label, what in listed[:LISTED]]
    if len(listed) > LISTED:
        lines.append(f"  … and {len(listed) - LISTED} more")
    lines.append(f"{len(r.added)} added, {len(r.changed)} changed, {len(r.removed)} removed, "
                 f"{len(r.renamed)} renamed, {len(r.kept)} kept"
                 + (f" ({len(r.relabeled)} with a new access rule)" if r.relabeled else "")
                 + f"; embedded {r.chunks_embedded} "
                 f"of {r.chunks_total} chunks in {r.seconds:.1f} s -> {index_dir}")
    return lines


def _watch(args: argparse.Namespace) -> int:
    from rag.embed import embedder_for
    from rag.pipeline import corpus_of
    from rag.watch import watch

    s = _settings(args)
    paths = args.paths or corpus_of(s)
    print(f"watching {', '.join(map(str, paths))} (Ctrl-C stops)", flush=True)

    def show(r) -> None:
        if r.wrote or r.rebuilt_because:
            print("\n".join(report_lines(r, _where(s))), flush=True)

    watch(args.paths or None, s, embedder_for(s), on_sync=show)
    return 0


def _ask(args: argparse.Namespace) -> int:
    from rag.app.render import answer_text, sources_text
    from rag.pipeline import RAG, check_question
    from rag.types import Answer

    s = _settings(args)
    check_question(args.question, s.max_question_chars)  # before any slow work
    rag = RAG.load(settings=s, build_missing=args.index is None)
    live = sys.stdout.isatty() and not args.json  # stream to a person, not to a pipe
    shown = []
    for piece in rag.stream(args.question, args.history, k=args.k):
        if isinstance(piece, Answer):
            ans = piece
        elif live:
            shown.append(piece)
            print(inert(piece), end="", flush=True)
    if args.json:
        print(json.dumps(ans.to_dict(), indent=2, ensure_ascii=False))
        return 0
    if live:
        print()
    checked = answer_text(ans)
    if not live or " ".join("".join(shown).split()) != " ".join(checked.split()):
        if live:
            print("\nChecked answer:")
        print(inert(checked))
    if ans.note:
        print(f"({ans.note})")
    if ans.fallback:
        print(inert(f"\n(answered with quotes: {ans.fallback})"))
    if ans.citations:
        print("\nSources")
        for line in sources_text(ans):
            print(inert(line))
    return 0


def inert(text: str) -> str:
    """Text from documents, safe to print: terminal escape sequences and control characters
    removed (a pipe often ends in a terminal too: `| less -R`, a log viewer)."""
    from rag.text import strip_controls

    return strip_controls(text)


def _chat(args: argparse.Namespace) -> int:
    import os

    from rag.app.library import Library
    from rag.app.page import serve
    from rag.app.people import check_exposure, parse_auth
    from rag.embed import embedder_for
    from rag.pipeline import RAG
    from rag.users.accounts import users_of
    from rag.users.conversations import Conversations, conversations_path

    auth = os.environ.get("RAG_AUTH")  # "user:password" to require a login
    parse_auth(auth)  # a malformed value fails before the slow start-up
    s = _settings(args)
    users = users_of(s.users_file)
    # A configured users file means accounts for the life of the server, whatever becomes of
    # the file: read it now so a damaged one stops the start, not the first visitor.
    accounts = users is not None
    if users is not None and not users.all():
        print(f"note: {users.path} holds no accounts yet: nobody can sign in until "
              f"`rag user add NAME`", file=sys.stderr)
    check_exposure(args.host, args.share, auth, accounts)
    if accounts and auth:
        print(f"note: the accounts in {s.users_file} replace RAG_AUTH", file=sys.stderr)
    # Concurrent requests get a core each rather than fight over all of them; a watcher's
    # builds use every core (an embedder of their own, the same model).
    serving = embedder_for(s, threads=1)
    named = {c.name: s.collection(c.name) for c in s.collections} if not args.index else {}
    rags = {name: RAG.load(settings=cs, embedder=serving, build_missing=True)
            for name, cs in named.items()} or \
        {"": RAG.load(settings=s, embedder=serving, build_missing=args.index is None
                      or args.watch)}
    if not args.no_upload:  # uploads saved by a server stopped while indexing them
        from rag.app.upload import index_pending

        for rag in rags.values():
            pending = index_pending(rag.settings, embedder_for(rag.settings),
                                    rag.index.documents)
            if pending:
                print(f"indexed {len(pending)} upload(s) saved but not indexed: "
                      f"{', '.join(pending[:5])}", file=sys.stderr)
                rag.refresh()
    first = next(iter(rags.values()))
    first.embedder.encode_query("warm up")  # load the model before the first visitor
    first.generator()  # and the configured generator (a local LLM takes a moment)
    if args.watch:
        from rag.watch import watch_in_background

        # Each sync writes a new complete index; the page switches to it between questions.
        for cs in named.values() or [s]:
            watch_in_background(None, cs, embedder_for(s))
    login = " (login required)" if auth or accounts else ""
    documents = sum(len(r.index.documents) for r in rags.values())
    where = f" in {len(rags)} collections" if named else ""
    print(f"serving {documents} documents{where} on http://{args.host}:{args.port}{login}",
          flush=True)
    library = Library(rags, {c.name: c for c in s.collections}) if named \
        else Library.single(first)
    serve(library, host=args.host, port=args.port, share=args.share, auth=auth,
          concurrency=args.concurrency, upload=not args.no_upload, users=users,
          conversations=Conversations(conversations_path(s)), page=not args.no_page,
          routes=_api_routes(library, users, None if accounts else auth, args.concurrency))
    return 0


def _api_routes(library, users, auth: str | None, concurrency: int) -> list:
    """The OpenAI-compatible and REST routes, served beside the page or alone."""
    from starlette.routing import Mount

    from rag.api import Gate, chat, rest
    from rag.app.people import parse_auth

    login = parse_auth(auth)
    gate = Gate(library, users, password=login[1] if login else None, concurrency=concurrency)
    return [*chat.routes(gate), Mount("/api", app=rest.app(gate))]


def _eval(args: argparse.Namespace) -> int:
    from rag.eval import report

    if args.compare:
        old, new = (report.load_summary(d) for d in args.compare)
        print(report.compare(old, new))
        return 0
    if not args.files:
        raise RagError("name at least one evaluation set (JSONL), or use --compare OLD NEW")
    minimums, maximums = report.parse_gates(args.min), report.parse_gates(args.max)
    from rag.eval.metrics import summarize
    from rag.eval.runner import load_set, run_pipeline
    from rag.pipeline import RAG

    items = [it for f in args.files for it in load_set(f)]
    rag = RAG.load(settings=_settings(args), build_missing=args.index is None)
    results = run_pipeline(rag, items, k=args.k, progress=sys.stderr.isatty())
    summary = summarize(results)
    report.write_report(results, summary, args.out, threshold=rag.settings.abstain_threshold)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        shown = ("n", "answer_correct", "answer_contains", "em", "f1", "hit@1", "hit@5", "mrr",
                 "ndcg@10", "citation_precision", "citation_recall", "abstain_correct",
                 "abstain_wrong", "flagged", "fallback", "latency_ms_p50", "latency_ms_p95")
        for key in shown:
            if key in summary:
                print(f"{key:<20} {report.fmt(key, summary[key])}")
        print(f"report: {Path(args.out) / 'report.md'}")
    failures = report.gate_failures(summary, minimums, maximums)
    for f in failures:
        print(f"gate failed: {f}", file=sys.stderr)
    return 1 if failures else 0


def _import(args: argparse.Namespace) -> int:
    from rag.eval import importers

    if args.format == "squad":
        r = importers.import_squad(args.source, args.out, args.limit_articles, args.sample,
                                   args.seed)
    else:
        r = importers.import_beir(args.source, args.out, args.split)
    print(f"wrote {r.documents} documents to {r.out / 'docs'} and {r.questions} questions "
          f"({r.unanswerable} unanswerable) to {r.out / 'eval.jsonl'}")
    print(f"next: rag build {r.out / 'docs'} --index {r.out / 'index'} && "
          f"rag eval {r.out / 'eval.jsonl'} --index {r.out / 'index'} --out {r.out / 'report'}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from rag.eval import bench

    s = _settings(args)
    opts = bench.BenchOptions(tuple(args.corpus or s.corpus), args.questions, args.out,
                              args.runs, args.max_questions, args.scale or 0,
                              not args.no_reference)
    result = bench.run(opts, s, say=lambda m: print(m, file=sys.stderr, flush=True))
    print(bench.table(result))
    print(f"all figures: {args.out}")
    return 0


def _train_selector(args: argparse.Namespace) -> int:
    from rag.train.selector import train_selector

    r = train_selector(args.source, args.bundle, args.work, args.limit_articles,
                       args.max_questions, args.seed, progress=sys.stderr.isatty(),
                       unanswerable=args.unanswerable, reader=args.reader,
                       use_reader=not args.no_reader, bank=args.bank)
    v = r.selector.meta["validation"]
    print(f"trained on {r.n_train}, validated on {r.n_val} (questions by kind)")
    print(f"thresholds {r.selector.threshold:.4f} (abstain below) and "
          f"{r.selector.answer_threshold:.4f} (answer band): " + ", ".join(
              f"{kind} answered {v[kind]['answered']:.1%}, {v[kind]['answer_band']:.1%} in the "
              f"answer band" for kind in ("answerable", "removed", "adversarial", "human")
              if kind in v))
    if "bank" in r.selector.meta:
        b = r.selector.meta["bank"]["choose"]
        print("the bank's choose corpora: " + ", ".join(
            f"{kind} answered {b[kind]['answered']:.1%}, {b[kind]['answer_band']:.1%} in the "
            f"answer band" for kind in ("answerable", "written") if kind in b))
    print(f"wrote {r.path}")
    return 0


def _models(args: argparse.Namespace) -> int:
    from rag import models

    if args.action == "verify":
        b = models.bundle(args.folder)
        problems = b.problems()
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            return 1
        print(f"{b.folder}: {len(b.files)} files match their manifest")
    elif args.action == "promote":
        changed = models.promote(args.folder)
        print(f"shipped {', '.join(changed) if changed else 'nothing (no file differs)'} "
              f"from {args.folder} into {models.SHIPPED}")
    else:
        from rag.embed.export import export_to_bundle

        folder = models.candidate(args.folder)
        models.seal(folder, export_to_bundle(folder))
        print(f"wrote {folder / 'embedder.onnx'} and its tokenizer")
    return 0


def _user(args: argparse.Namespace) -> int:
    users = _accounts(args)
    if args.action == "list":
        for user in sorted(users.all().values(), key=lambda u: u.name):
            print(f"{user.name}\t{','.join(sorted(user.groups))}")
        return 0
    if args.action == "remove":
        users.remove(args.name)
        print(f"removed {args.name}")
    elif args.action == "groups":
        users.set_groups(args.name, args.groups.split(","))
        print(f"{args.name} is now in: {args.groups or 'no group'}")
    elif args.action == "add":
        users.add(args.name, _new_password(), args.groups.split(","))
        print(f"added {args.name} to {users.path}")
    else:
        if users.get(args.name) is None:  # before asking for a password
            raise RagError(f"no user {args.name} in {users.path}")
        users.passwd(args.name, _new_password())
        print(f"changed the password of {args.name}")
    return 0


def _accounts(args: argparse.Namespace):
    from rag.users.accounts import users_of

    users = users_of(_settings(args).users_file)
    if users is None:
        raise RagError("no users file is configured; set users_file in rag.toml or "
                       "RAG_USERS_FILE=PATH")
    return users


def _key(args: argparse.Namespace) -> int:
    users = _accounts(args)
    if args.action == "add":
        key, secret = users.add_key(args.user)
        print(secret)
        print(f"key {key.id} for {args.user}: shown this once, keep it secret", file=sys.stderr)
    elif args.action == "list":
        for user in sorted(users.all().values(), key=lambda u: u.name):
            for k in user.keys:
                print(f"{k.id}\t{user.name}\t{k.created}")
    else:
        print(f"revoked key {args.id} of {users.revoke_key(args.id)}")
    return 0


def _feedback(args: argparse.Namespace) -> int:
    from rag.files import atomic_write
    from rag.users.conversations import Conversations, conversations_path, export_feedback

    s = _settings(args)
    path = conversations_path(s)
    if not path.is_file():
        raise RagError(f"no conversations at {path}; the chat page keeps them there")
    items, incomplete = export_feedback(Conversations(path).feedback())
    out = Path(args.out)
    rest = out.with_name(f"{out.stem}-incomplete.jsonl")
    for target, rows in ((out, items), (rest, incomplete)):
        # Questions and answers from restricted documents: for the owner's eyes only.
        atomic_write(target, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                     mode=0o600)
    print(f"wrote {len(items)} evaluation items to {out} and {len(incomplete)} that say too "
          f"little to {rest}")
    return 0


def _new_password() -> str:
    """Asked twice on a terminal (never echoed); else the first line of standard input."""
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise RagError("the two passwords differ; nothing changed")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _train_verifier(args: argparse.Namespace) -> int:
    from rag.train.verifier import train_verifier

    r = train_verifier(args.source, args.bundle, args.max_questions, args.seed, work=args.work)
    cov, cos, novel = r.thresholds
    print(f"min_coverage {cov}, min_cosine {cos}, max_novel {novel}")
    for name, figs in (("training", r.train), ("validation", r.validation)):
        print(f"{name}: " + ", ".join(
            f"{kind} {figs[kind]['supported_passed']:.1%} passed / "
            f"{figs[kind]['unsupported_flagged']:.1%} flagged" for kind in ("quote", "claim")))
    print(f"wrote {r.path}")
    return 0


def _train_reader(args: argparse.Namespace) -> int:
    import logging

    from rag.train.reader import STEPS, TUNE_STEPS, train_reader

    log = logging.getLogger("rag")  # progress lines with their time: the run takes an hour
    log.setLevel(logging.INFO)
    for handler in log.handlers:
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    r = train_reader(args.source, args.bundle, args.work, args.steps or STEPS, args.seed,
                     unanswerable=args.unanswerable, split_by=args.split_by,
                     tune_steps=args.tune_steps or TUNE_STEPS, bank=args.bank)
    print(f"validation: {r.card['validation']}")
    if r.card["second_phase"]:
        print(f"SQuAD 2.0 validation: {r.card['second_phase']['validation_after']}")
    print(f"wrote {r.graph} ({r.graph.stat().st_size / 1e6:.1f} MB) and its model card")
    return 0


if __name__ == "__main__":
    sys.exit(main())
