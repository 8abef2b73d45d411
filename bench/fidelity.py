"""Code-block fidelity of the saved Markdown, page by page, against the site's own HTML.

For every page of a site, the code blocks a reader sees are read from the page's HTML here,
independently of the converter: every <pre> outside navigation, headers, footers and
line-number gutters, its text as displayed (highlighter spans and links give their text, <br>
and Prism token lines are line breaks), its language from the usual classes (`language-x`,
`lang-x`, `highlight-x`, `hljs x`, `brush: x`, `data-lang`; Sphinx's `highlight-default` names
no language). Each block must then be found whole inside ONE fence of the page's Markdown, and a
tagged block's language on that fence.

Both extractions run on the same pages in the same run: `today` is trafilatura alone (the
extraction before crawler/engine/markdown.py), `now` what the crawler saves (crawler.engine.cpu.analyze_page,
the function the extraction workers run). CPU time per page is measured side by side.

    python -m bench.fidelity                 # the fixture sites in tests/sites/generators
    python -m bench.fidelity --site DIR ...  # any folder of saved HTML pages (one site per folder)
    python -m bench.fidelity --json out.json
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import lxml.html

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "sites" / "generators"
GENERATOR_SITES = ("sphinx", "mkdocs", "docusaurus", "hotdoc", "djangodocs")

GUTTER = re.compile(r"\b(linenos|linenodiv|lineno|listing_lines|gutter|line-numbers-rows|hljs-ln-numbers)\b")
LANGUAGE_CLASS = re.compile(r"^(?:language|lang|highlight|sourcecode)-([\w+#.-]+)$", re.I)
NO_LANGUAGE = {"default", "none", "nohighlight", "plain", "python3-default"}
BRUSH = re.compile(r"brush\s*:\s*([\w+#.-]+)", re.I)


@dataclass
class Block:
    text: str
    language: str | None


@dataclass
class Score:
    blocks: int = 0
    whole: int = 0
    tagged: int = 0
    languages: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, other: Score) -> None:
        self.blocks += other.blocks
        self.whole += other.whole
        self.tagged += other.tagged
        self.languages += other.languages
        self.misses += other.misses

    @property
    def whole_pct(self) -> float:
        return 100.0 * self.whole / self.blocks if self.blocks else 100.0

    @property
    def languages_pct(self) -> float:
        return 100.0 * self.languages / self.tagged if self.tagged else 100.0


# ---- what the page shows -------------------------------------------------------------------

def _displayed(pre: lxml.html.HtmlElement) -> str:
    out: list[str] = []

    def walk(node: lxml.html.HtmlElement) -> None:
        if not isinstance(node.tag, str):
            return
        skip = node.tag in ("button", "script", "style") or bool(GUTTER.search(node.get("class") or ""))
        if node.tag == "br":
            out.append("\n")
        elif not skip:
            out.append(node.text or "")
            for child in node:
                walk(child)
                last = next((part for part in reversed(out) if part), "")
                if child.tag in ("tr", "div", "p", "li") and last and not last.endswith("\n") \
                        and not (child.tail or "").startswith("\n"):
                    out.append("\n")  # a row or block per line is displayed as a line
                out.append(child.tail or "")

    walk(pre)
    return "".join(out)


def _language(pre: lxml.html.HtmlElement) -> str | None:
    nodes = [pre, *pre.findall("code")]
    parent, hops = pre.getparent(), 0
    while parent is not None and hops < 4:
        nodes.append(parent)
        parent, hops = parent.getparent(), hops + 1
    for node in nodes:
        for attribute in ("data-lang", "data-language"):
            if node.get(attribute):
                return node.get(attribute).lower()
        classes = node.get("class") or ""
        brush = BRUSH.search(classes)
        if brush:
            return brush.group(1).lower()
        names = classes.split()
        for name in names:
            match = LANGUAGE_CLASS.match(name)
            if match:
                language = match.group(1).lower()
                return None if language in NO_LANGUAGE else language
        if "hljs" in names:
            others = [n for n in names if n != "hljs" and not n.startswith("hljs-")]
            if others:
                return others[0].lower()
    return None


def normalize(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\u200b", "").split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def expected_blocks(html: bytes) -> list[Block]:
    """The code blocks of a page as a reader sees them."""
    tree = lxml.html.document_fromstring(html)
    blocks = []
    for pre in tree.iter("pre"):
        ancestors = list(pre.iterancestors())
        if any(a.tag == "pre" for a in ancestors):
            continue
        if any(a.tag in ("nav", "header", "footer", "aside") for a in ancestors):
            continue
        if GUTTER.search(pre.get("class") or "") or any(GUTTER.search(a.get("class") or "") for a in ancestors):
            continue
        text = normalize(_displayed(pre))
        if text:
            blocks.append(Block(text, _language(pre)))
    return blocks


# ---- what the Markdown holds ---------------------------------------------------------------

FENCE = re.compile(r"^( *)(`{3,}|~{3,})\s*([^`\s]*)[^`]*$")
QUOTE = re.compile(r"^ {0,3}> ?")


def _unquote(line: str, depth: int) -> str | None:
    """The line without `depth` blockquote markers; None when it has fewer (the quote ended)."""
    for _ in range(depth):
        match = QUOTE.match(line)
        if not match:
            return None if line.strip() else ""
        line = line[match.end():]
    return line


def fences(markdown: str) -> list[Block]:
    """Every fenced block of a Markdown text, also inside blockquotes and list items: its
    content (the quote markers and indentation of its fence removed) and the language on its
    opening line."""
    found = []
    lines = markdown.split("\n")
    index = 0
    while index < len(lines):
        opener, depth = lines[index], 0
        while QUOTE.match(opener):
            opener, depth = opener[QUOTE.match(opener).end():], depth + 1
        match = FENCE.match(opener)
        if not match:
            index += 1
            continue
        indent, marker, info = len(match.group(1)), match.group(2), match.group(3)
        body = []
        index += 1
        while index < len(lines):
            line = _unquote(lines[index], depth)
            if line is None:
                break
            stripped = line.strip()
            if stripped.startswith(marker[0] * len(marker)) and set(stripped) == {marker[0]}:
                break
            body.append(line[indent:] if line[:indent].strip() == "" else line.lstrip())
            index += 1
        found.append(Block(normalize("\n".join(body)), info.lower() or None))
        index += 1
    return found


def score_page(html: bytes, markdown: str, name: str = "") -> Score:
    score = Score()
    in_markdown = fences(markdown)
    for block in expected_blocks(html):
        score.blocks += 1
        holders = [f for f in in_markdown if block.text in f.text]
        if holders:
            score.whole += 1
        else:
            score.misses.append(f"{name}: not whole in a fence: {block.text[:60]!r}")
        if block.language:
            score.tagged += 1
            if any(f.language == block.language for f in holders):
                score.languages += 1
            else:
                score.misses.append(f"{name}: language {block.language} lost on {block.text[:40]!r}")
    return score


# ---- the two extractions, side by side -----------------------------------------------------

def site_pages(folder: Path) -> list[tuple[str, Path]]:
    pages = []
    for path in sorted(folder.rglob("*.html")):
        relative = path.relative_to(folder).as_posix()
        pages.append((f"http://docs.test/site/{relative}", path))
    return pages


def extract_today(body: bytes, url: str) -> str:
    from crawler.engine.extract import extract_markdown_trafilatura
    from crawler.engine.parse import parse_document

    return extract_markdown_trafilatura(parse_document(body), url)


def extract_now(body: bytes, url: str) -> tuple[str, bool]:
    from crawler.engine.cpu import analyze_page

    analysis = analyze_page(body, None, url)
    return analysis.markdown, analysis.not_found


def site_folder(name_or_path: str) -> tuple[str, Path]:
    """(name, folder of HTML pages): a fixture generator's name, or a path."""
    fixture = FIXTURES / name_or_path / "html"
    if fixture.is_dir():
        return name_or_path, fixture
    return Path(name_or_path).name, Path(name_or_path)


