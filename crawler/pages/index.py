"""A page's answers to its CSS queries from a few passes over the tree, not one XPath a query.

Why: lxml runs each compiled XPath over the whole tree, and a page object asks a dozen simple
queries of every page (``h1``, ``.article-excerpt``, ``div.article``, ``link[rel="canonical"]``, …).
libxml2 tests an element's attribute slowly, once per element per test, and lxml.html builds a
Python proxy, through a Python class lookup, for every element it hands back. ``PageIndex``
answers the simple queries (a tag, classes, attribute tests, one descendant of another) from
two passes made at most once a page: lxml's own ``iter`` over the declared tag names (in C, no
attribute read) and one XPath over the declared attributes (``…/@class[contains(., "x")]/..``:
one attribute node an element, a proxy only for the few candidates). Each candidate is then
checked in Python against the query as cssselect parses it, so the answer is the XPath's, in
document order. A query it cannot plan (a pseudo-class, a sibling combinator, a union whose
parts come from different passes, a namespace) runs its compiled XPath as before: slower,
never different.

The index is a snapshot: page objects read the tree, they never change it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

from cssselect import parse
from cssselect.parser import Attrib, Class, CombinedSelector, Element, Hash
from cssselect.xpath import GenericTranslator, is_non_whitespace, is_safe_name
from lxml import etree

from crawler.pages.base import css

#: The whitespace XPath's ``normalize-space`` splits class lists on (a no-break space is part of a token).
_XML_SPACE = str.maketrans("\t\n\r", "   ")
#: Attribute operators planned here; the XPath of each is cssselect's (``GenericTranslator``).
_OPERATORS = frozenset({"exists", "=", "~=", "^=", "*="})


def has_token(value: str | None, token: str) -> bool:
    """``token`` is one of the whitespace-separated words of ``value`` (CSS ``[attr~=token]``, ``.token``)."""
    return value is not None and token in value and f" {token} " in f" {value.translate(_XML_SPACE)} "


def has_token_prefix(value: str | None, prefix: str) -> bool:
    """A word of ``value`` starts with ``prefix``: XPath's
    ``contains(concat(' ', normalize-space(@class)), ' <prefix>')``."""
    return value is not None and prefix in value and f" {prefix}" in f" {value.translate(_XML_SPACE)}"


@dataclass(frozen=True)
class Simple:
    """A compound selector: an optional tag name and attribute tests, all of which must hold."""

    tag: str | None
    tests: tuple[tuple[str, str, str | None], ...]

    def matches(self, el: etree._Element) -> bool:
        if self.tag is not None and el.tag != self.tag:
            return False
        get = el.get
        for name, operator, want in self.tests:
            value = get(name)
            if value is None:
                return False
            if operator == "=":
                if value != want:
                    return False
            elif operator == "~=":
                if not has_token(value, want):  # type: ignore[arg-type]
                    return False
            elif operator == "^=":
                if not value.startswith(want):  # type: ignore[arg-type]
                    return False
            elif operator == "*=" and want not in value:  # type: ignore[operator]
                return False
        return True

    def key_test(self) -> tuple[str, str, str | None] | None:
        """The test the attribute pass finds candidates by: a class first, else (no tag) the first test."""
        for test in self.tests:
            if test[0] == "class" and test[1] in ("~=", "=", "^=", "*="):
                return test
        return self.tests[0] if self.tests and self.tag is None else None


@dataclass(frozen=True)
class Descendant:
    """``ancestor descendant``: elements matching ``below`` inside one matching ``above``."""

    above: Simple
    below: Simple


Part = Simple | Descendant


def _simple(tree: object) -> Simple | None:
    """A parsed compound selector as a ``Simple``; ``None`` for anything this module does not plan."""
    tests: list[tuple[str, str, str | None]] = []
    while True:
        if isinstance(tree, Class):
            if not is_non_whitespace(tree.class_name):
                return None
            tests.append(("class", "~=", tree.class_name))
        elif isinstance(tree, Hash):
            tests.append(("id", "=", tree.id))
        elif isinstance(tree, Attrib):
            value = tree.value.value if tree.value is not None else None
            if tree.namespace or tree.flag or tree.operator not in _OPERATORS or not is_safe_name(tree.attrib):
                return None
            if tree.operator != "exists" and not isinstance(value, str):
                return None
            if tree.operator in ("~=", "^=", "*=") and not (value and is_non_whitespace(value)):
                return None  # cssselect makes these match nothing: left to the XPath
            tests.append((tree.attrib, tree.operator, value))
        elif isinstance(tree, Element):
            if tree.namespace or (tree.element and not is_safe_name(tree.element)):
                return None
            return Simple(tree.element or None, tuple(reversed(tests)))
        else:
            return None
        tree = tree.selector  # type: ignore[attr-defined]


@cache
def plan(query: str) -> tuple[Part, ...] | None:
    """A CSS query's parts (one per comma) as ``Simple`` or ``Descendant``; ``None`` when any part is
    beyond them (then the query runs as XPath)."""
    parts: list[Part] = []
    for selector in parse(query):
        tree = selector.parsed_tree
        if selector.pseudo_element:
            return None
        if isinstance(tree, CombinedSelector):
            if tree.combinator != " ":
                return None
            above, below = _simple(tree.selector), _simple(tree.subselector)
            if above is None or below is None:
                return None
            parts.append(Descendant(above, below))
        else:
            simple = _simple(tree)
            if simple is None:
                return None
            parts.append(simple)
    return tuple(parts)


def _elements(el: etree._Element) -> Iterator[etree._Element]:
    """``el`` and every element below it, in document order (no comments or processing instructions)."""
    return (e for e in el.iter() if isinstance(e.tag, str))


def matcher(query: str) -> Callable[[etree._Element], bool]:
    """A test of one element against a union of compound selectors (``"script, .banner, ul.tags"``),
    for a walk that checks each element once; ``ValueError`` for a query ``plan`` cannot read."""
    parts = plan(query)
    if parts is None or not all(isinstance(p, Simple) for p in parts):
        raise ValueError(f"not a union of compound selectors: {query!r}")
    simple = [p for p in parts if isinstance(p, Simple)]
    by_tag = frozenset(p.tag for p in simple if p.tag is not None and not p.tests)
    by_attribute: dict[str, list[Simple]] = {}  # an element without the attribute skips its selectors
    for part in simple:
        if part.tests:
            by_attribute.setdefault(part.tests[0][0], []).append(part)
    keyed = tuple(by_attribute.items())

    def matches(el: etree._Element) -> bool:
        if el.tag in by_tag:
            return True
        for name, candidates in keyed:
            if el.get(name) is not None and any(p.matches(el) for p in candidates):
                return True
        return False

    return matches


def select_in(el: etree._Element, query: str) -> list[etree._Element]:
    """``css(query)(el)`` by one walk of ``el``'s subtree (a tag-only query: lxml's own ``iter``).

    For the small subtrees page objects look into (a title, a body container), where the walk
    costs less than the XPath; a query ``plan`` cannot read runs as XPath.
    """
    parts = plan(query)
    if parts is None or any(isinstance(p, Descendant) for p in parts):
        return css(query)(el)
    simple = [p for p in parts if isinstance(p, Simple)]
    if all(p.tag is not None and not p.tests for p in simple):
        return list(el.iter(*{p.tag for p in simple}))
    return [e for e in _elements(el) if any(p.matches(e) for p in simple)]


@dataclass(frozen=True)
class _Layout:
    """What the two passes collect for a set of declared queries: planned once, used on every page."""

    #: Tag names the tag pass collects (compound selectors with a tag and no class test).
    tags: frozenset[str]
    #: Attribute → substrings one of which its value must hold to be a candidate (empty: any value).
    needles: dict[str, frozenset[str]]
    #: The attribute pass's XPath, or ``None`` when no query needs one.
    attribute_pass: etree.XPath | None

    def covers(self, test: tuple[str, str, str | None]) -> bool:
        """Does the attribute pass collect every element ``test`` holds for?"""
        name, operator, value = test
        if name not in self.needles:
            return False
        needles = self.needles[name]
        return not needles or (operator != "exists" and any(n in (value or "") for n in needles))


@cache
def _layout(queries: tuple[str, ...], class_prefixes: tuple[str, ...]) -> _Layout:
    tags: set[str] = set()
    needles: dict[str, set[str | None]] = {}
    for query in queries:
        for part in plan(query) or ():
            simple = part.above if isinstance(part, Descendant) else part  # ``below`` is looked for inside it
            key = simple.key_test()
            if key is not None:  # every test but "exists" implies the value contains the test's text
                needles.setdefault(key[0], set()).add(None if key[1] == "exists" else key[2])
            elif simple.tag is not None:
                tags.add(simple.tag)
    for prefix in class_prefixes:
        needles.setdefault("class", set()).add(prefix)
    reduced: dict[str, frozenset[str]] = {}
    paths = []
    for name, found in sorted(needles.items()):
        texts = {n for n in found if n is not None}
        # a needle holding another needle adds no candidate: "article-author" holds "article"
        kept = frozenset(n for n in texts if not any(o != n and o in n for o in texts))
        if None in found:  # an "exists" test: every value is a candidate
            kept = frozenset()
        reduced[name] = kept
        literals = [GenericTranslator.xpath_literal(n) for n in sorted(kept)]
        predicate = "[" + " or ".join(f"contains(., {lit})" for lit in literals) + "]" if kept else ""
        paths.append(f"descendant-or-self::*/@{name}{predicate}/..")
    return _Layout(frozenset(tags), reduced, etree.XPath(" | ".join(paths)) if paths else None)


class PageIndex:
    """``select(query)`` is ``css(query)(root)``, answered from the passes the declared queries need.

    ``queries`` are the CSS queries the page object will ask (its selector constants) and
    ``class_prefixes`` the class-word prefixes (``with_class_prefix``): what the two passes collect
    candidates for. An undeclared query is still answered exactly, from a pass that happens to
    cover it, by lxml's ``iter`` for its tag, or by its XPath.
    """

    def __init__(
        self, root: etree._Element, queries: tuple[str, ...] = (), class_prefixes: tuple[str, ...] = ()
    ) -> None:
        self.root = root
        self._layout = _layout(queries, class_prefixes)
        self._prefixes = class_prefixes
        self._in_tag_pass: list[etree._Element] | None = None
        self._tagged: dict[str, list[etree._Element]] = {}
        self._candidates: list[etree._Element] | None = None
        self._answers: dict[str, list[etree._Element]] = {}

    def select(self, query: str) -> list[etree._Element]:
        """The elements ``css(query)`` finds from the root, in document order (the same list each time)."""
        found = self._answers.get(query)
        if found is None:
            found = self._answers[query] = self._select(query)
        return found

    def first(self, query: str) -> etree._Element | None:
        found = self.select(query)
        return found[0] if found else None

    def tagged(self, tag: str) -> list[etree._Element]:
        """Every ``tag`` element from the root down, in document order (``root.iter(tag)``)."""
        found = self._tagged.get(tag)
        if found is None:
            if tag in self._layout.tags:
                self._tag_pass()
                return self._tagged[tag]
            found = self._tagged[tag] = list(self.root.iter(tag))
        return found

    def with_class_prefix(self, prefix: str) -> list[etree._Element]:
        """Elements below the root (not the root itself) with a class word starting with ``prefix``."""
        source = self._attribute_pass() if prefix in self._prefixes else _elements(self.root)
        return [e for e in source if e is not self.root and has_token_prefix(e.get("class"), prefix)]

    # -- the passes ------------------------------------------------------------------------

    def _select(self, query: str) -> list[etree._Element]:
        parts = plan(query)
        passes = [self._pass_for(p.above if isinstance(p, Descendant) else p) for p in parts or ()]
        if parts is None or None in passes:
            return css(query)(self.root)
        if len(parts) == 1:
            return self._answer(parts[0], self.tagged(passes[0]) if passes[0] else self._attribute_pass())
        sources = [self._candidates_of(p) for p in passes]  # type: ignore[arg-type]
        if all(s is sources[0] for s in sources) and all(isinstance(p, Simple) for p in parts):
            # a union from one pass: its candidates, filtered, keep document order
            return [e for e in sources[0] if any(p.matches(e) for p in parts)]  # type: ignore[union-attr]
        present = [a for a in (self._answer(p, s) for p, s in zip(parts, sources, strict=True)) if a]
        if len(present) > 1:  # parts from several passes: the XPath merges them in document order
            return css(query)(self.root)
        return present[0] if present else []

    def _pass_for(self, simple: Simple) -> str | None:
        """Which candidates hold every element ``simple`` matches: the attribute pass (``""``), a tag's
        elements (its name), or ``None`` when none does."""
        key = simple.key_test()
        if key is not None and self._layout.covers(key):
            return ""
        return simple.tag

    def _candidates_of(self, name: str) -> list[etree._Element]:
        """A pass's candidates: for a tag of the tag pass, all of that pass (a union's parts share it)."""
        if not name:
            return self._attribute_pass()
        return self._tag_pass() if name in self._layout.tags else self.tagged(name)

    @staticmethod
    def _answer(part: Part, source: list[etree._Element]) -> list[etree._Element]:
        if isinstance(part, Simple):
            return [e for e in source if part.matches(e)]
        seen: set[etree._Element] = set()
        found = []
        for top in source:
            if not part.above.matches(top):
                continue
            # an inner match's descendants are inside its outer one's: seen already, order kept
            for el in top.iter(part.below.tag) if part.below.tag else _elements(top):
                if el is not top and el not in seen and part.below.matches(el):
                    seen.add(el)
                    found.append(el)
        return found

    def _tag_pass(self) -> list[etree._Element]:
        """Every element of a declared tag, in document order: one ``iter`` in C over all of them."""
        if self._in_tag_pass is None:
            tags = self._layout.tags
            self._in_tag_pass = list(self.root.iter(*tags)) if tags else []
            for tag in tags:
                self._tagged[tag] = []
            for el in self._in_tag_pass:
                self._tagged[el.tag].append(el)
        return self._in_tag_pass

    def _attribute_pass(self) -> list[etree._Element]:
        """Every element whose declared attribute may pass a declared test: one XPath over attribute nodes."""
        if self._candidates is None:
            xpath = self._layout.attribute_pass
            self._candidates = xpath(self.root) if xpath is not None else []
        return self._candidates
