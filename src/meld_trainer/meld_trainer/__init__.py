"""MELD meta-training: SAC, per-task replay, meta-train and meta-test loops; the trainer node."""
