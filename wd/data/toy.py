"""Deterministic synthetic English-like -> Romanian-like translation corpus ("toy").

Why it looks like this: the pipeline needs offline data that a small Transformer can
learn in minutes but that is not a copy task (reordering, agreement, enclitic articles,
context-dependent word choice), and whose references vary at random per sentence, so
that sequence-level knowledge distillation has something to remove (a teacher's beam
output sits near the mode of the data).  docs/toy_grammar.md describes the grammar and
the probabilities.  Only ``random.Random`` instances seeded from ``seed`` are used.
"""

from __future__ import annotations

import itertools
import pathlib
import random
from collections.abc import Iterable
from dataclasses import dataclass

from wd.io import write_lines

# Target-side randomness, drawn per sentence/occurrence (the reason KD helps).
SYNONYM_RANKS = (0,)  # content lemmas whose Zipf rank % 5 is here (20%) get a 2nd stem
SYNONYM_P = 0.3  # chance that an occurrence of such a lemma uses the second stem
PRO_DROP_P = 0.25  # chance that a subject pronoun is left out (the verb ending marks it)
ADVERB_FRONT_P = 0.25  # chance that an adverb opens its clause instead of following the verb
QUESTION_PARTICLE_P = 0.25  # chance that a yes/no question starts with the particle "oare"

MIN_WORDS, MAX_WORDS = 3, 40  # source length bounds (whitespace tokens)

# --- fixed function words: (source, target forms) -------------------------------------
# Agreement index used by every agreeing target word: 0 m.sg, 1 f.sg, 2 m.pl, 3 f.pl.
# Neuter nouns agree like masculines in the singular and like feminines in the plural.
_PRONOUNS = {"I": ("eu", "1sg"), "you": ("tu", "2sg"), "he": ("el", "3sg"),
             "she": ("ea", "3sg"), "we": ("noi", "1pl"), "they": ("ei", "3pl")}
_PREPOSITIONS = {"in": "în", "on": "pe", "with": "cu", "near": "lângă", "under": "sub",
                 "for": "pentru", "from": "din", "without": "fără", "after": "după",
                 "about": "despre"}
_NUMBERS = {"two": ("doi", "două"), "three": ("trei",) * 2, "four": ("patru",) * 2,
            "five": ("cinci",) * 2, "six": ("șase",) * 2, "seven": ("șapte",) * 2,
            "eight": ("opt",) * 2, "nine": ("nouă",) * 2, "ten": ("zece",) * 2,
            "eleven": ("unsprezece",) * 2, "twelve": ("doisprezece", "douăsprezece")}
_POSSESSIVES = {"my": ("meu", "mea", "mei", "mele"), "your": ("tău", "ta", "tăi", "tale"),
                "our": ("nostru", "noastră", "noștri", "noastre")}
_DEMONSTRATIVE = ("acest", "această", "acești", "aceste")
_POSSESSIVE_ARTICLE = ("al", "a", "ai", "ale")  # links a genitive to a non-adjacent head
_INDEFINITE = {"m": "un", "f": "o", "n": "un"}
_ADJ_ENDINGS = ("", "ă", "i", "e")
# (gender, plural) -> (indefinite, definite, genitive) suffixes; the article is enclitic.
_NOUN_ENDINGS = {("m", False): ("", "ul", "ului"), ("m", True): ("i", "ii", "ilor"),
                 ("f", False): ("ă", "a", "ei"), ("f", True): ("e", "ele", "elor"),
                 ("n", False): ("", "ul", "ului"), ("n", True): ("uri", "urile", "urilor")}
_PRESENT_ENDINGS = {"a": {"1sg": "ez", "2sg": "ezi", "3sg": "ează", "1pl": "ăm", "3pl": "ează"},
                    "b": {"1sg": "esc", "2sg": "ești", "3sg": "ește", "1pl": "im", "3pl": "esc"}}
_PARTICIPLE_ENDINGS = {"a": "at", "b": "it"}
_AUXILIARY = {"1sg": "am", "2sg": "ai", "3sg": "a", "1pl": "am", "3pl": "au"}

