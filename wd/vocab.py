"""Ids of the special tokens, fixed in every sentencepiece model the pipeline trains
(wd.data.bpe) and assumed by the model, the batching and the exporters."""

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
