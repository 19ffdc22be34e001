"""One self-contained HTML page from a run's parts: a header, verdicts, markdown sections, pictures and links.

The markdown (the run's summary.md, the same tables) becomes HTML through Python-Markdown; pictures are embedded
as data URIs so the page survives being moved or mailed; the template is Jinja2 with autoescaping. No script and
nothing from the network.
"""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import markdown
from markupsafe import Markup, escape

VERDICT_CLASS = {"holds": "holds", "does not hold": "fails"}  # anything else: undecided


@dataclass
class Claim:
    """One claim a run tests and what its interval says (``verdict``: holds / does not hold / undecided...)."""
    text: str
    verdict: str
    evidence: str  # the gap or index with its interval, n and the test

    def __str__(self) -> str:
        return f"{self.verdict}: {self.text}: {self.evidence}"


@dataclass
class Section:
    title: str
    markdown: str = ""
    html: str = ""  # already HTML (escaped by whoever made it)


@dataclass
class Page:
    title: str
    header: list[tuple[str, str]]  # (label, value) rows: model, tasks, options, version, wall time
    claims: list[Claim] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)  # (text, relative path)


TEMPLATE = jinja2.Environment(autoescape=True).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ page.title }}</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; max-width: 1180px; margin: 1.5em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .6em 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } tr:nth-child(even) td { background: #fafafa; }
.wrap { overflow-x: auto; max-width: 100%; }
img { max-width: 100%; height: auto; display: block; margin: .5em 0; }
dl.header { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; }
dl.header dt { font-weight: 600; } dl.header dd { margin: 0; word-break: break-word; }
.verdict { display: inline-block; min-width: 10.5em; white-space: nowrap; padding: 0 6px; border-radius: 4px; font-weight: 600; }
.holds { background: #d8f0d8; } .fails { background: #f6d6d6; } .undecided { background: #eee; }
.claim { margin: .3em 0; } .evidence { color: #555; font-size: 13px; }
code { background: #f4f4f4; padding: 0 3px; }
</style></head><body>
<h1>{{ page.title }}</h1>
<dl class="header">{% for label, value in page.header %}<dt>{{ label }}</dt><dd>{{ value }}</dd>{% endfor %}</dl>
{% if page.claims %}<h2>Claims</h2>
<p class="evidence">Each verdict is computed from the claim's interval: it holds when the interval excludes zero on
the claimed side, does not hold when it excludes zero on the other, and is undecided at this n otherwise.</p>
{% for c in page.claims %}<div class="claim"><span class="verdict {{ verdict_class(c.verdict) }}">{{ c.verdict }}</span>
{{ c.text }} <span class="evidence">{{ c.evidence }}</span></div>{% endfor %}{% endif %}
{% for s in sections %}<h2>{{ s.title }}</h2>{{ s.body }}{% endfor %}
{% if page.links %}<h2>Files</h2><ul>{% for text, href in page.links %}<li><a href="{{ href }}">{{ text }}</a></li>
{% endfor %}</ul>{% endif %}
</body></html>
""")


def verdict_class(verdict: str) -> str:
    return VERDICT_CLASS.get(verdict, "undecided")


def markdown_html(text: str, base: Path) -> str:
    """Markdown as HTML, tables in a scrolling box, local images (relative to ``base``) embedded."""
    html = markdown.markdown(text, extensions=["tables"])
    html = html.replace("<table>", '<div class="wrap"><table>').replace("</table>", "</table></div>")
    return re.sub(r'<img alt="([^"]*)" src="([^"]+)"', lambda m: f'<img alt="{m.group(1)}" src="{embed(base, m.group(2))}"',
                  html)


def embed(base: Path, src: str) -> str:
    """A PNG beside the page as a data URI (other sources as they are)."""
    path = base / src
    if src.startswith(("data:", "http:", "https:")) or not path.is_file() or path.suffix.lower() != ".png":
        return src
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def image_html(base: Path, src: str, alt: str) -> str:
    return f'<img alt="{escape(alt)}" src="{embed(base, src)}">'


def render(page: Page, base: Path) -> str:
    """The page as HTML; ``base`` is the folder that relative image paths start from."""
    sections = [{"title": s.title, "body": Markup(s.html + markdown_html(s.markdown, base))} for s in page.sections]
    return TEMPLATE.render(page=page, sections=sections, verdict_class=verdict_class)
