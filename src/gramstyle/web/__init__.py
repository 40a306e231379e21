"""``gramstyle serve``: a web page and an HTTP API over a queue of worker processes.

Needs the ``web`` extra (FastAPI, uvicorn, python-multipart); nothing here is imported by
``import gramstyle``. Layers, each a small module:

- :mod:`.config`   what a server accepts (limits, JSON within limits) and which settings
  a client may choose;
- :mod:`.store`    jobs on disk: random ids, ``job.json`` written atomically, recovery;
- :mod:`.worker`   the worker process: loads the network once, runs jobs, writes images;
- :mod:`.pool`     the worker processes, kept at their number, restarted with backoff;
- :mod:`.ledger`   each job's state, changed in memory first and written second;
- :mod:`.events`   who watches which job (server-sent events);
- :mod:`.health`   what ``/api/health`` knows of the jobs folder's disk;
- :mod:`.manager`  the FIFO queue, supervision, cancel;
- :mod:`.hosts`, :mod:`.guard`  a strict Host parser; Host/Origin checks, the 500 handler;
- :mod:`.uploads`  an upload form read within limits and made a job;
- :mod:`.app`      the FastAPI app: REST API, server-sent events, the page (``static/``);
- :mod:`.samples`  built-in sample images (none shipped: drawn or taken from matplotlib);
- :mod:`.serve`    the ``gramstyle serve`` command.
"""
