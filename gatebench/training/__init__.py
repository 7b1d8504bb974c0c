"""Room: training. The model and what happens at each step, independent of disk and Hydra.

`model` (the LightningModule: encoder -> recurrent layer -> readout -> loss), `optim` (optimizers
and the schedule), `callbacks` (solved, best/final metrics, steps/sec), `plateau` (the plateau
stopping rule). The lowest room of the runner: imports `variants`, `tasks` and torch only.
"""
