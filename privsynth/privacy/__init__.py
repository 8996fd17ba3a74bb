"""Privacy layer: the noise and dp modes, the accountant, the ledger and the planner.

- ``noise``: embedding noise for mode ``noise`` (no formal guarantee).
- ``pe``: mode ``dp``, SMOTExT inside Private Evolution; formal (epsilon, delta)-DP.
- ``planner``: noise multipliers that meet a budget, checked before any data is read.
- ``ledger``: the JSON record of every Gaussian event; ``recompute_epsilon`` for verify.
- ``accountant``: opacus PRV / RDP and dp-accounting PLD behind one registry.
- ``rng``: the CSPRNG every DP noise draw comes from.
"""
