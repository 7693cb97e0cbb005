#!/usr/bin/env python3
"""Keep the Korean notebooks the same programs as the English ones.

    python tools/ko_parity.py                       # list the code cells to carry over; exit 1 if any
    python tools/ko_parity.py --missing             # English notebooks without a Korean twin
    python tools/ko_parity.py --scaffold notebooks/03_cam_step_by_step.ipynb
                                                    # start notebooks/ko/03_cam_step_by_step.ipynb

The rule: a Korean code cell is the same program as its English cell; only comments and
string constants may differ. notebooks/NN_name.ipynb and notebooks/ko/NN_name.ipynb are twins.
Fix the code in English first, then carry it over (the listing shows what to carry).

How two notebooks are compared
------------------------------
* Code cells are paired in order. Both notebooks must have the same number of code cells
  once these are set aside:
    - the ``colab-setup`` cell of each (tools/sync_links.py writes it: the Korean one lands
      in ``notebooks/ko``; ``sync_links.py --check`` guards it);
    - ``ko-only`` cells of the Korean notebook (cell tag ``ko-only``). A ``ko-only`` cell
      may only import from cam_helpers and call ``set_language("ko")`` and
      ``use_korean_font()`` (plus comments). ``--scaffold`` writes the one such cell, right
      after the setup cell. An English notebook must not have a ``ko-only`` cell.
* Two paired cells must have the same fingerprint (:func:`code_fingerprint`): the Python
  syntax tree (after IPython's own translation of ``%magics`` and ``!commands``, whose
  text is kept) with every string constant blanked and comments dropped; in an f-string
  the text is blanked and the ``{expressions}`` are kept (their order may change, since
  Korean word order differs), format specs such as ``:.3f`` are kept; for the same reason
  the operands of a ``+`` chain that contains text may change order
  (``"CAM for " + name`` -> ``name + "의 CAM"``); a keyword argument
  ``lang="..."`` (e.g. ``CAMExplorer(classifier, lang="ko")``) is left out.
* Each pair of string constants must then be equal, or the Korean one is a translation
  (it contains Hangul), or it is the English relative path with one more leading ``../``
  (the Korean notebooks sit one folder deeper; prefer ``load_sample("cat")`` to paths).
  So ``load_sample("cat")`` -> ``load_sample("coffee")`` or ``"layer4"`` -> ``"layer3"``
  is caught, while ``print("Top class:", name)`` -> ``print("최상위 클래스:", name)`` is not.
* Cell tags (other than ``ko-only``) and a collapsed solution cell
  (``metadata.jupyter.source_hidden``) must match too.
Markdown cells are the translator's own and are not compared.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
KO = NOTEBOOKS / "ko"
SETUP_TAG, KO_ONLY_TAG = "colab-setup", "ko-only"
HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")
KO_ONLY_CALLS = {"set_language", "use_korean_font"}
KO_ONLY_SOURCE = """# 한국어판 설정 (이 셀은 한국어판에만 있습니다): 연습 문제의 채점 메시지를 한국어로,
# 그림 속 한글이 네모로 깨지지 않도록 한글 글꼴(NanumGothic)을 씁니다.
from cam_helpers.exercises import set_language
from cam_helpers.korean import use_korean_font

set_language("ko")
use_korean_font();  # 끝의 ';'는 돌려받은 글꼴 이름이 출력되지 않게 합니다"""
_BLANK = ""


# --------------------------------------------------------------------------- fingerprint


def _python_source(source: str) -> str:
    """Cell source as plain Python: IPython turns ``%magic`` and ``!cmd`` into get_ipython() calls."""
    if not any(line.lstrip().startswith(("%", "!")) or "?" in line for line in source.splitlines()):
        return source
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # without IPython: magics stay and ast reports them
        return source
    return TransformerManager().transform_cell(source)


def _is_ipython_call(node: ast.Call) -> bool:
    """get_ipython().run_line_magic(...), .run_cell_magic(...), .system(...), .getoutput(...)."""
    func = node.func
    return (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Call)
        and isinstance(func.value.func, ast.Name)
        and func.value.func.id == "get_ipython"
    )


