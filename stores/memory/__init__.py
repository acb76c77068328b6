"""The memory store: a LangGraph BaseStore over an HNSW index, and its embeddings."""
