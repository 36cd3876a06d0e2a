"""vidmem: stream video into multi-scale memory (episodic, semantic, visual, text) and ask it questions.

Library entry points::

    from vidmem.ingest import IngestConfig, index_video
    from vidmem.agent.agent import ask, RetrievalAgent
    from vidmem.storage.store import MemoryStore
"""

__version__ = "0.1.0"
