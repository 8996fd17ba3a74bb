"""LM scaffolding in synthetic text: find it, cut what can be cut, and name the rest.

An instruction-tuned LM wraps what it writes: a lead-in ("Here's a potential SMS to a friend:"),
template slots ("Hi [friend's name]"), talk about the task ("I hope this helps", "Note: ..."),
Markdown, or a lead-in left hanging at the end ("This week's news includes:"). A record of the
corpus never reads like that, so a release that carries it tells the reader what wrote it.

A small registry of named detectors, each a regular expression over one record (in the manner
of presidio's recognizers behind one analyzer): ``find`` names the detectors that fire,
``cut`` removes a leading lead-in, wrapping quotes and trailing task talk, and ``clean`` returns
the cut text, or ``None`` where scaffolding remains (a template slot cannot be cut).
Everything here reads synthetic text only, never member data: post-processing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TASK_NOUN = (
    r"(sms|text|message|messages|texts|tweet|post|review|reviews|email|note|example|examples|version|"
    r"response|reply|draft|option|one|sentence|sentences|sample|samples)"
)

#: words that make a bracketed span a template slot ("[friend's name]") rather than an aside ("[sic]")
_SLOT = (
    r"(name|address|number|date|time|insert|your|friend|recipient|sender|link|url|company|product|"
    r"location|city|phone|amount|event|place|email|here|user)"
)


@dataclass(frozen=True)
class Detector:
    """One kind of scaffolding: a name, what it is, and the pattern that finds it."""

    name: str
    description: str
    pattern: re.Pattern[str]

    def fires(self, text: str) -> bool:
        return self.pattern.search(text) is not None


DETECTORS: dict[str, Detector] = {
    d.name: d
    for d in (
        Detector(
            "lead_in",
            'the LM introduces its answer ("Here\'s a potential SMS:", "SMS:")',
            re.compile(
                r"^\W{0,3}((sure|certainly|of course|absolutely|okay|ok)\b[,!.]\s*)?"
                r"here(?:'s|\u2019s| is| are)\b[^:\n]{0,100}\b" + _TASK_NOUN + r"\b[^:\n]{0,60}:"
                r"|^\W{0,3}(sms|text message|text|message|subject|review|tweet|answer|output)\s*(\d+\s*)?:"
                r"|\n\W{0,3}(sms|text message|message|subject)\s*:"
                r"|\A[^\n:]{1,40}:[ \t]*\n"  # a first line that only announces what follows
                r"|\b(this is|here is|here's) (our|my|your|the|a) (message|text|sms|review)\s*:",
                re.I,
            ),
        ),
        Detector(
            "placeholder",
            'a template slot left for the reader to fill ("[friend\'s name]", "{name}", "<date>")',
            re.compile(
                r"\[[^\]\n]{0,40}" + _SLOT + r"[^\]\n]{0,40}\]"
                r"|\{[A-Za-z_ ]{1,40}\}"
                r"|<\s*(name|date|time|number|address|link|url|phone|amount|your [a-z ]+)\s*>"
                r"|\b(insert|your|recipient'?s|sender'?s|friend'?s) (name|number|address)\s+here\b",
                re.I,
            ),
        ),
        Detector(
            "task_talk",
            'the LM talks about the task ("I hope this helps", "Note:", "as an AI")',
            re.compile(
                r"\bas an ai\b|\blanguage model\b|\bi hope (this|that) (helps|works|meets)"
                r"|\bfeel free to (ask|modify|adjust|change|customi[sz]e)"
                r"|\b(possible|potential|sample|example) (sms|text message|message|review|tweet)s?\b"
                r"|\bhere are (some|a few|\d+) \w+"
                r"|(^|[.!?)]\s+|\()(note|disclaimer)\s*:",
                re.I,
            ),
        ),
        Detector(
            "commentary",
            'the LM describes what it wrote ("This SMS conveys ...", "The review said")',
            re.compile(
                r"\bthis (sms|message|text|text message|review|tweet|post)\b[^.\n]{0,40}\b(sends|conveys|is designed|"
                r"was written|has been|captures|highlights|aims)\b"
                r"|\bthis (simple|short|quick|friendly|casual)\b[^.\n]{0,30}\b(message|text|sms|review)\b"
                r"|\b(the|this|its) sentiment (was|is)\b"
                r"|\b(review|message|text|sms) i (provided|wrote|have written)\b"
                r"|(^|\n)\W{0,3}the (original |above )?(review|message|text|sms) (said|was|reads)\b"
                r"|\bplease note\b",
                re.I,
            ),
        ),
        Detector(
            "markdown",
            "Markdown formatting (a bold label, a heading, a bulleted list)",
            re.compile(
                r"\*\*[^*\n]{1,40}:\*\*|^\s*#{1,6}\s|^\s*(?:[-*\u2022]|\d+\.)\s+\S.*\n\s*(?:[-*\u2022]|\d+\.)\s", re.M
            ),
        ),
        Detector(
            "dangling_lead_in",
            'a lead-in left hanging at the end ("This week\'s news includes:")',
            re.compile(r":\s*[\"'\u201d]?\s*$"),
        ),
    )
}

_LEAD_IN = re.compile(
    r"^\W{0,3}(?:(?:sure|certainly|of course|absolutely|okay|ok)\b[,!.]\s*)?"
    r"(?:here(?:'s|\u2019s| is| are)\b[^:\n]{0,100}\b" + _TASK_NOUN + r"\b[^:\n]{0,60}:"
    r"|(?:sms|text message|text|message|subject|review|tweet|answer|output)\s*(?:\d+\s*)?:)\s*",
    re.I,
)
_TRAILING_TALK = re.compile(
    r"(?:(?<=[.!?\"\u201d])|^)\s*(?:\(?(?:note|disclaimer)\s*:[^\n]*"
    r"|i hope (?:this|that) (?:helps|works|meets)[^\n]*"
    r"|feel free to (?:ask|modify|adjust|change|customi[sz]e)[^\n]*)$",
    re.I,
)
_QUOTES = "\"'\u201c\u201d\u2018\u2019"


def find(text: str) -> list[str]:
    """Names of the detectors that fire on ``text`` (empty: no scaffolding found)."""
    return [name for name, d in DETECTORS.items() if d.fires(text)]


def cut(text: str) -> str:
    """Cut what can be cut without guessing: a leading lead-in (up to its colon), trailing task
    talk, and quotes that wrap the whole text. One line; whitespace collapsed."""
    t = " ".join(str(text).split())
    for _ in range(3):  # "Sure! Here's an SMS: \"...\"" peels in steps
        before = t
        t = _LEAD_IN.sub("", t, count=1)
        t = _TRAILING_TALK.sub("", t).strip()
        if len(t) >= 2 and t[0] in _QUOTES and t[-1] in _QUOTES and not any(q in t[1:-1] for q in '"\u201c\u201d'):
            t = t[1:-1].strip()
        if t == before:
            break
    return t


def clean(text: str) -> str | None:
    """``cut(text)``, or None when it is empty or scaffolding remains after the cut."""
    t = cut(text)
    return t if t and not find(t) else None


def has_scaffolding(texts: list[str]) -> list[bool]:
    """Per text, whether any detector fires."""
    return [bool(find(t)) for t in texts]
