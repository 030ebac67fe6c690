"""Training: the one trainer (teacher, students, both WD phases: trainer.py) and what it stands
on: the losses by name (losses.py) and their tensor code (loss.py), a run's state and checkpoint
store (state.py, checkpoint.py), the training log, validation by translation, early stopping and
stop signals, torchrun workers, the device's precision (device.py), the random generators a
checkpoint restores (rng.py), and the allocator setting that keeps steps fast (memory.py)."""
