"""Video: ``stylize_video`` and ``gramstyle video`` (PyAV and OpenCV imported lazily)."""
