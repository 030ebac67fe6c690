from wd.data.text import detokenize, tokenize


def test_moses_round_trip():
    text = "Fata, pe care o văd, cântă frumos."
    tokens = tokenize(text, "ro")
    assert tokens.split()[1] == "," and tokens.endswith(" .")
    assert detokenize(tokens, "ro") == text
