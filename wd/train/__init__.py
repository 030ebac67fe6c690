"""Training: the one trainer (teacher, students, both WD phases) and what it stands on: the
losses, checkpoints, the training log, validation by translation, early stopping and stop
signals, torchrun workers, and the allocator setting that keeps steps fast."""
