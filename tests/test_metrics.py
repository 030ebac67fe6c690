"""Scoring variants on hand-made sentences whose outcome is known, and Romanian orthography."""
import copy

import pytest
import sacrebleu
import yaml

from conftest import REPO
from wd.config import ConfigError, validate
from wd.data.romanian import comma_below, strip_diacritics
from wd.evaluate.metrics import VARIANTS, lc_norm_tok, read_references, score, split_compounds


def test_comma_below_changes_only_cedilla_s_and_t():
    assert (comma_below("\u015ei \u015ftiin\u0163\u0103 \u0162ARA")
            == "\u0218i \u0219tiin\u021b\u0103 \u021aARA")
    assert comma_below("s\u0327i T\u0327") == "\u0219i \u021a"  # letter + combining cedilla
    # ș ț ă â î, French ç é
    untouched = "\u0219\u021b\u0103\u00e2\u00ee \u00e7a va \u00e9t\u00e9 Gar\u00e7on"
    assert comma_below(untouched) == untouched


def test_strip_diacritics_removes_romanian_ones_in_both_cases_and_forms():
    assert (strip_diacritics("\u0218tiin\u021b\u0103 \u00een \u021a\u0102RI, \u00c2NC\u00ce")
            == "Stiinta in TARI, ANCI")
    assert strip_diacritics("\u015f\u0163\u015e\u0162") == "stST"  # cedilla forms too
    assert strip_diacritics("a\u0306 s\u0326 i\u0302") == "a s i"  # combining marks
    assert strip_diacritics("Andr\u00e9") == "Andr\u00e9"


def test_primary_bleu_and_chrf_are_sacrebleu_with_signatures():
    hyps = ["the cat sat on the mat .", "a dog barked loudly at night"]
    refs = ["the cat sat on a mat .", "a dog barked at night"]
    result = score(hyps, [refs])
    assert result["bleu"] == round(sacrebleu.corpus_bleu(hyps, [refs]).score, 2)
    assert result["chrf"] == round(sacrebleu.corpus_chrf(hyps, [refs]).score, 2)
    assert "nrefs:1" in result["bleu_signature"] and "tok:13a" in result["bleu_signature"]
    assert "nrefs:1" in result["chrf_signature"]
    assert not [k for k in result if k.startswith("bleu_") and not k.endswith("signature")]


def test_ro_normalised_ignores_cedilla_diacritics_and_quote_style():
    ref = ("\u201eDe\u0219i \u021bara are \u0219anse\u201d, a spus ministrul \u00een "
           "fa\u021ba pre\u0219ei.")
    hyp = "\"De\u015fi \u0163ara are sanse\", a spus ministrul in fa\u0163a presei."
    result = score([hyp], [[ref]], ["ro_normalised"])
    assert result["bleu_ro_normalised"] == 100.0
    assert result["bleu"] < 50.0  # the plain score sees different words
    assert result["bleu_ro_normalised_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:none")


def test_compound_splitting_as_get_ende_bleu():
    assert (split_compounds("das Welt-Cup-Finale")
            == "das Welt ##AT##-##AT## Cup ##AT##-##AT## Finale")
    assert split_compounds("a-b-c - x") == "a ##AT##-##AT## b-c - x"  # the perl regex's quirk
    hyp = "Das Welt-Cup-Finale beginnt heute in der Hauptstadt."
    ref = "Das Welt-Meister-Finale beginnt heute in der Hauptstadt."
    result = score([hyp], [[ref]], ["de_tok_compound"])
    prepared = sacrebleu.metrics.BLEU(tokenize="none", smooth_method="none").corpus_score(
        ["Das Welt ##AT##-##AT## Cup ##AT##-##AT## Finale beginnt heute in der Hauptstadt ."],
        [["Das Welt ##AT##-##AT## Meister ##AT##-##AT## Finale beginnt heute in der Hauptstadt ."]])
    assert result["bleu_de_tok_compound"] == round(prepared.score, 2)
    assert result["bleu_de_tok_compound"] > result["bleu"]  # partial credit inside compounds
    assert "tok:none" in result["bleu_de_tok_compound_signature"]


