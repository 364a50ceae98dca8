"""The discrete-event engine (SimPy): platforms, their controllers and the recording.

:func:`capsim.engine.run.simulate` runs a scenario and returns a
:class:`~capsim.engine.recording.Recording`; :func:`capsim.run` makes it a run result.
Importing this package imports nothing: import the module you need.
"""
