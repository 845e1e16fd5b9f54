"""`finetune.script_augment`: source words rewritten in a target language's script, tags kept."""

from __future__ import annotations

import pytest

from eval_xtreme.finetune import FinetuneConfig
from eval_xtreme.loaders import TaggedSentence
from eval_xtreme.script_augment import augment


def _sentence(tokens, tags):
    return TaggedSentence("s1", list(tokens), list(tags))


def test_latin_words_are_written_in_the_target_script_and_keep_their_tags():
    ex = _sentence(["Bala", "alma", "3", ",", "алма"], ["NOUN", "NOUN", "NUM", "PUNCT", "NOUN"])
    # Kazakh Cyrillic and Uyghur Arabic spellings of бала / بالا "child" and алма / ئالما "apple"
    # (a word-initial vowel takes the hamza carrier ئ in Uyghur's script); digits, punctuation and a
    # word already in another script stay as they are
    (kk,) = augment([ex], {"kk": 1.0}, seed=0)
    assert kk.tokens == ["Бала", "алма", "3", ",", "алма"] and kk.tags == ex.tags
    (ug,) = augment([ex], {"ug": 1.0}, seed=0)
    assert ug.tokens == ["بالا", "ئالما", "3", ",", "алма"] and ug.tags == ex.tags
    assert ex.tokens[0] == "Bala"  # the input is not modified


def test_the_share_of_rewritten_words_and_its_seed():
    words = ["bala"] * 4000
    (half,) = augment([_sentence(words, ["NOUN"] * len(words))], {"kk": 0.3, "ug": 0.2}, seed=1)
    counts = {w: half.tokens.count(w) for w in ("bala", "бала", "بالا")}
    assert counts["бала"] / 4000 == pytest.approx(0.3, abs=0.03)
    assert counts["بالا"] / 4000 == pytest.approx(0.2, abs=0.03)
    assert augment([_sentence(words, ["NOUN"] * 4000)], {"kk": 0.3, "ug": 0.2}, seed=1)[0].tokens == half.tokens
    assert augment([_sentence(words, ["NOUN"] * 4000)], {"kk": 0.3, "ug": 0.2}, seed=2)[0].tokens != half.tokens
    assert augment([_sentence(words, ["NOUN"] * 4000)], {}, seed=1)[0].tokens == words


@pytest.mark.parametrize("shares, message", [({"xx": 0.1}, "no script rewrite for 'xx'"),
                                             ({"kk": 1.5}, r"script_augment.kk: a share of words in \[0, 1\]"),
                                             ({"kk": 0.6, "ug": 0.6}, "add up to 1.2")])
def test_bad_shares_are_refused(shares, message):
    with pytest.raises(ValueError, match=message):
        FinetuneConfig(script_augment=shares)


def test_the_setting_enters_the_record_only_when_used():
    from eval_xtreme.finetune import recorded_settings

    assert "script_augment" not in recorded_settings(FinetuneConfig())  # earlier records stay valid
    assert recorded_settings(FinetuneConfig(script_augment={"kk": 0.15}))["script_augment"] == {"kk": 0.15}
