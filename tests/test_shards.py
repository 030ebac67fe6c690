"""KD decoding in shards: split, decode each shard alone, re-join; identical to one job. A
shard's decoding stopped by SIGTERM keeps its finished batches and resumes to the same output."""
import dataclasses
import json
import logging
import signal
import subprocess
import sys

import pytest
import torch

from waiting import pause_env, wait_until
from wd.data.shards import ShardError, join_files, shard_bounds, split_file
from wd.decode import ct2, engines
from wd.decode.ct2 import Ct2Translator
from wd.decode.engines import EngineMismatch
from wd.decode.journal import Journal
from wd.decode.translate import in_order, partial_path, translate_file
from wd.runtime import file_digest
from wd.settings import EngineSettings, SearchSettings
from wd.stopping import EXIT_STOPPED


@pytest.mark.parametrize(("lines", "shards", "sizes"), [
    (10, 3, [4, 3, 3]), (9, 3, [3, 3, 3]), (2, 4, [1, 1, 0, 0]), (0, 2, [0, 0]), (5, 1, [5]),
])
def test_bounds_are_contiguous_and_balanced(lines, shards, sizes):
    bounds = shard_bounds(lines, shards)
    assert [end - start for start, end in bounds] == sizes
    assert bounds[0][0] == 0 and bounds[-1][1] == lines
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))


def test_zero_shards_is_an_error():
    with pytest.raises(ValueError, match="at least 1"):
        shard_bounds(5, 0)


def test_sharded_decoding_equals_one_job(toy_teacher, tmp_path):
    model, bpe, source = toy_teacher.path, toy_teacher.bpe, toy_teacher.source
    search = SearchSettings(beam=3, batch_size=8)
    cpu = torch.device("cpu")
    translate_file(model, bpe, source, tmp_path / "whole.tgt", search, cpu)

    shards = [tmp_path / f"train.{i}.src" for i in range(3)]
    assert split_file(source, shards, tmp_path / "counts.json") == [24, 23, 23]
    outputs = [tmp_path / f"train.{i}.tgt" for i in range(3)]
    for src, out in zip(shards, outputs):  # each shard on its own, as separate jobs do it
        translate_file(model, bpe, src, out, search, cpu)
    assert join_files(outputs, tmp_path / "counts.json", tmp_path / "joined.tgt") == 70

    whole = (tmp_path / "whole.tgt").read_text()
    assert (tmp_path / "joined.tgt").read_text() == whole
    assert len(set(whole.splitlines())) > 10  # real, varied translations
    record = json.loads((tmp_path / "counts.json").read_text())
    assert record["lines"] == 70 and [s["lines"] for s in record["shards"]] == [24, 23, 23]


def test_join_names_the_shard_with_a_wrong_line_count(tmp_path):
    source = tmp_path / "train.src"
    source.write_text("".join(f"s{i}\n" for i in range(7)))
    shards = [tmp_path / f"train.{i}.src" for i in range(3)]
    split_file(source, shards, tmp_path / "counts.json")
    outputs = [tmp_path / f"train.{i}.tgt" for i in range(3)]
    for src, out in zip(shards, outputs):
        out.write_text(src.read_text().replace("s", "t"))
    outputs[1].write_text("t3\n")  # one line lost
    with pytest.raises(ShardError, match=r"shard 1 \(.*train\.1\.tgt\) has 1 lines, its source "
                                         r"shard train\.1\.src had 2"):
        join_files(outputs, tmp_path / "counts.json", tmp_path / "joined.tgt")
    assert not (tmp_path / "joined.tgt").exists()
    with pytest.raises(ShardError, match="records 3 shards, got 2 outputs"):
        join_files(outputs[:2], tmp_path / "counts.json", tmp_path / "joined.tgt")