def measure(sites: list[tuple[str, Path]], rounds: int = 5) -> dict:
    results: dict = {"sites": {}, "cpu": {}}
    all_pages: list[tuple[str, bytes]] = []
    for name, folder in sites:
        pages = [(url, path.read_bytes()) for url, path in site_pages(folder)]
        results["sites"][name] = score_site(pages)
        results["sites"][name]["cpu"] = cpu_per_page(results["sites"][name].pop("saved"), rounds)
        all_pages += results["sites"][name]["cpu"].pop("bodies")
    results["cpu"] = cpu_per_page(all_pages, rounds)
    results["cpu"].pop("bodies")
    return results


def score_site(pages: list[tuple[str, bytes]]) -> dict:
    """Both extractions' scores over the pages the crawler would save (a soft 404 is not saved)."""
    today, now = Score(), Score()
    saved_pages = []
    for url, body in pages:
        if True:
            markdown, not_found = extract_now(body, url)
            if not_found:  # skipped, not saved: its blocks are not counted (its 404 page has none)
                continue
            saved_pages.append((url, body))
            now.add(score_page(body, markdown, url))
            today.add(score_page(body, extract_today(body, url), url))
    return {"pages": len(saved_pages), "today": today, "now": now, "saved": saved_pages}


def cpu_per_page(pages: list[tuple[str, bytes]], rounds: int) -> dict:
    """CPU seconds per page (parse + extract, as a worker spends them), both ways, interleaved."""
    from crawler.engine.extract import extract_markdown, extract_markdown_trafilatura
    from crawler.engine.parse import parse_document

    def run(extract) -> float:
        started = time.process_time()
        for url, body in pages:
            extract(parse_document(body), url)
        return (time.process_time() - started) / max(1, len(pages))

    run(extract_markdown)  # warm up both (imports, caches)
    run(extract_markdown_trafilatura)
    today, now = [], []
    for _ in range(rounds):
        today.append(run(extract_markdown_trafilatura))
        now.append(run(extract_markdown))
    return {"pages": len(pages), "today_ms": 1000 * statistics.median(today), "now_ms": 1000 * statistics.median(now),
            "bodies": pages}