_SOURCE_FUNCTION_WORDS = {
    "the", "a", "an", "some", "this", "these", "every", "of", "that", "and", "but",
    "do", "does", "did", *(w.lower() for w in _PRONOUNS), *_PREPOSITIONS, *_NUMBERS,
    *_POSSESSIVES}
_TARGET_FUNCTION_WORDS = {
    "niște", "fiecare", "care", "pe", "și", "dar", "oare", "într", *_DEMONSTRATIVE,
    *_POSSESSIVE_ARTICLE, *_INDEFINITE.values(), *_AUXILIARY.values(),
    *(t for t, _ in _PRONOUNS.values()), *_PREPOSITIONS.values(),
    *itertools.chain(*_NUMBERS.values(), *_POSSESSIVES.values())}

# --- word shapes ---------------------------------------------------------------------
_SRC_ONSETS = ("b", "bl", "br", "c", "ch", "cl", "cr", "d", "dr", "f", "fl", "fr", "g", "gl",
               "gr", "h", "j", "k", "l", "m", "n", "p", "pl", "pr", "r", "s", "sh", "sk",
               "sl", "sn", "sp", "st", "str", "t", "th", "tr", "v", "w", "wh", "y", "z", "")
_SRC_VOWELS = ("a", "e", "i", "o", "u", "a", "e", "i", "o", "u", "ai", "ea", "ee", "oo", "ou")
_SRC_MEDIALS = ("b", "d", "f", "g", "l", "ll", "m", "n", "nd", "p", "r", "rt", "s", "st", "t",
                "th", "v", "ck", "mb", "nt")
_SRC_FINALS = ("", "", "b", "ck", "d", "g", "k", "l", "ll", "m", "mp", "n", "nd", "ng", "nk",
               "nt", "p", "r", "rd", "rn", "rt", "sk", "st", "t", "th", "sh")
_TGT_ONSETS = ("b", "c", "d", "f", "g", "j", "l", "m", "n", "p", "r", "s", "ș", "t", "ț", "v",
               "z", "br", "cr", "dr", "gr", "pl", "pr", "str", "tr", "sc", "")
_TGT_VOWELS = ("a", "e", "i", "o", "u", "a", "e", "i", "o", "u", "a", "ă", "ă", "î", "â", "ea",
               "oa")
_TGT_MEDIALS = ("b", "c", "d", "g", "l", "m", "n", "p", "r", "s", "ș", "t", "ț", "v", "z",
                "rb", "nd", "sc", "st", "mp")
_TGT_FINALS = ("c", "d", "g", "l", "m", "n", "p", "r", "s", "ș", "t", "ț", "v", "z", "rn",
               "nt", "rc", "sc", "șt", "lt")
_SYLLABLE_COUNTS = (1, 2, 3)
_SYLLABLE_CUM = (4, 9, 10)


# --- lexicon ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Noun:
    src: str
    src_plural: str
    stems: tuple[str, ...]  # first = dominant target stem, second (if any) = synonym
    gender: str  # "m", "f" or "n"
    animate: bool
    plural_stem: str | None = None  # irregular target plural (declined as masculine)


@dataclass(frozen=True)
class Word:
    """Adjective or adverb: invariable in the source, a stem in the target."""

    src: str
    stems: tuple[str, ...]


@dataclass(frozen=True)
class Verb:
    src: str
    stems: tuple[str, ...]
    conj: str  # target conjugation class, "a" or "b"
    transitive: bool
    animate_stem: str | None = None  # replaces the stem when the object is animate
    participle: str | None = None  # irregular target participle


@dataclass(frozen=True)
class Pool:
    """Words of one part of speech, sampled with Zipf weights 1/rank (rank = position)."""

    items: tuple
    cum: tuple[float, ...]

    @classmethod
    def zipf(cls, items: Iterable) -> Pool:
        items = tuple(items)
        return cls(items, tuple(itertools.accumulate(1.0 / r for r in range(1, len(items) + 1))))

    def pick(self, rng: random.Random):
        return rng.choices(self.items, cum_weights=self.cum)[0]


