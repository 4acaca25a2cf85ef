"""DynamoDB's sizing and capacity rules, checked against the examples AWS documents."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.meters.capacity import (  # noqa: E402
    IndexSpec,
    attribute_value_size,
    batch_get_read_units,
    index_entry,
    index_write_units,
    item_size,
    item_write_units,
    number_size,
    query_read_units,
    read_units,
    write_units,
)

KB = 1024


# ---------------------------------------------------------------------------------------- sizes


def test_a_string_is_its_utf8_bytes_and_the_name_counts_too() -> None:
    assert item_size({"name": {"S": "abc"}}) == 4 + 3
    assert item_size({"é": {"S": "€"}}) == 2 + 3  # UTF-8 bytes, not characters


@pytest.mark.parametrize(("number", "size"), [
    ("123", 3),  # 3 significant digits: 2 bytes + 1
    ("1234", 3),
    ("12345", 4),
    ("1000", 2),  # trailing zeroes are trimmed
    ("0.001", 2),  # leading zeroes too
    ("-12.345", 4),
    ("0", 2),
])
def test_a_number_is_one_byte_per_two_significant_digits_plus_one(number: str, size: int) -> None:
    assert number_size(number) == size
    assert attribute_value_size({"N": number}) == size


def test_binary_counts_raw_bytes_not_base64() -> None:
    assert attribute_value_size({"B": "AAEC"}) == 3  # base64 of 3 bytes
    assert attribute_value_size({"B": b"\x00\x01\x02"}) == 3


def test_null_and_boolean_are_one_byte() -> None:
    assert item_size({"a": {"NULL": True}, "b": {"BOOL": False}}) == 1 + 1 + 1 + 1


def test_list_and_map_cost_three_bytes_plus_one_per_element() -> None:
    assert attribute_value_size({"L": []}) == 3
    assert attribute_value_size({"M": {}}) == 3
    assert attribute_value_size({"L": [{"S": "ab"}, {"N": "1"}]}) == 3 + (1 + 2) + (1 + 2)
    # a map element is its name and its value
    assert attribute_value_size({"M": {"k": {"BOOL": True}}}) == 3 + (1 + 1 + 1)
    assert item_size({"m": {"M": {"k": {"L": [{"S": "x"}]}}}}) == 1 + 3 + (1 + 1 + (3 + 1 + 1))


def test_a_set_is_its_elements() -> None:
    assert attribute_value_size({"SS": ["ab", "c"]}) == 3
    assert attribute_value_size({"NS": ["1", "123"]}) == 2 + 3


# ---------------------------------------------------------------------------------------- units


def test_reads_round_up_to_4_kb_and_eventual_reads_cost_half() -> None:
    # "reading a 3,500-byte item consumes the same throughput as reading a 4 KB item"
    assert read_units(3500, consistent=True) == 1
    # "a strongly consistent read request of an 8 KB item requires two read request units, an eventually
    # consistent read of an 8 KB item requires one, and a transactional read ... four"
    assert read_units(8 * KB, consistent=True) == 2
    assert read_units(8 * KB, consistent=False) == 1
    assert 2 * read_units(8 * KB, consistent=True) == 4
    # "If you read a 10 KB item, DynamoDB rounds the item size to 12 KB"
    assert read_units(10 * KB, consistent=True) == 3
    # a read that finds nothing still costs a unit
    assert read_units(0, consistent=True) == 1 and read_units(0, consistent=False) == 0.5


def test_batch_get_rounds_each_item_but_query_rounds_the_sum() -> None:
    # "if BatchGetItem reads a 1.5 KB item and a 6.5 KB item, DynamoDB calculates the size as 12 KB
    # (4 KB + 8 KB), not 8 KB (1.5 KB + 6.5 KB)"
    assert batch_get_read_units([int(1.5 * KB), int(6.5 * KB)], consistent=True) == 3
    assert query_read_units([int(1.5 * KB), int(6.5 * KB)], consistent=True) == 2
    assert query_read_units([int(1.5 * KB), int(6.5 * KB)], consistent=False) == 1
    assert query_read_units([], consistent=False) == 0.5


def test_writes_cost_one_unit_per_started_kb_of_the_larger_image() -> None:
    assert write_units(500) == 1
    assert write_units(KB) == 1
    assert write_units(KB + 1) == 2
    assert write_units(int(3.5 * KB)) == 4
    assert item_write_units(None, 500) == 1  # a new item
    assert item_write_units(3 * KB, KB) == 3  # an update that shrinks the item: the larger counts
    assert item_write_units(2 * KB, None) == 2  # a delete
    assert item_write_units(None, None) == 1  # deleting nothing
    # transactional writes are twice as dear: 5 KB -> 10 WRU
    assert item_write_units(None, 5 * KB, transactional=True) == 10


# ---------------------------------------------------------------------------------------- indexes

ALL = IndexSpec("gsi1", ("gsi1pk", "gsi1sk"), ("pk", "sk"), "ALL")
KEYS = IndexSpec("gsi1", ("gsi1pk", "gsi1sk"), ("pk", "sk"), "KEYS_ONLY")
INCLUDE = IndexSpec("gsi1", ("gsi1pk", "gsi1sk"), ("pk", "sk"), "INCLUDE", ("status",))


def item(**attrs: str) -> dict:
    return {"pk": {"S": "p"}, "sk": {"S": "s"}, **{k: {"S": v} for k, v in attrs.items()}}


def test_an_item_without_the_index_keys_is_not_in_the_index() -> None:
    assert index_entry(item(status="NEW"), ALL) is None
    assert index_write_units(None, index_entry(item(status="NEW"), ALL)) == 0


def test_entering_or_leaving_the_index_is_one_write_of_the_entry() -> None:
    indexed = item(gsi1pk="m", gsi1sk="1", status="NEW")
    assert index_write_units(None, index_entry(indexed, ALL)) == 1
    assert index_write_units(index_entry(indexed, ALL), None) == 1
    big = item(gsi1pk="m", gsi1sk="1", status="x" * 2000)
    assert index_write_units(None, index_entry(big, ALL)) == 2  # ALL projects the whole item
    assert index_write_units(None, index_entry(big, KEYS)) == 1  # KEYS_ONLY: the keys alone


def test_a_changed_index_key_is_a_delete_and_a_put() -> None:
    before = index_entry(item(gsi1pk="m", gsi1sk="1"), KEYS)
    after = index_entry(item(gsi1pk="m", gsi1sk="2"), KEYS)
    assert index_write_units(before, after) == 2


def test_only_a_change_to_a_projected_attribute_rewrites_the_entry() -> None:
    before = item(gsi1pk="m", gsi1sk="1", status="NEW", note="a")
    status_changed = item(gsi1pk="m", gsi1sk="1", status="DONE", note="a")
    note_changed = item(gsi1pk="m", gsi1sk="1", status="NEW", note="b")
    assert index_write_units(index_entry(before, ALL), index_entry(status_changed, ALL)) == 1
    assert index_write_units(index_entry(before, KEYS), index_entry(status_changed, KEYS)) == 0
    assert index_write_units(index_entry(before, INCLUDE), index_entry(status_changed, INCLUDE)) == 1
    assert index_write_units(index_entry(before, INCLUDE), index_entry(note_changed, INCLUDE)) == 0
    assert index_write_units(index_entry(before, ALL), index_entry(before, ALL)) == 0
