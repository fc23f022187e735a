"""Training: each module is a `rag train-*` command that reproduces a file shipped in
`rag/generate/` (the selector, the reader, the verifier's thresholds) with its model card."""