@dataclass(frozen=True)
class Lexicon:
    animate: Pool
    inanimate: Pool
    adjectives: Pool
    adverbs: Pool
    transitive: Pool
    intransitive: Pool

    def size(self) -> int:
        """Number of source lemmas, function words included."""
        pools = (self.animate, self.inanimate, self.adjectives, self.adverbs,
                 self.transitive, self.intransitive)
        return sum(len(p.items) for p in pools) + len(_SOURCE_FUNCTION_WORDS)


class _WordMaker:
    """Invents unique pronounceable words; one shared `used` set keeps every source word
    and target stem distinct, so no target stem is a copy of a source word."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used = set(_SOURCE_FUNCTION_WORDS) | _TARGET_FUNCTION_WORDS

    def _shape(self, onsets, vowels, medials, finals) -> str:
        rng = self.rng
        n = rng.choices(_SYLLABLE_COUNTS, cum_weights=_SYLLABLE_CUM)[0]
        parts = [rng.choice(onsets), rng.choice(vowels)]
        for _ in range(n - 1):
            parts += [rng.choice(medials), rng.choice(vowels)]
        parts.append(rng.choice(finals))
        return "".join(parts)

    def _unique(self, make) -> str:
        while True:
            word = make()
            if len(word) >= 3 and word not in self.used:
                self.used.add(word)
                return word

    def source(self) -> str:
        shape = (_SRC_ONSETS, _SRC_VOWELS, _SRC_MEDIALS, _SRC_FINALS)
        return self._unique(lambda: self._shape(*shape))

    def target(self) -> str:
        """A consonant-final stem, ready for suffixes."""
        shape = (_TGT_ONSETS, _TGT_VOWELS, _TGT_MEDIALS, _TGT_FINALS)
        return self._unique(lambda: self._shape(*shape))

    def stems(self, rank: int) -> tuple[str, ...]:
        """A fixed rank pattern (not a coin flip) keeps the share of synonym tokens, and
        so the reference variability, the same for every seed."""
        first = self.target()
        return (first, self.target()) if rank % 5 in SYNONYM_RANKS else (first,)


def _s_form(word: str) -> str:
    """English plural / third person singular spelling (invented words never end in s or y)."""
    return word + ("es" if word.endswith("sh") else "s")


def _past(word: str) -> str:
    return word + ("d" if word.endswith("e") else "ed")


def _nouns(make: _WordMaker, count: int, animate: bool) -> list[Noun]:
    """Irregular forms go to frequent lemmas (as in real languages) without synonyms."""
    rng = make.rng
    genders, gender_cum = ("m", "f", "n"), ((1, 2, 2) if animate else (3, 7, 10))
    nouns = []
    for rank in range(count):
        src, stems = make.source(), make.stems(rank)
        gender = rng.choices(genders, cum_weights=gender_cum)[0]
        irregular = rank < 40 and len(stems) == 1 and rng.random() < 0.25
        src_plural = src + "en" if animate and irregular else _s_form(src)
        plural_stem = make.target() if irregular else None
        nouns.append(Noun(src, src_plural, stems, gender, animate, plural_stem))
    return nouns


def _verbs(make: _WordMaker, count: int, transitive: bool) -> list[Verb]:
    """Transitive verbs: the 4 most frequent and 30% of the rest choose their target
    stem by the animacy of the object (like 'see' -> two target verbs)."""
    rng = make.rng
    verbs = []
    for rank in range(count):
        src, stems, conj = make.source(), make.stems(rank), rng.choice("ab")
        split = transitive and (rank < 4 or rng.random() < 0.3)
        animate_stem = make.target() if split else None
        irregular = rank < 30 and not split and len(stems) == 1 and rng.random() < 0.25
        participle = make.target() + "ut" if irregular else None
        verbs.append(Verb(src, stems, conj, transitive, animate_stem, participle))
    return verbs


# Content lemmas per part of speech: small enough that a small model learns the lexicon in a
# few thousand updates and the default's runs get near their plateau (docs/toy_grammar.md).
LEXICON_SIZES = {"animate": 24, "inanimate": 48, "adjectives": 24, "adverbs": 10,
                 "transitive": 20, "intransitive": 12}


def build_lexicon(seed: int) -> Lexicon:
    """About 180 source lemmas (LEXICON_SIZES and the function words), derived
    deterministically from ``seed``."""
    make = _WordMaker(random.Random(f"toy-lexicon:{seed}"))
    n = LEXICON_SIZES
    return Lexicon(
        animate=Pool.zipf(_nouns(make, n["animate"], animate=True)),
        inanimate=Pool.zipf(_nouns(make, n["inanimate"], animate=False)),
        adjectives=Pool.zipf(Word(make.source(), make.stems(r)) for r in range(n["adjectives"])),
        adverbs=Pool.zipf(Word(make.source() + "ly", make.stems(r)) for r in range(n["adverbs"])),
        transitive=Pool.zipf(_verbs(make, n["transitive"], transitive=True)),
        intransitive=Pool.zipf(_verbs(make, n["intransitive"], transitive=False)),
    )


# --- sentence structure (shared by both sides) ------------------------------------------
@dataclass(frozen=True)
class Rel:
    """Relative clause on a head noun; `other` is the object (subject relative:
    'that sees the cat') or the subject (object relative: 'that the cat sees')."""

    verb: Verb
    tense: str
    object_gap: bool
    other: NP | None
    adv: Word | None


@dataclass(frozen=True)
class NP:
    noun: Noun
    plural: bool
    det: str  # "the", "a", "this", "some", "every", "bare", a number or a possessive
    adjs: tuple[Word, ...] = ()
    gen: NP | None = None  # "of the Y"
    rel: Rel | None = None


@dataclass(frozen=True)
class Clause:
    subj: NP | str  # str: a pronoun key of _PRONOUNS
    verb: Verb
    tense: str  # "present" or "past"
    obj: NP | None = None
    pp: tuple[str, NP] | None = None
    adv: Word | None = None


@dataclass(frozen=True)
class Sentence:
    clauses: tuple[Clause, ...]
    conjs: tuple[str, ...]  # "and" / "but" between consecutive clauses
    question: bool


_DETS = ("the", "a", "this", "possessive", "number", "some", "bare", "every")
_DET_CUM = tuple(itertools.accumulate((45, 15, 8, 10, 7, 5, 7, 3)))
_PREPOSITION_POOL = Pool.zipf(_PREPOSITIONS)
_ALWAYS_PLURAL = {"number", "some", "bare"}


def _chance(rng: random.Random, p: float) -> bool:
    return rng.random() < p


def _sample_np(lex: Lexicon, rng: random.Random, animate: bool, nested: bool = False) -> NP:
    """Nested NPs (inside genitives, relatives, PPs) get no further modifiers, which
    bounds the length and keeps the structure unambiguous."""
    noun = (lex.animate if animate else lex.inanimate).pick(rng)
    kind = rng.choices(_DETS, cum_weights=_DET_CUM)[0]
    plural = kind in _ALWAYS_PLURAL or (kind in ("the", "this", "possessive") and _chance(rng, 0.3))
    det = kind
    if kind == "possessive":
        det = rng.choice(tuple(_POSSESSIVES))
    elif kind == "number":
        det = rng.choice(tuple(_NUMBERS))
    r = rng.random()
    n_adj = 0 if r < (0.7 if nested else 0.5) else 1 if r < 0.88 else 2
    adjs = tuple(dict.fromkeys(lex.adjectives.pick(rng) for _ in range(n_adj)))
    if nested:
        return NP(noun, plural, det, adjs)
    r = rng.random()
    if r < 0.12 and det in ("the", "a"):
        gen = NP(lex.animate.pick(rng) if _chance(rng, 0.6) else lex.inanimate.pick(rng),
                 _chance(rng, 0.3), "the", adjs=())
        return NP(noun, plural, det, adjs, gen=gen)
    if r < 0.28:
        return NP(noun, plural, det, adjs, rel=_sample_rel(lex, rng))
    return NP(noun, plural, det, adjs)


def _sample_rel(lex: Lexicon, rng: random.Random) -> Rel:
    tense = "past" if _chance(rng, 0.45) else "present"
    if _chance(rng, 0.35):
        return Rel(lex.transitive.pick(rng), tense, True,
                   _sample_np(lex, rng, _chance(rng, 0.8), nested=True), None)
    if _chance(rng, 0.6):
        return Rel(lex.transitive.pick(rng), tense, False,
                   _sample_np(lex, rng, _chance(rng, 0.35), nested=True), None)
    adv = lex.adverbs.pick(rng) if _chance(rng, 0.3) else None
    return Rel(lex.intransitive.pick(rng), tense, False, None, adv)


def _sample_clause(lex: Lexicon, rng: random.Random) -> Clause:
    if _chance(rng, 0.25):
        subj: NP | str = rng.choice(tuple(_PRONOUNS))
    else:
        subj = _sample_np(lex, rng, _chance(rng, 0.8))
    transitive = _chance(rng, 0.6)
    verb = (lex.transitive if transitive else lex.intransitive).pick(rng)
    obj = _sample_np(lex, rng, _chance(rng, 0.35)) if transitive else None
    pp = None
    if _chance(rng, 0.45):
        pp = (_PREPOSITION_POOL.pick(rng), _sample_np(lex, rng, _chance(rng, 0.2), nested=True))
    adv = lex.adverbs.pick(rng) if _chance(rng, 0.35) else None
    tense = "past" if _chance(rng, 0.45) else "present"
    return Clause(subj, verb, tense, obj, pp, adv)


def sample_sentence(lex: Lexicon, rng: random.Random) -> Sentence:
    """One sentence structure: a question (single clause) or 1-2 coordinated clauses."""
    if _chance(rng, 0.1):
        return Sentence((_sample_clause(lex, rng),), (), True)
    n = 1 if rng.random() < 0.55 else 2
    clauses = tuple(_sample_clause(lex, rng) for _ in range(n))
    conjs = tuple("but" if _chance(rng, 0.35) else "and" for _ in range(n - 1))
    return Sentence(clauses, conjs, False)


# --- source realisation (deterministic) --------------------------------------------------
def _person(subj: NP | str) -> str:
    if isinstance(subj, str):
        return _PRONOUNS[subj][1]
    return "3pl" if subj.plural else "3sg"


def _src_np(np: NP) -> list[str]:
    adjs = [a.src for a in np.adjs]
    noun = np.noun.src_plural if np.plural else np.noun.src
    if np.det == "a":
        words = ["an" if (adjs or [noun])[0][0] in "aeiou" else "a"]
    elif np.det == "this":
        words = ["these" if np.plural else "this"]
    else:
        words = [] if np.det == "bare" else [np.det]
    words += adjs + [noun]
    if np.gen:
        words += ["of"] + _src_np(np.gen)
    if np.rel:
        words += ["that"] + _src_rel(np.rel, np)
    return words


def _src_verb(verb: Verb, person: str, tense: str) -> str:
    if tense == "past":
        return _past(verb.src)
    return _s_form(verb.src) if person == "3sg" else verb.src


def _src_rel(rel: Rel, head: NP) -> list[str]:
    if rel.object_gap:
        return _src_np(rel.other) + [_src_verb(rel.verb, _person(rel.other), rel.tense)]
    words = [rel.adv.src] if rel.adv else []
    words += [_src_verb(rel.verb, _person(head), rel.tense)]
    return words + (_src_np(rel.other) if rel.other else [])


def _src_clause(clause: Clause, question: bool) -> list[str]:
    """Adverbs stand before the verb ('the dog quickly runs'), so their attachment to a
    main or a relative clause is never ambiguous."""
    subj = [clause.subj] if isinstance(clause.subj, str) else _src_np(clause.subj)
    adv = [clause.adv.src] if clause.adv else []
    person = _person(clause.subj)
    if question:
        aux = "did" if clause.tense == "past" else "does" if person == "3sg" else "do"
        words = [aux] + subj + adv + [clause.verb.src]
    else:
        words = subj + adv + [_src_verb(clause.verb, person, clause.tense)]
    words += _src_np(clause.obj) if clause.obj else []
    if clause.pp:
        words += [clause.pp[0]] + _src_np(clause.pp[1])
    return words


def realise_source(sentence: Sentence) -> list[str]:
    """Source tokens; punctuation is attached by `_detokenise`."""
    words = _src_clause(sentence.clauses[0], sentence.question)
    for conj, clause in zip(sentence.conjs, sentence.clauses[1:]):
        words += ([",", "but"] if conj == "but" else ["and"]) + _src_clause(clause, False)
    return words + ["?" if sentence.question else "."]


# --- target realisation (random choices only via rng.random()) ---------------------------
def _pick_stem(stems: tuple[str, ...], rng: random.Random) -> str:
    return stems[1] if len(stems) > 1 and _chance(rng, SYNONYM_P) else stems[0]


def _agreement(noun: Noun, plural: bool) -> int:
    if noun.gender == "n":
        return 3 if plural else 0
    return (2 if plural else 0) + (noun.gender == "f")


def _tgt_noun(noun: Noun, plural: bool, form: int, rng: random.Random) -> str:
    """form: 0 indefinite, 1 definite (enclitic article), 2 genitive."""
    if plural and noun.plural_stem:
        return noun.plural_stem + _NOUN_ENDINGS["m", True][form]
    return _pick_stem(noun.stems, rng) + _NOUN_ENDINGS[noun.gender, plural][form]


def _tgt_determiner(np: NP, agr: int) -> list[str]:
    """Prenominal determiners (all but 'the' and possessives, which follow the noun)."""
    if np.det == "a":
        return [_INDEFINITE[np.noun.gender]]
    if np.det == "this":
        return [_DEMONSTRATIVE[agr]]
    if np.det in _NUMBERS:
        return [_NUMBERS[np.det][agr & 1]]  # only "two"/"twelve" mark gender
    return {"some": ["niște"], "every": ["fiecare"], "bare": []}[np.det]


def _tgt_np(np: NP, rng: random.Random, after_prep: bool = False,
            genitive: bool = False) -> list[str]:
    agr = _agreement(np.noun, np.plural)
    modified = bool(np.adjs or np.gen or np.rel)
    if np.det == "the":
        # After a preposition an unmodified singular noun drops its article (Romanian).
        form = 2 if genitive else 0 if after_prep and not modified and not np.plural else 1
        words = [_tgt_noun(np.noun, np.plural, form, rng)]
    elif np.det in _POSSESSIVES:
        words = [_tgt_noun(np.noun, np.plural, 1, rng), _POSSESSIVES[np.det][agr]]
    else:
        words = _tgt_determiner(np, agr) + [_tgt_noun(np.noun, np.plural, 0, rng)]
    words += [_pick_stem(a.stems, rng) + _ADJ_ENDINGS[agr] for a in np.adjs]
    if np.gen:
        adjacent = np.det == "the" and not np.adjs
        words += [] if adjacent else [_POSSESSIVE_ARTICLE[agr]]
        words += _tgt_np(np.gen, rng, genitive=True)
    if np.rel:
        words += _tgt_rel(np.rel, np, rng)
    return words


def _tgt_verb(verb: Verb, person: str, tense: str, obj: NP | None, rng: random.Random) -> list[str]:
    if verb.animate_stem and obj is not None and obj.noun.animate:
        stem = verb.animate_stem
    else:
        stem = _pick_stem(verb.stems, rng)
    if tense == "present":
        return [stem + _PRESENT_ENDINGS[verb.conj][person]]
    # Irregular verbs have a single stem, so the irregular participle always applies.
    return [_AUXILIARY[person], verb.participle or stem + _PARTICIPLE_ENDINGS[verb.conj]]


def _tgt_rel(rel: Rel, head: NP, rng: random.Random) -> list[str]:
    """Relative clauses are verb-final: 'care OBJ V' / 'pe care SUBJ V'."""
    if rel.object_gap:
        return (["pe", "care"] + _tgt_np(rel.other, rng)
                + _tgt_verb(rel.verb, _person(rel.other), rel.tense, head, rng))
    words = ["care"] + (_tgt_np(rel.other, rng) if rel.other else [])
    words += [_pick_stem(rel.adv.stems, rng)] if rel.adv else []
    return words + _tgt_verb(rel.verb, _person(head), rel.tense, rel.other, rng)


def _tgt_pp(prep: str, np: NP, rng: random.Random) -> list[str]:
    if prep == "in" and np.det == "a":  # irregular contraction "în un" -> "într-un"
        return ["într-" + _INDEFINITE[np.noun.gender]] + _tgt_np(np, rng)[1:]
    return [_PREPOSITIONS[prep]] + _tgt_np(np, rng, after_prep=True)


def _tgt_clause(clause: Clause, rng: random.Random) -> list[str]:
    """Main clauses are SVO with the adverb after the verb, or fronted."""
    if isinstance(clause.subj, str):
        subj = [] if _chance(rng, PRO_DROP_P) else [_PRONOUNS[clause.subj][0]]
    else:
        subj = _tgt_np(clause.subj, rng)
    verb = _tgt_verb(clause.verb, _person(clause.subj), clause.tense, clause.obj, rng)
    rest = _tgt_np(clause.obj, rng) if clause.obj else []
    rest += _tgt_pp(*clause.pp, rng) if clause.pp else []
    if not clause.adv:
        return subj + verb + rest
    adv = [_pick_stem(clause.adv.stems, rng)]
    return adv + subj + verb + rest if _chance(rng, ADVERB_FRONT_P) else subj + verb + adv + rest


def realise_target(sentence: Sentence, rng: random.Random) -> list[str]:
    """Target tokens; different rng states give different valid translations."""
    words = ["oare"] if sentence.question and _chance(rng, QUESTION_PARTICLE_P) else []
    words += _tgt_clause(sentence.clauses[0], rng)
    for conj, clause in zip(sentence.conjs, sentence.clauses[1:]):
        words += ([",", "dar"] if conj == "but" else ["și"]) + _tgt_clause(clause, rng)
    return words + ["?" if sentence.question else "."]


def _detokenise(tokens: list[str]) -> str:
    text = " ".join(tokens).replace(" ,", ",").replace(" .", ".").replace(" ?", "?")
    return text[0].upper() + text[1:]


def sample_pair(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    """A (source, target) line pair whose source has MIN_WORDS..MAX_WORDS words."""
    while True:
        sentence = sample_sentence(lex, rng)
        src = realise_source(sentence)
        n_words = len(src) - 1 - src.count(",")
        if MIN_WORDS <= n_words <= MAX_WORDS:
            return _detokenise(src), _detokenise(realise_target(sentence, rng))


# --- corpus files --------------------------------------------------------------------------
def generate_toy_corpus(out_dir: pathlib.Path, seed: int, sizes: dict[str, int]) -> dict[str, int]:
    """Write {split}.src and {split}.tgt (one sentence per line, UTF-8, '\\n' line endings) for
    each split in sizes (keys like 'train','valid','test') into out_dir; return the line count
    per split.

    Each split has its own RNG stream, and held-out splits are generated before 'train', so
    valid/test do not change with the train size.  No source sentence occurs twice in the
    whole corpus, so valid/test sources never appear in train.
    """
    for split, size in sizes.items():
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise ValueError(
                f"toy corpus size for split {split!r} must be a positive integer, got {size!r}")
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lex = build_lexicon(seed)
    seen: set[str] = set()
    counts: dict[str, int] = {}
    for split in sorted(sizes, key=lambda s: (s == "train", s)):
        rng = random.Random(f"toy:{seed}:{split}")
        src_lines: list[str] = []
        tgt_lines: list[str] = []
        while len(src_lines) < sizes[split]:
            src, tgt = sample_pair(lex, rng)
            if src not in seen:
                seen.add(src)
                src_lines.append(src)
                tgt_lines.append(tgt)
        write_lines(out_dir / f"{split}.src", src_lines)
        write_lines(out_dir / f"{split}.tgt", tgt_lines)
        counts[split] = len(src_lines)
    return {split: counts[split] for split in sizes}


def generate_toy_mono(out: pathlib.Path, seed: int, size: int) -> int:
    """Write ``size`` source sentences of the toy language (``data.toy.mono``: monolingual text
    for the KD data), from a stream of their own: some repeat training or test sources, which
    the monolingual preparation drops (wd.data.mono). Returns the line count."""
    lex, rng = build_lexicon(seed), random.Random(f"toy:{seed}:mono")
    return write_lines(out, (sample_pair(lex, rng)[0] for _ in range(size)))
