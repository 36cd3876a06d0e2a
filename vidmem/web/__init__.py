"""The web app (JSON API + page) behind ``vidmem serve`` and ``vidmem webcam``.

It calls the agent and the ingest pipeline; neither knows it exists. FastAPI and uvicorn are
imported by ``vidmem.web.app`` only, so importing this package stays light.
"""
