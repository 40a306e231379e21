"""``gramstyle serve``: a web page and an HTTP API over a queue of worker processes.

Needs the ``web`` extra (FastAPI, uvicorn, python-multipart); nothing here is imported by
``import gramstyle``. Layers, each a small module:

- :mod:`.config`   what a server accepts (limits) and which settings a client may choose;
- :mod:`.store`    jobs on disk: random ids, ``job.json`` written atomically, recovery;
- :mod:`.worker`   the worker process: loads the network once, runs jobs, writes images;
- :mod:`.manager`  the FIFO queue, the worker processes, cancel, progress fan-out;
- :mod:`.app`      the FastAPI app: REST API, server-sent events, the page (``static/``);
- :mod:`.samples`  built-in sample images (none shipped: drawn or taken from matplotlib);
- :mod:`.serve`    the ``gramstyle serve`` command.
"""