def rich_docsite_pages(count: int = 40, paragraphs: int = 40) -> list[tuple[str, bytes]]:
    """The pages the crawl benchmarks use (tests/docsite.py, rich: sidebar, prose, code, a table)."""
    from tests.support.site import SiteOptions, render_rich_page

    options = SiteOptions(pages=count, paragraphs=paragraphs)  # ~22 KB: the cpu scenario's pages
    return [(f"http://127.0.0.1/docs/page-{i}.html", render_rich_page(i, options).encode()) for i in range(count)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", action="append", default=[], help="a folder of HTML pages (default: the fixtures)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", help="write the results there")
    parser.add_argument("--misses", action="store_true", help="list every block not kept")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    results = measure([site_folder(s) for s in args.site or GENERATOR_SITES], args.rounds)
    bench_pages = rich_docsite_pages()
    results["sites"]["docsite"] = score_site(bench_pages)
    results["sites"]["docsite"]["cpu"] = cpu_per_page(results["sites"]["docsite"].pop("saved"), args.rounds)
    results["sites"]["docsite"]["cpu"].pop("bodies")

    print("| site | pages | blocks | whole: trafilatura alone | whole: now | tagged | language: trafilatura alone "
          "| language: now | CPU ms/page: trafilatura alone | CPU ms/page: now |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, row in results["sites"].items():
        today, now, cpu = row["today"], row["now"], row["cpu"]
        print(f"| {name} | {row['pages']} | {now.blocks} | {today.whole_pct:.1f} % | {now.whole_pct:.1f} % | "
              f"{now.tagged} | {today.languages_pct:.1f} % | {now.languages_pct:.1f} % | "
              f"{cpu['today_ms']:.2f} | {cpu['now_ms']:.2f} |")
    cpu = results["cpu"]
    change = 100.0 * (cpu["now_ms"] / cpu["today_ms"] - 1) if cpu["today_ms"] else 0.0
    print(f"\nCPU per page (parse + extract, median of {args.rounds} rounds), all fixture pages ({cpu['pages']}): "
          f"trafilatura alone {cpu['today_ms']:.2f} ms, now {cpu['now_ms']:.2f} ms ({change:+.0f} %)")
    if args.misses:
        for row in results["sites"].values():
            for miss in row["now"].misses:
                print("  now:", miss)
    if args.json:
        def plain(value):
            if isinstance(value, Score):
                return {"blocks": value.blocks, "whole": value.whole, "whole_pct": round(value.whole_pct, 1),
                        "tagged": value.tagged, "languages": value.languages,
                        "languages_pct": round(value.languages_pct, 1)}
            raise TypeError(type(value))
        Path(args.json).write_text(json.dumps(results, default=plain, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
