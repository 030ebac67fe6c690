"""Draw BLEU against speed-up, the training curves and the speed-quality frontier."""
import pandas as pd

from wd.evaluate.plots import bleu_vs_speed, speed_quality, training_curves
from wd.workflow import step

with step(snakemake):
    table = pd.read_csv(snakemake.input.table)
    bleu_vs_speed(table, snakemake.output.speed)
    speed_quality(table, snakemake.output.frontier)
    training_curves(snakemake.params.curves, snakemake.output.curves)
