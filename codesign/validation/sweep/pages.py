"""One document, two renderings: a report built as a list of blocks, written as Markdown
(report.md) and as static HTML (report.html: no script, no server; images referenced
by their file names, so the folder opens offline and can be copied as a whole).

Blocks: ("h1"|"h2", text), ("p", text), ("img", file, caption), ("table", header, rows),
("code", text), ("list", items).
"""

from __future__ import annotations

import html

STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
         "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:2px 6px}"
         "th{background:#eee}pre{background:#f6f6f6;padding:8px;overflow-x:auto}"
         "figure{margin:1em 0}figcaption{font-size:12px;color:#555}img{max-width:100%}")


def markdown(blocks: list[tuple]) -> str:
    md = []
    for kind, *rest in blocks:
        if kind in ("h1", "h2"):
            md.append(f"{'#' if kind == 'h1' else '##'} {rest[0]}\n")
        elif kind == "p":
            md.append(rest[0] + "\n")
        elif kind == "img":
            md.append(f"![{rest[1]}]({rest[0]})\n")
        elif kind == "table":
            header, rows = rest
            md += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            md += ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows]
            md.append("")
        elif kind == "code":
            md += ["```", rest[0].rstrip(), "```\n"]
        elif kind == "list":
            md += [f"- {item}" for item in rest[0]] + [""]
    return "\n".join(md)


def _inline(text: str) -> str:
    """Markdown's `code` spans as <code>, everything else escaped."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def page(title: str, blocks: list[tuple]) -> str:
    body = []
    for kind, *rest in blocks:
        if kind in ("h1", "h2"):
            body.append(f"<{kind}>{_inline(rest[0])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{_inline(rest[0])}</p>")
        elif kind == "img":
            body.append(f'<figure><img src="{html.escape(rest[0])}" alt="{html.escape(rest[1])}">'
                        f"<figcaption>{_inline(rest[1])}</figcaption></figure>")
        elif kind == "table":
            header, rows = rest
            body.append("<table><tr>" + "".join(f"<th>{_inline(h)}</th>" for h in header) + "</tr>")
            body += ["<tr>" + "".join(f"<td>{_inline(str(c))}</td>" for c in row) + "</tr>" for row in rows]
            body.append("</table>")
        elif kind == "code":
            body.append(f"<pre>{html.escape(rest[0].rstrip())}</pre>")
        elif kind == "list":
            body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in rest[0]) + "</ul>")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