# A decoding process (python -c CHILD model bpe src out threads engine), as kd_translate runs it.
CHILD = ("import sys, torch; from wd.settings import EngineSettings, SearchSettings; "
         "from wd.decode.translate import translate_file; torch.set_num_threads(int(sys.argv[5])); "
         "translate_file(*sys.argv[1:5], SearchSettings(beam=3, batch_size=8), "
         "torch.device('cpu'), EngineSettings(sys.argv[6], min_identical=0.0))")


@pytest.mark.process
@pytest.mark.parametrize("engine", ["ours", "ctranslate2"])
def test_decoding_stopped_by_sigterm_keeps_its_batches_and_resumes_to_the_same_output(
        toy_teacher, tmp_path, caplog, engine):
    model, bpe, source = toy_teacher.path, toy_teacher.bpe, toy_teacher.source
    search, cpu = SearchSettings(beam=3, batch_size=8), torch.device("cpu")
    settings = EngineSettings(engine, min_identical=0.0)  # this tiny model: 94% (the next test)
    translate_file(model, bpe, source, tmp_path / "whole.tgt", search, cpu, settings)

    out, marker = tmp_path / "stopped.tgt", tmp_path / "paused"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(model), str(bpe), str(source), str(out),
         str(torch.get_num_threads()), engine], stderr=subprocess.PIPE, text=True,
        env=pause_env("decode.batch out=*/stopped.tgt done=16", marker))  # after two batches
    wait_until(marker.exists, proc, "two batches decoded")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate()
    assert proc.returncode == EXIT_STOPPED, err[-3000:]
    partial = partial_path(out)
    assert (f"stopped by SIGTERM: 16 of 70 sentences of {source} translated, kept in {partial}"
            in err)
    assert not out.exists() and len(partial.read_text().splitlines()) == 1 + 16

    with caplog.at_level(logging.INFO, logger="wd.decode.translate"):
        assert translate_file(model, bpe, source, out, search, cpu, settings) == 70
    assert f"resuming from {partial}: 16 of 70 sentences translated" in caplog.text
    assert f"decoding with {engine}" in caplog.text
    assert out.read_text() == (tmp_path / "whole.tgt").read_text() and not partial.exists()


def test_ctranslate2_kd_data_is_checked_against_ours_and_recorded(toy_teacher, tmp_path):
    model, bpe, source = toy_teacher.path, toy_teacher.bpe, toy_teacher.source
    search, cpu = SearchSettings(beam=3, batch_size=8), torch.device("cpu")
    translate_file(model, bpe, source, tmp_path / "ours.tgt", search, cpu)
    record = tmp_path / "engine.json"
    # Every sentence checked (the check's batches are then the run's); this barely trained model
    # runs many outputs to the length limit, where the engines may part.
    translate_file(model, bpe, source, tmp_path / "ct2.tgt", search, cpu,
                   EngineSettings("ctranslate2", check_sentences=100, min_identical=0.9), record)
    ours = (tmp_path / "ours.tgt").read_text().splitlines()
    theirs = (tmp_path / "ct2.tgt").read_text().splitlines()
    same = sum(a == b for a, b in zip(ours, theirs, strict=True)) / len(ours)
    assert json.loads(record.read_text()) == {"engine": "ctranslate2", "checked": 70,
                                              "identical": round(same, 4)}
    assert same >= 0.9  # the same search in another engine


def test_a_ctranslate2_model_that_translates_otherwise_stops_the_job(toy_teacher, tmp_path,
                                                                     monkeypatch):
    model, bpe, source = toy_teacher.path, toy_teacher.bpe, toy_teacher.source
    real = Ct2Translator.translate_batches

    def reversed_outputs(self, *args, **kwargs):  # a broken conversion: every output reversed
        for idx, hyps in real(self, *args, **kwargs):
            yield idx, [hyp[::-1] if len(hyp) > 1 else hyp + hyp + [5] for hyp in hyps]

    monkeypatch.setattr(Ct2Translator, "translate_batches", reversed_outputs)
    out = tmp_path / "ct2.tgt"
    with pytest.raises(EngineMismatch, match=r"equal our decoder's on \d+\.\d% of 70 checked "
                                             r"sentences, below kd.min_identical = 0.95"):
        translate_file(model, bpe, source, out, SearchSettings(beam=3, batch_size=8),
                       torch.device("cpu"), EngineSettings("ctranslate2", check_sentences=100),
                       tmp_path / "engine.json")
    assert not out.exists() and not (tmp_path / "engine.json").exists()
    assert len(partial_path(out).read_text().splitlines()) == 1 + 70  # nothing decoded is lost


