"""The play tool (design §8.6): watch the agent, play in its world model, replay stored episodes.

Run `python -m m3.play <benchmark> -p <weights file or run folder>`; see `__main__` and docs/play.md.
Modules: `modes` (the four modes), `dream` (the world model as an environment), `panels` (pictures),
`craftax_tiles` (Craftax maps from tokens), `keys` (key maps), `view` (the pygame window),
`recorder` (mp4 + npz).
"""
