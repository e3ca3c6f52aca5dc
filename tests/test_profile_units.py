"""parse_size: the spellings users type, and one-line errors naming the field."""

from __future__ import annotations

import pytest

from eidola.errors import EidolaError
from eidola.profile import format_ns, format_size, parse_size


@pytest.mark.parametrize("text, expected", [
    ("4096", 4096), ("0", 0), ("4KiB", 4096), ("64MiB", 64 << 20), ("1GiB", 1 << 30),
    ("1GB", 10**9), ("1.5MB", 1_500_000), ("1.5KiB", 1536), ("2 MiB", 2 << 20), ("64m", 64 << 20),
    ("1tib", 1 << 40), ("512B", 512), (" 8kb ", 8000), (4096, 4096),
])
def test_accepted_spellings(text, expected) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["-1", "-4KiB", "abc", "", "1.5.3MB", "12 parsecs", "1e6", "0.3B",
                                  "KiB", "1,024"])
def test_rejected_spellings_name_the_field(text) -> None:
    with pytest.raises(EidolaError) as err:
        parse_size(text, field="chunk")
    assert "field 'chunk'" in str(err.value)
    assert "\n" not in str(err.value)


def test_negative_int_rejected() -> None:
    with pytest.raises(EidolaError, match="negative"):
        parse_size(-5)


def test_formatting_helpers() -> None:
    assert format_size(939524096) == "896 MiB"
    assert format_size(1536) == "1.50 KiB"
    assert format_size(10) == "10 B"
    assert format_ns(1_286_405.12) == "1.286 ms"
    assert format_ns(812) == "812 ns"
