"""Draw BLEU against speed-up and the training curves."""
import pandas as pd

from wd.evaluate.plots import bleu_vs_speed, training_curves
from wd.workflow import step

with step(snakemake):
    bleu_vs_speed(pd.read_csv(snakemake.input.table), snakemake.output.speed)
    training_curves(snakemake.params.curves, snakemake.output.curves)
