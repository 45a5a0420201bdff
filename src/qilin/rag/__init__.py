"""Qilin-Med-RAG retrieval: index medical texts (BM25 or dense), search them, put the hits before a question.

Build and load: qilin.rag.index; the prompt: qilin.rag.prompt.
"""
