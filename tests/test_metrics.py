"""The metrics file: records appended per epoch, non-finite values as null, the learning curve read back (§7.4)."""

import math

from m3.metrics import MetricsLogger, learning_curve, read_metrics


def test_learning_curve_sums_epoch_durations_and_keeps_the_periodic_evaluations(tmp_path):
    logger = MetricsLogger(tmp_path)
    logger.log({"train_dataset/#steps": 200, "duration": 1.5}, epoch=1)
    logger.log({"train_dataset/#steps": 400, "duration": 2.0, "test_dataset/return": 12.0}, epoch=2)
    logger.log({"train_dataset/#steps": 600, "duration": 2.5, "world_model/train/total_loss": math.nan}, epoch=3)
    logger.log({"train_dataset/#steps": 800, "duration": 3.0, "test_dataset/return": 30.5}, epoch=4)
    logger.log({"final/return": 31.0}, epoch=4)
    assert read_metrics(tmp_path)[2]["world_model/train/total_loss"] is None
    assert learning_curve(tmp_path) == {"epochs": [2, 4], "env_steps": [400, 800], "wall_s": [3.5, 9.0],
                                        "returns": [12.0, 30.5]}
    assert learning_curve(tmp_path / "missing") == {"epochs": [], "env_steps": [], "wall_s": [], "returns": []}
