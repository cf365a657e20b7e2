"""Recordings (design §8.6): an mp4 that decodes to the frames written, and the raw frames as npz."""

import imageio.v2 as imageio
import numpy as np

from m3.play.recorder import Recorder


def shown_frame(i: int) -> np.ndarray:
    """An odd-sized (99, 131) frame whose left part brightens with i."""
    frame = np.zeros((99, 131, 3), np.uint8)
    frame[:, : 10 + 10 * i] = (40 + 20 * i, 200, 90)
    return frame


def test_recording_decodes_to_the_frames_written(tmp_path):
    recorder = Recorder(tmp_path / "recordings", fps=15, action_dims=0)
    mp4 = recorder.start()
    assert recorder.active and mp4.parent == tmp_path / "recordings" and mp4.suffix == ".mp4"
    for i in range(7):
        raw = np.full((6, 4, 3), i, np.uint8)
        recorder.add(shown_frame(i), raw, None if i == 0 else i % 3, float(i), float(i * (i + 1) / 2))
    mp4_path, npz_path = recorder.stop()
    assert not recorder.active and mp4_path == mp4
    reader = imageio.get_reader(mp4_path, format="FFMPEG")
    frames = [f for f in reader]
    reader.close()
    assert len(frames) == 7
    assert frames[0].shape == (100, 132, 3)  # padded to even sides
    for i in (0, 6):  # lossy, but each frame's bright band ends where it was drawn
        columns = frames[i][50, :, 1] > 100
        assert abs(int(columns.sum()) - (10 + 10 * i)) <= 2
    data = np.load(npz_path)
    assert data["frames"].shape == (7, 6, 4, 3) and data["frames"][5].max() == 5
    assert np.isnan(data["actions"][0]) and data["actions"][1:].tolist() == [1, 2, 0, 1, 2, 0]
    np.testing.assert_array_equal(data["rewards"], np.arange(7, dtype=np.float32))


def test_two_recordings_in_one_second_get_two_files(tmp_path):
    recorder = Recorder(tmp_path, fps=30, action_dims=2)
    paths = []
    for _ in range(2):
        recorder.start()
        recorder.add(shown_frame(1), shown_frame(1), np.array([0.5, -1.0]), 0.0, 0.0)
        paths.append(recorder.stop())
    assert paths[0][0] != paths[1][0] and all(p.exists() for pair in paths for p in pair)
    assert np.load(paths[1][1])["actions"].shape == (1, 2)