def test_zh_en_nist_is_case_insensitive_and_uses_all_four_references():
    hyp = ["The President Said, \"We Will Win.\"", "Prices rose by 5 % last year."]
    refs = [["The chairman said: we shall win.", "Prices went up 5 % in the past year."],
            ["The president stated that they would win.", "Last year prices rose by 5 %."],
            ["the president said , \" we will win . \"", "Prices increased 5 % last year."],
            ["\"We will win,\" the president said.", "prices rose by 5% last year."]]
    result = score(hyp, refs, ["zh_en_nist"])
    # Reference 3 matches sentence 1 once tokenised and lowercased, reference 4 sentence 2.
    assert result["bleu_zh_en_nist"] == 100.0
    assert result["bleu"] < 100.0  # the detokenised score is case-sensitive
    assert result["bleu_zh_en_nist_signature"].startswith("nrefs:4|case:lc|eff:no|tok:none")
    assert "nrefs:4" in result["bleu_signature"] and "nrefs:4" in result["chrf_signature"]
    assert score(hyp, refs[:1], ["zh_en_nist"])["bleu_zh_en_nist"] < 50.0


def test_lc_tok_is_multi30ks_lowercased_normalised_tokenised_text():
    # A raw test_2016_flickr caption and its line in the dataset's *.lc.norm.tok.de file.
    raw = "Ein Boston Terrier läuft über saftig-grünes Gras vor einem weißen Zaun."
    assert lc_norm_tok(raw, "de") == ("ein boston terrier läuft über saftig-grünes gras vor "
                                      "einem weißen zaun .")
    assert lc_norm_tok("Un homme l'a vu « ici »", "fr") == "un homme l&apos; a vu &quot; ici &quot;"
    hyp = "EIN Boston Terrier läuft über saftig-grünes Gras vor einem weißen Zaun ."
    result = score([hyp], [[raw]], ["de_lc_tok"])
    assert result["bleu_de_lc_tok"] == 100.0 and result["bleu"] < 100.0
    assert result["bleu_de_lc_tok_signature"].startswith("nrefs:1|case:lc|eff:no|tok:none")


def test_mismatched_inputs_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="the hypotheses has 2 lines, reference 2 of 2 has 1"):
        score(["a", "b"], [["a", "b"], ["a"]])
    with pytest.raises(ValueError, match="unknown BLEU variant 'nist'"):
        score(["a"], [["a"]], ["nist"])
    (tmp_path / "test.tgt").write_text("one\ntwo\n")
    (tmp_path / "test.tgt.1").write_text("one\n")
    with pytest.raises(ValueError, match=r"test\.tgt has 2 lines, .*test\.tgt\.1 has 1"):
        read_references([tmp_path / "test.tgt", tmp_path / "test.tgt.1"])
    assert read_references([tmp_path / "test.tgt"]) == [["one", "two"]]


def test_schema_lists_exactly_the_variants_and_checks_the_language():
    schema = yaml.safe_load((REPO / "schemas" / "config.schema.yaml").read_text())
    items = schema["properties"]["evaluation"]["properties"]["bleu_variants"]["items"]
    assert items["enum"] == list(VARIANTS)
    config = yaml.safe_load((REPO / "config.yaml").read_text())  # tgt_lang ro
    config["evaluation"]["bleu_variants"] = ["ro_normalised"]
    validate(config)
    for bad, message in [(["de_tok_compound"], "evaluation.bleu_variants.0: de_tok_compound "
                          "scores de text but data.tgt_lang is ro"),
                         (["bleu"], "evaluation.bleu_variants.0: 'bleu' is not one of")]:
        broken = copy.deepcopy(config)
        broken["evaluation"]["bleu_variants"] = bad
        with pytest.raises(ConfigError, match=message):
            validate(broken)