class _Normaliser(ast.NodeTransformer):
    """Blank string constants (recording them in order), keep f-string expressions, drop ``lang=``."""

    def __init__(self) -> None:
        self.strings: list[str] = []

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if _is_ipython_call(node):  # a magic's text is code: keep it verbatim ...
            body = node.args[2] if node.func.attr == "run_cell_magic" and len(node.args) == 3 else None
            if isinstance(body, ast.Constant) and isinstance(body.value, str):
                try:  # ... except the Python body of %%time, %%capture and the like: compare it as code
                    tree, strings = _normalise(body.value)
                except SyntaxError:
                    return node
                self.strings.extend(strings)
                node.args[2] = ast.Constant(value=ast.unparse(tree))
            return node
        node.keywords = [
            k for k in node.keywords
            if not (k.arg == "lang" and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str))
        ]
        return self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        """``"CAM for " + name`` may become ``name + "의 CAM"``: a + chain with text in it is unordered."""
        operands = _add_chain(node)
        if not any(isinstance(o, ast.JoinedStr) or (isinstance(o, ast.Constant) and isinstance(o.value, str))
                   for o in operands):
            return self.generic_visit(node)
        operands = sorted((self.visit(o) for o in operands), key=ast.dump)
        chain = operands[0]
        for operand in operands[1:]:
            chain = ast.BinOp(left=chain, op=ast.Add(), right=operand)
        return ast.copy_location(chain, node)

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, (str, bytes)):
            self.strings.append(node.value if isinstance(node.value, str) else repr(node.value))
            return ast.copy_location(ast.Constant(value=_BLANK), node)
        return node

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
        self.strings.append(text)
        values = [self.visit_FormattedValue(v) for v in node.values if isinstance(v, ast.FormattedValue)]
        values.sort(key=ast.dump)  # Korean word order may put the {values} in another order
        return ast.copy_location(ast.JoinedStr(values=values), node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        node.value = self.visit(node.value)
        return node  # the format spec (``:.3f``) stays as written


def _add_chain(node: ast.AST) -> list[ast.AST]:
    """The operands of ``a + b + c`` (left to right)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _add_chain(node.left) + _add_chain(node.right)
    return [node]


def _normalise(source: str) -> tuple[ast.Module, list[str]]:
    tree = ast.parse(_python_source(source))
    normaliser = _Normaliser()
    tree = normaliser.visit(copy.deepcopy(tree))
    return tree, normaliser.strings


def code_fingerprint(source: str) -> str:
    """The program of a code cell, without comments and string contents (a string; see the module doc).

    A cell that is not valid Python fingerprints as ``"<syntax error: ...>"`` plus its text.
    """
    try:
        tree, _ = _normalise(source)
    except SyntaxError as error:
        return f"<syntax error: {error.msg}>\n{source}"
    return ast.unparse(tree)


def _string_allowed(english: str, korean: str) -> bool:
    if english == korean or HANGUL.search(korean):
        return True
    return english.startswith("../") and korean == "../" + english


# --------------------------------------------------------------------------- notebooks


@dataclass(frozen=True)
class Mismatch:
    """One code cell to carry over. ``cell`` counts code cells from 1 in the English notebook
    (setup cell not counted); the ``*_index`` fields are positions among all cells (from 0)."""

    cell: int
    english_index: int | None
    korean_index: int | None
    english_line: str
    korean_line: str
    reason: str

    def __str__(self) -> str:
        where = f"code cell {self.cell}" if self.cell else "ko-only cell"
        where += f" (notebook cell {self.english_index} in English" if self.english_index is not None else " ("
        where += f", {self.korean_index} in Korean)" if self.korean_index is not None else ")"
        return f"{where}: {self.reason}\n    EN: {self.english_line}\n    KO: {self.korean_line}"


def _tags(cell: dict) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _code_cells(notebook: dict) -> list[tuple[int, dict]]:
    return [
        (i, c) for i, c in enumerate(notebook["cells"])
        if c["cell_type"] == "code" and SETUP_TAG not in _tags(c) and KO_ONLY_TAG not in _tags(c)
    ]


def _first_difference(english: str, korean: str) -> tuple[str, str]:
    en_lines, ko_lines = english.splitlines(), korean.splitlines()
    for a, b in zip(en_lines, ko_lines):
        if a != b:
            return a.strip(), b.strip()
    if len(en_lines) != len(ko_lines):
        longer_en = len(en_lines) > len(ko_lines)
        extra = (en_lines if longer_en else ko_lines)[min(len(en_lines), len(ko_lines))].strip()
        return (extra, "(nothing: the cell ends here)") if longer_en else ("(nothing: the cell ends here)", extra)
    return "", ""


def check_ko_only_cell(source: str) -> str | None:
    """None if a ``ko-only`` cell only imports from cam_helpers and sets the language/font; else why not."""
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        return f"syntax error: {error.msg}"
    for statement in tree.body:
        if isinstance(statement, ast.ImportFrom) and (statement.module or "").split(".")[0] == "cam_helpers":
            continue
        if isinstance(statement, ast.Import) and all(a.name.split(".")[0] == "cam_helpers" for a in statement.names):
            continue
        call = statement.value if isinstance(statement, (ast.Expr, ast.Assign)) else None
        if isinstance(call, ast.Call):
            name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
            if name in KO_ONLY_CALLS:
                continue
        return (
            f"line {statement.lineno}: a ko-only cell may only import from cam_helpers and call "
            f"{' / '.join(sorted(KO_ONLY_CALLS))}; move `{ast.unparse(statement)}` into a paired cell"
        )
    return None


def compare_cells(english: str, korean: str) -> tuple[str, str, str] | None:
    """None if the two cell sources are the same program; else (English line, Korean line, reason)."""
    en_print, ko_print = code_fingerprint(english), code_fingerprint(korean)
    if en_print != ko_print:
        en_line, ko_line = _first_difference(en_print, ko_print)
        return en_line, ko_line, "the code differs (strings shown blank)"
    if en_print.startswith("<syntax error"):
        return "", "", en_print.splitlines()[0]
    (_, en_strings), (_, ko_strings) = _normalise(english), _normalise(korean)
    for a, b in zip(en_strings, ko_strings):
        if not _string_allowed(a, b):
            return repr(a), repr(b), "a string changed without being translated (no Hangul in the Korean one)"
    return None


def compare(english_path: Path | str, korean_path: Path | str) -> list[Mismatch]:
    """The code cells where the Korean notebook is not the English program (empty: in parity)."""
    english = json.loads(Path(english_path).read_text(encoding="utf-8"))
    korean = json.loads(Path(korean_path).read_text(encoding="utf-8"))
    found: list[Mismatch] = []
    for index, cell in enumerate(english["cells"]):
        if KO_ONLY_TAG in _tags(cell):
            found.append(Mismatch(0, index, None, _source(cell).split("\n")[0], "",
                                  "an English notebook must not have a ko-only cell"))
    for index, cell in enumerate(korean["cells"]):
        if cell["cell_type"] == "code" and KO_ONLY_TAG in _tags(cell):
            why = check_ko_only_cell(_source(cell))
            if why:
                found.append(Mismatch(0, None, index, "", _source(cell).split("\n")[0], why))
    en_cells, ko_cells = _code_cells(english), _code_cells(korean)
    for number, ((en_index, en_cell), (ko_index, ko_cell)) in enumerate(zip(en_cells, ko_cells), start=1):
        difference = compare_cells(_source(en_cell), _source(ko_cell))
        if difference:
            found.append(Mismatch(number, en_index, ko_index, *difference))
            continue
        en_tags = sorted(set(_tags(en_cell)) - {KO_ONLY_TAG})
        ko_tags = sorted(set(_tags(ko_cell)) - {KO_ONLY_TAG})
        if en_tags != ko_tags:
            found.append(Mismatch(number, en_index, ko_index, f"tags {en_tags}", f"tags {ko_tags}", "the cell tags differ"))
        hidden = [c.get("metadata", {}).get("jupyter", {}).get("source_hidden", False) for c in (en_cell, ko_cell)]
        if hidden[0] != hidden[1]:
            found.append(Mismatch(number, en_index, ko_index, f"source_hidden={hidden[0]}", f"source_hidden={hidden[1]}",
                                  "one cell is a collapsed solution, the other is not"))
    if len(en_cells) != len(ko_cells):
        shorter = min(len(en_cells), len(ko_cells))
        extra_en, extra_ko = en_cells[shorter:], ko_cells[shorter:]
        for offset, (index, cell) in enumerate(extra_en or extra_ko, start=shorter + 1):
            first = (code_fingerprint(_source(cell)).splitlines() or [""])[0]
            if extra_en:
                found.append(Mismatch(offset, index, None, first, "(missing)",
                                      f"the English notebook has {len(en_cells)} code cells, the Korean {len(ko_cells)}: "
                                      "this English cell has no Korean twin"))
            else:
                found.append(Mismatch(offset, None, index, "(missing)", first,
                                      f"the Korean notebook has {len(ko_cells)} code cells, the English {len(en_cells)}: "
                                      "this Korean cell has no English twin (tag it ko-only if it only sets the language)"))
    return found


def twins(notebooks: Path | None = None) -> list[tuple[Path, Path | None]]:
    """(English notebook, its Korean twin or None) for every notebooks/NN_*.ipynb."""
    notebooks = notebooks or NOTEBOOKS
    return [(p, (notebooks / "ko" / p.name) if (notebooks / "ko" / p.name).exists() else None)
            for p in sorted(notebooks.glob("[0-9][0-9]_*.ipynb"))]


# --------------------------------------------------------------------------- scaffold


def scaffold(english_path: Path | str, korean_path: Path | str | None = None, force: bool = False) -> Path:
    """Start a Korean twin: the English notebook without outputs, markdown left English for the
    translator, the Korean badges and setup cell (tools/sync_links.py) and the ko-only cell."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import sync_links

    english_path = Path(english_path)
    korean_path = Path(korean_path) if korean_path else english_path.parent / "ko" / english_path.name
    if korean_path.exists() and not force:
        raise SystemExit(f"{korean_path} exists already; translate it in place (or pass --force to start over)")
    notebook = json.loads(english_path.read_text(encoding="utf-8"))
    cells = notebook["cells"]
    setup = [i for i, c in enumerate(cells) if SETUP_TAG in _tags(c)]
    ko_only = {"cell_type": "code", "execution_count": None, "metadata": {"tags": [KO_ONLY_TAG]},
               "outputs": [], "source": KO_ONLY_SOURCE.splitlines(keepends=True)}
    cells.insert(setup[0] + 1 if setup else min(3, len(cells)), ko_only)
    korean_path.parent.mkdir(parents=True, exist_ok=True)
    korean_path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    sync_links.sync_notebook(korean_path, sync_links.repository_url(), language="ko")  # badges, setup, no outputs
    return korean_path


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1], epilog="The rules: see the top of tools/ko_parity.py.",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--missing", action="store_true", help="list English notebooks without a Korean twin")
    parser.add_argument("--scaffold", metavar="NOTEBOOK", help="start notebooks/ko/NAME from notebooks/NAME")
    parser.add_argument("--force", action="store_true", help="with --scaffold: overwrite an existing Korean notebook")
    args = parser.parse_args(argv)
    if args.scaffold:
        written = scaffold(args.scaffold, force=args.force)
        print(f"wrote {written}: translate its markdown cells, then comments and strings of the code cells")
        return 0
    pairs = twins()
    if args.missing:
        missing = [p for p, ko in pairs if ko is None]
        for path in missing:
            print(f"{path.relative_to(ROOT)}  (start it: python tools/ko_parity.py --scaffold {path.relative_to(ROOT)})")
        print(f"{len(missing)} of {len(pairs)} English notebooks have no Korean twin")
        return 0
    to_carry = 0
    for english, korean in pairs:
        if korean is None:
            continue
        mismatches = compare(english, korean)
        to_carry += len(mismatches)
        for mismatch in mismatches:
            print(f"{korean.relative_to(ROOT)} {mismatch}")
    checked = sum(1 for _, ko in pairs if ko is not None)
    if to_carry:
        print(f"{to_carry} code cell(s) to carry over from English to Korean ({checked} twins checked)")
        return 1
    print(f"{checked} Korean notebook(s) are the same programs as their English twins")
    return 0


if __name__ == "__main__":
    sys.exit(main())
