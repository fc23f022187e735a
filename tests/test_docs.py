"""The documentation keeps up with the code."""

from .conftest import ROOT


def test_the_readme_code_map_lists_every_module():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    modules = [p.relative_to(ROOT).as_posix() for p in sorted((ROOT / "rag").rglob("*.py"))]
    assert [m for m in modules if f"| `{m}` |" not in readme] == []


def test_every_command_line_verb_is_in_the_readme_and_the_cli_docstring():
    import rag.cli

    verbs = list(rag.cli._parser()._subparsers._group_actions[0].choices)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert [v for v in verbs if f"`rag {v}" not in readme] == []
    assert [v for v in verbs if v not in rag.cli.__doc__] == []
