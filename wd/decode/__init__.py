"""Decoding: our beam search, the CTranslate2 engine beside it, int8 decoder weights, and the
journal that lets a long decoding job resume."""
