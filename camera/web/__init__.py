"""The web app and REST API: pages for a household, ``/api/v1`` for scripts and Home Assistant.

Served from the daemon's process (``facecam run --web``), in its own thread
and event loop, or without cameras by ``facecam web``. Everything that reads
faces or changes anything needs an account (``facecam user add``) or an API
token (``facecam token create``); see ``docs/web.md``.
"""
