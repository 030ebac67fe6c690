"""Training-data cleaning: each reason counted, first occurrences kept in order."""
import logging

import pytest

from wd.data.clean import REASONS, CleanSettings, clean_pairs, length

SETTINGS = CleanSettings(max_len=6, max_ratio=2.0)


def test_each_reason_is_counted_and_the_rest_kept_in_order(caplog):
    bad = b"caf\xe9".decode("utf-8", "surrogateescape")  # Latin-1 bytes kept by surrogateescape
    pairs = [
        ("a good pair", "o pereche bună"),
        (bad, "cafea"),                               # not UTF-8
        ("bell\x07 here", "clopot aici"),             # control character
        ("   ", "ceva"),                              # empty (whitespace only)
        ("one two three four five six seven", "unu doi trei patru cinci șase șapte"),  # too long
        ("a b c d e", "x"),                           # ratio 5 > 2
        ("a good pair", "o pereche bună"),            # exact duplicate
        ("a good pair", "altă traducere"),            # same source, other target: kept
        ("tab\tinside", "tab\tînăuntru"),             # a tab is not a control character here
    ]
    src, tgt = map(list, zip(*pairs))
    with caplog.at_level(logging.INFO, logger="wd.data.clean"):
        kept_src, kept_tgt, dropped = clean_pairs(src, tgt, "en", "ro", SETTINGS,
                                                  where="x.en + x.ro")
    assert list(zip(kept_src, kept_tgt)) == [pairs[0], pairs[7], pairs[8]]
    assert dict(dropped) == {"not_utf8": 1, "control_chars": 1, "empty": 1, "too_long": 1,
                             "ratio": 1, "duplicate": 1}
    assert set(dropped) == set(REASONS)
    message = caplog.records[-1].getMessage()
    assert "x.en + x.ro: 9 pairs in, 3 kept" in message and "duplicate 1" in message


def test_unsegmented_languages_are_measured_in_characters():
    assert length("我们 今天 去", "zh") == 5 and length("we go today", "en") == 3
    src, tgt, dropped = clean_pairs(["我们今天去北京", "我"], ["we go to Beijing today", "I"],
                                    "zh", "en", CleanSettings(max_len=6, max_ratio=3.0))
    assert src == ["我"] and dropped["too_long"] == 1  # 7 characters > 6


def test_different_lengths_are_an_error():
    with pytest.raises(ValueError, match=r"train.en.*\(source\) has 2 lines, .*\(target\) has 1"):
        clean_pairs(["a", "b"], ["x"], "en", "ro", SETTINGS, where="train.en + train.ro")
