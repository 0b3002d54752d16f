"""``unet-edge label``: a fleet's recordings labelled on Ray Data (the ``fleet`` extra).

The parts that need no engine (listing sources, markers and resume, summary rows, progress) import no Ray;
``label.py`` builds the pipeline, ``decode.py``, ``actors.py`` and ``write.py`` are its stages.
"""
