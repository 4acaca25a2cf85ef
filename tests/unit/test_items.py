"""The item mappings (adapters/dynamodb/) that do more than copy fields."""

from paygate.adapters.dynamodb.items import stream_image


def test_a_stream_image_reads_a_bare_empty_map_as_an_empty_map():
    """LocalStack's DynamoDB-Local-backed streams write {"M": {}} as {} at any depth (lists are kept)."""
    image = {"pk": {"S": "a"}, "m": {}, "l": {"L": []}, "n": {"M": {"x": {}, "y": {"L": [{}, {"L": []}]}}}}
    assert stream_image(image) == {"pk": "a", "m": {}, "l": [], "n": {"x": {}, "y": [{}, []]}}