def test_engine_auto_and_a_missing_ctranslate2(monkeypatch):
    cpu = torch.device("cpu")
    assert engines.resolve("auto", cpu) == "ctranslate2" and engines.resolve("ours", cpu) == "ours"
    monkeypatch.setattr(ct2, "usable", lambda device: False)
    assert engines.resolve("auto", cpu) == "ours"
    with pytest.raises(ImportError, match="config key kd.engine is ctranslate2 but CTranslate2 "
                                          "cannot run on cpu"):
        engines.resolve("ctranslate2", cpu)


IDENTITY = {"model": "m1", "source": "s1"}


def test_journal_keeps_whole_lines_and_cuts_a_torn_one(tmp_path):
    path = tmp_path / "out.partial"
    Journal(path, IDENTITY).append([(3, "c ▁d"), (0, "a")])
    with open(path, "a") as handle:
        handle.write('[1, "half a li')  # killed during a write
    journal = Journal(path, IDENTITY)
    assert journal.load() == {3: "c ▁d", 0: "a"}
    journal.append([(1, "b")])
    assert Journal(path, IDENTITY).load() == {3: "c ▁d", 0: "a", 1: "b"}


def test_journal_of_another_job_is_discarded(tmp_path):
    path = tmp_path / "out.partial"
    Journal(path, IDENTITY).append([(0, "a")])
    assert Journal(path, {**IDENTITY, "model": "m2"}).load() == {} and not path.exists()
    path.write_text("not json\n")
    assert Journal(path, IDENTITY).load() == {} and not path.exists()


def test_a_shard_streams_in_chunks_and_resumes_inside_one(toy_teacher, tmp_path, caplog):
    """Decoded 20 sentences at a time, the shard gives one job's output; a journal holding the
    first chunk and part of the second (as a kill leaves it) is taken up where it stopped."""
    model, bpe, source = toy_teacher.path, toy_teacher.bpe, toy_teacher.source
    search, cpu = SearchSettings(beam=3, batch_size=8), torch.device("cpu")
    translate_file(model, bpe, source, tmp_path / "whole.tgt", search, cpu)
    whole = (tmp_path / "whole.tgt").read_text().splitlines()
    assert translate_file(model, bpe, source, tmp_path / "chunked.tgt", search, cpu,
                          chunk=20) == 70
    assert (tmp_path / "chunked.tgt").read_text().splitlines() == whole

    out = tmp_path / "resumed.tgt"
    identity = {"model": file_digest(model), "source": file_digest(source),
                "search": dataclasses.asdict(search)}
    done = [*range(20), 31, 25, 27]  # chunk 0, then three sentences of chunk 1
    Journal(partial_path(out), identity).append((i, whole[i]) for i in done)
    with caplog.at_level(logging.INFO, logger="wd.decode.translate"):
        translate_file(model, bpe, source, out, search, cpu, chunk=20)
    assert f"resuming from {partial_path(out)}: 23 of 70 sentences translated" in caplog.text
    assert out.read_text().splitlines() == whole and not partial_path(out).exists()


def test_in_order_gives_each_text_once_those_before_it_are_in(tmp_path):
    entries = [(1, "b"), (0, "a"), (3, "d"), (2, "c")]
    assert list(in_order(entries, 4, tmp_path)) == ["a", "b", "c", "d"]
    with pytest.raises(RuntimeError, match="sentence 2 of 4 was never translated"):
        list(in_order(entries[:3], 4, tmp_path))
