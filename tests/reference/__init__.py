"""Independent references for capsim's request-level service model (issue 15, item 2).

* :mod:`reference.queues` — closed forms and exact numerical solutions (NumPy, SciPy,
  ``fractions``, ``decimal``), each with its formula and its source in the docstring, plus
  :func:`reference.queues.reference_values`, the named cases of the accuracy table.
* :mod:`reference.ciw_models` — discrete-event simulations with ciw 3.x, summarised over
  independent replications with a 95 % confidence interval.

Nothing here imports capsim: these are what capsim is tested against, never the reverse.
"""
