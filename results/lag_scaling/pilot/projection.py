# projection of summed run time for a candidate grid
import itertools
s_per_step = lambda T: 0.0325 + 0.000296 * T      # LSTM H32 B32, loaded (ref T100 16.1/s, lstm T200 10.9/s)
mult = {"lstm_fb1": 0.95, "lstm": 1.0, "cifg": 1.1, "gru": 0.88, "mingru": 0.74, "slstm": 2.1,
        "lstm_chrono": 1.0, "rnn": 0.5, "irnn": 0.5}
hmult = {32: 1.0, 64: 2.4}
startup = 44.0   # loaded
def run_s(cell, T, H, steps, corr=1.0):
    return (startup + steps * s_per_step(T) * mult[cell] * hmult[H]) / corr
def project(rows, max_steps, frac_tune=0.6, frac_eval=0.45, nt=10, ne=10, corr=1.0):
    tot = 0
    for cell, H, lags, ft, fe in rows:
        for T in lags:
            tot += nt * run_s(cell, T, H, (ft or frac_tune) * max_steps, corr) + ne * run_s(cell, T, H, (fe or frac_eval) * max_steps, corr)
    return tot / 3600
import sys
