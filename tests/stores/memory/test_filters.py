"""The memory store's filter language (`stores.memory.filters`), on its own and in searches.

Where LangGraph's store filters are documented (equality, ``$eq/$ne/$gt/$gte/$lt/$lte``)
the answers must be those of LangGraph's `InMemoryStore`, compared through the public
store API; dotted keys reach nested values, which `InMemoryStore` does not offer.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langgraph.store.base import MatchCondition
from langgraph.store.memory import InMemoryStore

from stores.memory.embeddings import HashingEmbeddings
from stores.memory.errors import MemoryStoreError
from stores.memory.filters import check, lookup, matches, namespace_matches
from stores.memory.store import MemoryStore

ITEM = {
    "company_id": "c1",
    "n": 7,
    "score": 4.5,
    "flag": True,
    "missing_is_none": None,
    "author": {"name": "Ada", "meta": {"team": "a", "level": 3}},
    "tags": ["x", "y"],
    "a.b": "literal dotted key",
}


@pytest.mark.parametrize(
    "flt",
    [
        None,
        {},
        {"company_id": "c1"},
        {"company_id": {"$eq": "c1"}},
        {"company_id": {"$ne": "c2"}},
        {"n": {"$gt": 6}},
        {"n": {"$gte": 7, "$lte": 7}},
        {"n": {"$lt": 7.5}},
        {"score": {"$gt": 4}},
        {"author.name": "Ada"},
        {"author.meta.team": {"$eq": "a"}},
        {"author.meta.level": {"$gte": 3}},
        {"author": {"name": "Ada"}},  # a nested dict matches field by field
        {"author": {"meta": {"team": "a"}}},
        {"tags": ["x", "y"]},
        {"nowhere": None},  # a missing field is None
        {"nowhere": {"$ne": "x"}},
        {"a.b": "literal dotted key"},  # a top-level key spelled with the dot wins
        {"flag": True},
        {"company_id": "c1", "n": {"$gt": 0}, "author.name": {"$ne": "Bob"}},
    ],
)
def test_conditions_that_hold(flt: dict[str, Any] | None) -> None:
    assert matches(ITEM, flt)


@pytest.mark.parametrize(
    "flt",
    [
        {"company_id": "c2"},
        {"company_id": {"$ne": "c1"}},
        {"n": {"$gt": 7}},
        {"n": {"$gte": 6, "$lt": 7}},  # every operator of a condition must hold
        {"author.name": "Bob"},
        {"author.meta.missing": "a"},
        {"author.name.first": "Ada"},  # walks past a string: absent
        {"author": {"name": "Ada", "meta": {"team": "b"}}},
        {"author": "Ada"},
        {"tags": ["x"]},
        {"tags": ["y", "x"]},
        {"nowhere": "x"},
        {"nowhere": {"$gt": 0}},  # no ordering holds for a missing field
        {"company_id": {"$gt": 1}},  # a string against a number: no match, no error
        {"n": {"$gt": "5"}},
        {"flag": {"$gt": 0}},  # a boolean is not a number here
        {"company_id": "c1", "n": 8},
    ],
)
def test_conditions_that_do_not_hold(flt: dict[str, Any]) -> None:
    assert not matches(ITEM, flt)


def test_strings_order_as_text_so_iso_dates_compare() -> None:
    item = {"closed_at": "2024-03-05T10:00:00Z"}
    assert matches(item, {"closed_at": {"$gte": "2024-03-01", "$lt": "2024-04-01"}})
    assert not matches(item, {"closed_at": {"$lt": "2024-03-01"}})


def test_lookup_walks_dotted_keys() -> None:
    assert lookup(ITEM, "author.meta.level") == 3
    assert lookup(ITEM, "author.meta") == {"team": "a", "level": 3}
    assert lookup(ITEM, "author.nope") is None and lookup(ITEM, "nope") is None


@pytest.mark.parametrize(
    "flt",
    [
        {"n": {"$in": [1, 2]}},
        {"n": {"$gt": 1, "$regex": "x"}},
        {"n": {"$gt": 1, "plain": 2}},  # operators and fields do not mix in one condition
        {"author": {"meta": {"level": {"$between": [1, 3]}}}},
    ],
)
def test_unknown_operators_are_refused_by_name(flt: dict[str, Any]) -> None:
    with pytest.raises(MemoryStoreError, match=r"unsupported filter operator .*supported: \$eq"):
        check(flt)
    with pytest.raises(MemoryStoreError, match="unsupported filter operator"):
        matches(ITEM, flt)


@pytest.mark.parametrize(
    ("kind", "path", "namespace", "expected"),
    [
        ("prefix", ("acme",), ("acme", "calls"), True),
        ("prefix", ("acme", "*"), ("acme", "calls", "x"), True),
        ("prefix", ("globex",), ("acme", "calls"), False),
        ("prefix", ("acme", "calls", "x"), ("acme", "calls"), False),  # longer than it
        ("suffix", ("calls",), ("acme", "calls"), True),
        ("suffix", ("*", "calls"), ("acme", "calls"), True),
        ("suffix", ("slack",), ("acme", "calls"), False),
        ("prefix", (), ("acme",), True),
    ],
)
def test_namespace_conditions(
    kind: Any, path: tuple[str, ...], namespace: tuple[str, ...], expected: bool
) -> None:
    assert namespace_matches(MatchCondition(match_type=kind, path=path), namespace) is expected


# -- the same answers as LangGraph's InMemoryStore ------------------------------------------

values = st.one_of(st.integers(-3, 3), st.sampled_from(["a", "b", "c"]))
conditions = st.one_of(
    values,
    st.dictionaries(
        st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"]),
        st.integers(-3, 3),
        min_size=1,
        max_size=2,
    ),
    st.dictionaries(st.sampled_from(["$eq", "$ne"]), values, min_size=1, max_size=1),
)
items = st.lists(
    st.fixed_dictionaries({"i": st.integers(-3, 3), "s": st.sampled_from(["a", "b", "c"])}),
    min_size=1,
    max_size=12,
)


def _keys(store: Any, flt: dict[str, Any]) -> list[str]:
    return sorted(r.key for r in store.search(("ns",), filter=flt, limit=100))


@settings(max_examples=150, deadline=None)
@given(rows=items, flt=st.dictionaries(st.just("i"), conditions, min_size=1, max_size=1))
def test_documented_filters_match_in_memory_store(
    rows: list[dict[str, Any]], flt: dict[str, Any]
) -> None:
    ours, theirs = MemoryStore(), InMemoryStore()
    for i, row in enumerate(rows):
        ours.put(("ns",), f"k{i}", row)
        theirs.put(("ns",), f"k{i}", row)
    assert _keys(ours, flt) == _keys(theirs, flt)


# -- in searches: the field-index mask, the per-label predicate and the scan -----------------


def _store(indexed: bool) -> MemoryStore:
    emb = HashingEmbeddings(32)
    store = MemoryStore(
        index={"dims": 32, "embed": emb, "fields": ["text"]} if indexed else None,
        exact_threshold=0,  # walk the graph even for a handful of vectors
    )
    for i in range(40):
        store.put(("acme",), f"k{i}", {
            "text": f"note {i} about pricing",
            "author": {"team": "a" if i % 4 == 0 else "b", "level": i % 5},
        })  # fmt: skip
    return store


@pytest.mark.parametrize("indexed", [True, False])
@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"author.team": "a"}, {f"k{i}" for i in range(0, 40, 4)}),  # equality: the mask
        ({"author.level": {"$gte": 4}}, {f"k{i}" for i in range(4, 40, 5)}),  # the predicate
        ({"author.team": "a", "author.level": {"$lt": 1}}, {"k0", "k20"}),
    ],
)
def test_dotted_filters_in_every_search_path(
    indexed: bool, flt: dict[str, Any], expected: set[str]
) -> None:
    store = _store(indexed)
    query = "pricing" if indexed else None
    found = store.search(("acme",), query=query, filter=flt, limit=100)
    assert {r.key for r in found} == expected
    assert all(r.score is not None for r in found) is indexed


def test_an_unknown_operator_fails_the_search_before_it_starts() -> None:
    store = _store(indexed=True)
    with pytest.raises(MemoryStoreError, match=r"'\$in'"):
        store.search(("acme",), query="pricing", filter={"author.level": {"$in": [1]}})
