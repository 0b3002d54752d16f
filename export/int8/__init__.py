"""INT8: static QDQ quantization calibrated on real frames, and the search for the float layers an
agreement target needs.

``calibration`` quantizes (one table of calibration methods, the QDQ fix-ups), ``graph_facts`` reads
what the search needs from a graph (layer names, multiply-adds, roles, activations through
``Probe``), ``equalize`` rescales activation channels, ``search`` is the greedy float fallback, and
``stage`` is the export's INT8 step that ties them together.
"""
